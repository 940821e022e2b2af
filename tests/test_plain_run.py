"""``sonorize run`` without a Prefect server: the same batch as plain functions, no Prefect API."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from data_catalog.examples import make_bouncing_ball_video
from media_factory import audio_only

pytestmark = pytest.mark.needs_ffmpeg

UNREACHABLE_API = "http://127.0.0.1:9/api"  # the discard port: any Prefect API call would fail


def test_batch_runs_without_any_prefect_api(tmp_path, isolated_settings):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.sonorize_flow import sonorize

    videos = tmp_path / "videos"
    videos.mkdir()
    make_bouncing_ball_video(videos / "ball.mp4", duration_s=2.0, with_audio=True)
    audio_only(videos / "voice.mp4")
    with temporary_settings({PREFECT_API_URL: UNREACHABLE_API}):  # a task or flow run would need it
        run = sonorize(paths=[str(videos)], out_dir=str(tmp_path / "out"), envelope_engine="preview",
                       prefect=False)
    records = {Path(v["video_path"]).name: v for v in run["videos"]}
    assert run["n_ok"] == 1 and run["n_failed"] == 1
    assert run["run_id_source"] == "local"  # no Prefect run to join to: a fresh uuid, said so
    assert records["ball.mp4"]["status"] == "ok"
    assert all(Path(p).is_file() for p in records["ball.mp4"]["outputs"].values())
    assert "voice.mp4" in records["voice.mp4"]["error"]  # one line naming the file
    assert set(records["ball.mp4"]["timings"]) >= {"envelope", "synthesis", "mux"}
    assert json.loads(Path(run["record_path"]).read_text())["n_videos"] == 2  # the batch record
    table = ds.dataset(isolated_settings / "catalog" / "video_runs", format="parquet").to_table()
    assert table.num_rows == 2  # the catalog rows too
