"""``sonorize run`` without a Prefect server: the same batch as plain functions, no Prefect API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from data_catalog.examples import make_bouncing_ball_video
from media_factory import audio_only, pattern_clip

pytestmark = pytest.mark.needs_ffmpeg

UNREACHABLE_API = "http://127.0.0.1:9/api"  # the discard port: any Prefect API call would fail
REPO = Path(__file__).resolve().parents[1]


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


NO_PREFECT_SCRIPT = """
import sys
from flows.cli import app
try:
    app(["run", sys.argv[1], "--out", sys.argv[2]])
except SystemExit as stop:
    assert not stop.code, stop.code
print("loaded:", [name for name in ("prefect", "pandas") if name in sys.modules])
"""


def test_plain_run_imports_neither_prefect_nor_pandas(tmp_path):
    """``sonorize run`` without a Prefect server pays no Prefect import (seconds, pandas with it: issue 19)."""
    video = pattern_clip(tmp_path / "clip.mp4", seconds=1.0, audio=True)
    env = {key: value for key, value in os.environ.items() if key.upper() != "PREFECT_API_URL"}
    env.update(SONORIZE_CACHE_DIR=str(tmp_path / "cache"), SONORIZE_CATALOG_DIR=str(tmp_path / "catalog"),
               PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", NO_PREFECT_SCRIPT, str(video), str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "out" / "clip" / "clip.foley.wav").is_file()  # the batch ran, default engines
    assert "loaded: []" in proc.stdout, proc.stdout[-500:]


def test_the_deployments_entrypoint_is_the_prefect_flow(monkeypatch):
    """The lazily declared flow is what Prefect loads and deploys, as with ``@flow``."""
    from prefect import Flow
    from prefect.deployments.runner import EntrypointType
    from prefect.flows import load_flow_from_entrypoint

    import flows.sonorize_flow as module

    monkeypatch.chdir(REPO)
    flow = load_flow_from_entrypoint("flows.sonorize_flow.sonorize_batch")  # prefect.yaml's entrypoint
    assert isinstance(flow, Flow) and flow.name == "sonorize" and flow is module.sonorize_batch
    assert flow.fn is module.BATCH_FLOW.fn and "paths" in flow.parameters.properties
    assert isinstance(load_flow_from_entrypoint("flows/sonorize_flow.py:sonorize_batch"), Flow)
    assert flow.to_deployment("t").entrypoint == "flows/sonorize_flow.py:sonorize_batch"
    assert (flow.to_deployment("t", entrypoint_type=EntrypointType.MODULE_PATH).entrypoint
            == "flows.sonorize_flow.sonorize_batch")
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        module.nothing


def test_api_url_looked_up_without_prefect_when_no_setting_can_name_one(tmp_path, monkeypatch):
    from flows.prefect_api import _settings_files_may_name_api, api_url_configured

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    for name in ("PREFECT_API_URL", "PREFECT_PROFILE", "PREFECT_PROFILES_PATH"):
        monkeypatch.delenv(name, raising=False)
    assert not _settings_files_may_name_api() and not api_url_configured()
    monkeypatch.setenv("PREFECT_API_URL", UNREACHABLE_API)
    assert api_url_configured()  # the environment answers at once
    monkeypatch.delenv("PREFECT_API_URL")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "profiles.toml").write_text('active = "s"\n[profiles.s]\nPREFECT_API_URL = "http://h/api"\n')
    assert _settings_files_may_name_api()  # a profile may name a server: Prefect's settings decide
    (tmp_path / "home" / "profiles.toml").unlink()
    (tmp_path / "pyproject.toml").write_text('[tool.prefect.api]\nurl = "http://h/api"\n')
    assert _settings_files_may_name_api()


def test_catalog_rows_read_as_from_pylist_would():
    """``rows_table`` (no pandas import) gives what ``pa.Table.from_pylist`` gave, nulls, NaN and numpy scalars too."""
    from datetime import datetime, timezone

    import numpy as np
    import pyarrow as pa

    from data_catalog.run_records import VIDEO_RUNS_SCHEMA, rows_table

    started = datetime(2026, 12, 2, 5, 10, 55, 276732, tzinfo=timezone.utc)
    rows = [{"run_id": "a", "started_at": started, "video_path": "/in/é.mp4", "duration_s": np.float32(1.5),
             "wall_s": float("nan"), "error": None, "status": "ok", "not_a_column": 1},
            {"run_id": "b", "started_at": started, "duration_s": 2, "wall_s": 3.25, "status": "failed"}]
    table, expected = rows_table(rows, VIDEO_RUNS_SCHEMA), pa.Table.from_pylist(rows, schema=VIDEO_RUNS_SCHEMA)
    assert table.schema == VIDEO_RUNS_SCHEMA
    assert str(table.to_pylist()) == str(expected.to_pylist())  # str: NaN != NaN
    assert rows_table([], VIDEO_RUNS_SCHEMA).num_rows == 0
    with pytest.raises(TypeError, match="object"):
        rows_table([{"run_id": object()}], VIDEO_RUNS_SCHEMA)
