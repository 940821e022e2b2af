"""The `sonorize/batch` deployment end to end: a real Prefect server, `prefect deploy` of the
repo's prefect.yaml (the session's shared server, tests/conftest.py), `prefect deployment run`, and
a process worker (`--run-once`).

Everything runs on loopback in temporary folders; every wait is bounded and every process this
test starts (server, worker, the worker's flow-run process) is killed at the end.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from uuid import UUID

import pytest

from live_servers import PREFECT, kill_tree, tail

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not on PATH"),
]

POOL = "sonorize-cpu"
WORKER_TIMEOUT_S = 180
OUTPUT_SUFFIXES = (".foley.wav", ".foley.mp4", ".envelope.csv", ".envelope.json", ".envelope.png",
                   ".labels.txt", ".record.json")


def test_batch_deployment_runs_on_a_process_worker(shared_prefect_server, tmp_path):
    from data_catalog.examples import make_bouncing_ball_video

    prefect_server = shared_prefect_server  # the pools made and `batch` deployed (conftest.py)
    t0 = time.monotonic()
    videos, out_dir = tmp_path / "videos", tmp_path / "out"
    videos.mkdir()
    make_bouncing_ball_video(videos / "ball_a.mp4", duration_s=1.5, size=(160, 120))
    (videos / "bad.mp4").write_text("this is not a video\n")

    run_out = prefect_server.cli("deployment", "run", "sonorize/batch",
                                 "-p", f"paths={json.dumps([str(videos)])}", "-p", f"out_dir={out_dir}")
    match = re.search(r"UUID:\s*([0-9a-f-]{36})", run_out)
    assert match, f"no flow run id in `prefect deployment run` output:\n{run_out}"
    flow_run_id = UUID(match.group(1))

    # The worker starts in an unrelated folder: the code must come from the installed package.
    worker_cwd = tmp_path / "elsewhere"
    worker_cwd.mkdir()
    catalog, cache = tmp_path / "catalog", tmp_path / "cache"
    worker_env = {**prefect_server.env, "SONORIZE_CATALOG_DIR": str(catalog), "SONORIZE_CACHE_DIR": str(cache)}
    worker_log = tmp_path / "worker.log"
    with open(worker_log, "wb") as log:
        worker = subprocess.Popen([PREFECT, "worker", "start", "--pool", POOL, "--run-once"],
                                  cwd=worker_cwd, env=worker_env, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        worker.wait(timeout=WORKER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"worker did not finish within {WORKER_TIMEOUT_S} s:\n{tail(worker_log)}")
    finally:
        kill_tree(worker)

    # One bad video: the run ends Failed (alerts see it), saying how many, and the others' outputs are kept.
    flow_run = prefect_server.read_flow_run(flow_run_id)
    assert flow_run.state is not None and flow_run.state.is_failed(), (
        f"flow run ended {flow_run.state!r}\nworker log:\n{tail(worker_log, 8000)}")
    assert flow_run.state.message == "1 of 2 videos failed: bad.mp4", flow_run.state.message
    # The bad video is one log line (file and reason); tracebacks are left for bugs.
    log_text = worker_log.read_text(errors="replace")
    assert "Traceback" not in log_text, log_text[-6000:]
    bad_lines = [line for line in log_text.splitlines() if "bad.mp4" in line and "Finished in state" not in line]
    assert len(bad_lines) == 1 and f"failed: {videos / 'bad.mp4'}: " in bad_lines[0], log_text[-6000:]

    records = sorted(out_dir.glob("sonorize-run-*.json"))
    assert len(records) == 1, f"expected one batch record in {out_dir}, found {records}"
    run = json.loads(records[0].read_text())
    assert run["run_id"] == str(flow_run_id)
    status = {Path(v["video_path"]).name: v for v in run["videos"]}
    summary = "\n".join(f"{name}: {v['status']} {v.get('error') or ''}" for name, v in sorted(status.items()))
    assert (run["n_videos"], run["n_ok"], run["n_failed"]) == (2, 1, 1), (
        f"per-video results:\n{summary}\nworker log:\n{tail(worker_log, 6000)}")
    assert status["ball_a.mp4"]["status"] in ("ok", "cached"), summary
    assert status["bad.mp4"]["status"] == "failed", summary
    assert "bad.mp4" in status["bad.mp4"]["error"], status["bad.mp4"]
    for stem in ("ball_a",):
        missing = [s for s in OUTPUT_SUFFIXES if not (out_dir / stem / f"{stem}{s}").is_file()]
        assert not missing, f"{stem}: missing {missing}; found {sorted(p.name for p in out_dir.rglob('*'))}"
    # The worker's environment reached the flow run (the catalog went where it pointed).
    assert catalog.is_dir() and any(catalog.rglob("*")), f"nothing written to the catalog at {catalog}"
    print(f"deployment round trip: {time.monotonic() - t0:.1f} s")
