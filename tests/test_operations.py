"""Operations on a real Prefect server, as an operator runs them (docs/DEPLOY.md): schedules that
fire, settings through Prefect Variables and deploy-time parameters, a batch with a bad video that
ends Failed and notifies through an automation, no `gpu` limit without GPUs, GPU deployments that
refuse to deploy without their image.

The session's `prefect server start` on loopback (tests/conftest.py) is shared with the deployment
and bucket-watcher tests (each counts only its own flow runs); every wait is bounded and every
process started here (workers, their flow-run processes) is killed at the end.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from live_servers import PREFECT, REPO_ROOT, kill_tree, tail
from media_factory import pattern_clip

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not on PATH"),
]

POOL = "sonorize-cpu"
SCHEDULED_TIMEOUT_S = 60  # the server's recent-deployments scheduler runs every 5 s
RUN_TIMEOUT_S = 150


@pytest.fixture
def server(shared_prefect_server):
    """The session's Prefect server: both pools (docker/work-pools.sh, no GPU_SLOTS), `nightly`, `watcher`, `batch`."""
    return shared_prefect_server


def _deployment(server, name: str):
    with server.client() as client:
        return client.read_deployment_by_name(name)


def _runs(server, deployment_id, state: str | None = None) -> list:
    from prefect.client.schemas.filters import (DeploymentFilter, DeploymentFilterId, FlowRunFilter,
                                                FlowRunFilterState, FlowRunFilterStateType)

    flow_run_filter = None
    if state:
        flow_run_filter = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[state])))
    with server.client() as client:
        return client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
                                     flow_run_filter=flow_run_filter)


def _wait_runs(server, deployment_id, state: str, timeout_s: float, logs: list[Path],
               before: set = frozenset()) -> list:
    """Runs of the deployment in ``state``, leaving out ``before`` (ids of runs other tests started)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if runs := [r for r in _runs(server, deployment_id, state) if r.id not in before]:
            return runs
        time.sleep(0.5)
    pytest.fail(f"no {state} run of deployment {deployment_id} within {timeout_s} s\n"
                + "\n".join(f"--- {p.name}:\n{tail(p, 6000)}" for p in logs))


def _wait_idle(server, deployment_id, timeout_s: float, quiet_s: float = 2.0) -> None:
    """Until no run of the deployment is PENDING or RUNNING for ``quiet_s`` (a worker polls every second)."""
    deadline, quiet_since = time.monotonic() + timeout_s, time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - quiet_since < quiet_s:
        if _runs(server, deployment_id, "PENDING") or _runs(server, deployment_id, "RUNNING"):
            quiet_since = time.monotonic()
        time.sleep(0.25)


def _wait_final(server, flow_run_id: str, timeout_s: float, logs: list[Path]):
    """The final state of one flow run."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = server.read_flow_run(flow_run_id).state
        if state is not None and state.is_final():
            return state
        time.sleep(0.5)
    pytest.fail(f"flow run {flow_run_id} not final within {timeout_s} s\n"
                + "\n".join(f"--- {p.name}:\n{tail(p, 6000)}" for p in logs))


def test_deployed_schedules_create_runs_and_a_scheduled_run_completes_on_a_worker(server, tmp_path):
    t0 = time.monotonic()
    # The nightly cron of prefect.yaml (active) gets its upcoming runs from the scheduler service.
    nightly = _deployment(server, "benchmark/nightly")
    upcoming = _wait_runs(server, nightly.id, "SCHEDULED", SCHEDULED_TIMEOUT_S, [server.log])
    assert all(r.expected_start_time.hour == 3 and r.expected_start_time.minute == 30 for r in upcoming)

    # An interval schedule added at deploy time: its first run is due within seconds and a worker runs it.
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    server.cli("--no-prompt", "deploy", "--name", "watcher", "--interval", "5", "--param", f"input_url={incoming}")
    watcher = _deployment(server, "watch-bucket/watcher")
    assert any(s.active and s.schedule.interval.total_seconds() == 5 for s in watcher.schedules), watcher.schedules
    done_before = {r.id for r in _runs(server, watcher.id, "COMPLETED")}  # the server is shared
    worker_log = tmp_path / "worker.log"
    worker = server.start_worker(POOL, tmp_path, worker_log, env={"SONORIZE_CATALOG_DIR": str(tmp_path / "catalog")})
    try:
        done = _wait_runs(server, watcher.id, "COMPLETED", RUN_TIMEOUT_S, [worker_log, server.log], done_before)
    finally:
        for schedule in _deployment(server, "watch-bucket/watcher").schedules:  # stop firing for later tests
            if schedule.active:
                server.cli("deployment", "schedule", "pause", "watch-bucket/watcher", str(schedule.id))
        # A poll the worker already started finishes first: killed mid-way it would hold the watcher's one
        # concurrency slot (concurrency_limit: 1) and the next test's poll would wait on it past its timeout.
        _wait_idle(server, watcher.id, RUN_TIMEOUT_S)
        kill_tree(worker)
    assert done[0].auto_scheduled and done[0].parameters["input_url"] == str(incoming)
    print(f"schedule to completed run: {time.monotonic() - t0:.1f} s")


class _Webhook:
    """A loopback HTTP endpoint that keeps the JSON bodies POSTed to it."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, text: str, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for body in self.received:
                if text in body.get("text", ""):
                    return body["text"]
            time.sleep(0.5)
        pytest.fail(f"no notification with {text!r} within {timeout_s} s; received {self.received}")


def test_variables_point_the_watcher_and_a_batch_with_a_bad_video_fails_and_notifies(server, tmp_path):
    t0 = time.monotonic()
    incoming, outputs = tmp_path / "bucket" / "incoming", tmp_path / "bucket" / "foley"
    incoming.mkdir(parents=True)
    pattern_clip(incoming / "good.mp4", seconds=1.0, size="64x48", rate="15")
    (incoming / "broken.mp4").write_text("not a video\n")
    # The deployment as prefect.yaml has it (input_url null), pointed at the bucket by Variables only.
    server.cli("--no-prompt", "deploy", "--name", "watcher")
    webhook = _Webhook()
    alert = subprocess.run([sys.executable, "-m", "flows.failure_alerts", "--webhook-url", webhook.url],
                           cwd=REPO_ROOT, env=server.env, capture_output=True, text=True, timeout=120)
    assert alert.returncode == 0, alert.stdout + alert.stderr

    batches_before = len(server.flow_runs("sonorize"))  # the server is shared: count only this test's runs
    worker_log = tmp_path / "worker.log"
    worker = server.start_worker(POOL, tmp_path, worker_log, env={"SONORIZE_CATALOG_DIR": str(tmp_path / "catalog")})
    try:
        # No bucket set anywhere: the poll fails with one line saying how to set it.
        unset = server.cli("deployment", "run", "watch-bucket/watcher")
        unset_state = _wait_final(server, unset.split("UUID:")[1].split()[0], RUN_TIMEOUT_S, [worker_log])
        assert unset_state.is_failed() and unset_state.message.endswith(
            "input_url is not set: run `prefect variable set sonorize_input_url s3://BUCKET/incoming` (read at every "
            "run) or deploy with `--param input_url=s3://BUCKET/incoming`"), unset_state.message
        server.cli("variable", "set", "sonorize_input_url", str(incoming), "--overwrite")
        server.cli("variable", "set", "sonorize_output_url", str(outputs), "--overwrite")
        server.cli("deployment", "run", "watch-bucket/watcher", "-p", "min_age_s=0")
        batches = server.wait_flow_runs_final("sonorize", batches_before + 1, RUN_TIMEOUT_S, [worker_log])
        batch = max(batches, key=lambda run: run.created)
        text = webhook.wait_for("1 of 2 videos failed: broken.mp4", RUN_TIMEOUT_S)
    finally:
        kill_tree(worker)
        with server.client() as client:  # the shared server's later users set their own buckets
            for name in ("sonorize_input_url", "sonorize_output_url"):
                if client.read_variable_by_name(name) is not None:
                    client.delete_variable_by_name(name)
    # Failed (what alerts see), saying how many; the good video's outputs are kept.
    assert batch.state.is_failed() and batch.state.message == "1 of 2 videos failed: broken.mp4", batch.state
    assert "sonorize/" in text and "Failed" in text, text
    assert (outputs / "good" / "good.foley.wav").is_file() and (outputs / "good" / "good.record.json").is_file()
    assert (tmp_path / "bucket" / "quarantine" / "broken.mp4.error.txt").is_file()
    # The bad video is one line (file and reason), the unset bucket too: no traceback in the worker's log.
    log_text = worker_log.read_text(errors="replace")
    assert "Traceback" not in log_text, log_text[-6000:]
    assert len([line for line in log_text.splitlines() if "failed: " in line and "broken.mp4" in line]) == 1
    print(f"variables -> watcher -> failed batch -> notification: {time.monotonic() - t0:.1f} s")


def test_no_gpu_limit_without_gpus_and_no_gpu_deployment_without_its_image(server):
    with server.client() as client:
        limits = [c.tag for c in client.read_concurrency_limits(limit=50, offset=0)]
        v2_limits = [c.name for c in client.read_global_concurrency_limits(limit=50, offset=0)]
    assert "gpu" not in limits and "tag:gpu" not in v2_limits, (limits, v2_limits)  # no GPU_SLOTS given

    env = {k: v for k, v in server.env.items() if k != "SONORIZE_GPU_IMAGE"}
    proc = subprocess.run([PREFECT, "--no-prompt", "deploy", "--name", "batch-gpu", "--prefect-file",
                           str(REPO_ROOT / "prefect.yaml")], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0 and "SONORIZE_GPU_IMAGE is not set" in proc.stdout + proc.stderr, proc.stdout[-3000:]
    with server.client() as client:
        assert "batch-gpu" not in [d.name for d in client.read_deployments()]


@pytest.mark.skipif(importlib.util.find_spec("prefect_docker") is not None, reason="prefect-docker is installed here")
def test_gpu_worker_without_prefect_docker_names_the_package():
    proc = subprocess.run(["bash", str(REPO_ROOT / "docker" / "gpu-worker.sh")], env={"PATH": f"{Path(PREFECT).parent}:/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "pip install 'sonorize[docker]'" in proc.stderr, proc.stderr
