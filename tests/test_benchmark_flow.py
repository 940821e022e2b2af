"""The nightly benchmark flow on a tiny suite: known impacts, catalog rows, a real score."""

from __future__ import annotations

import shutil

import pyarrow.dataset as ds
import pytest

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not on PATH")


def test_benchmark_flow_scores_known_impacts_and_appends_catalog_rows(isolated_settings, tmp_path):
    from data_catalog.examples import make_bouncing_ball_video
    from flows.benchmark_flow import BENCHMARKS_TABLE, benchmark

    videos = tmp_path / "videos"
    make_bouncing_ball_video(videos / "with-audio.mp4", duration_s=2.0, size=(160, 120), with_audio=True)
    (videos / "broken.mp4").write_bytes(b"not a video")
    summary = benchmark(n_clips=1, clip_seconds=3.0, clip_size=[160, 120], envelope_engine="preview",
                        videos_dir=str(videos))
    assert summary["n_items"] == 2  # the broken file is skipped with a warning, the suite goes on
    ball = summary["items"][0]
    assert ball["suite"] == "bouncing-ball" and ball["duration_s"] == 3.0 and ball["wall_s"] > 0
    # The preview envelope finds the ball's impacts (measured 0.92 on these clips).
    assert summary["bouncing-ball"]["mean_onset_f1"] >= 0.6, summary
    assert summary["items"][1]["suite"] == "videos_dir"
    table = ds.dataset(str(isolated_settings / "catalog" / BENCHMARKS_TABLE), format="parquet").to_table()
    assert table.num_rows == 2 and set(table.column("suite").to_pylist()) == {"bouncing-ball", "videos_dir"}
