"""Operations on a real Prefect server, as an operator runs them: schedules that fire.

One `prefect server start` on loopback is shared by this module's tests; every wait is bounded
and every process started here (server, workers, their flow-run processes) is killed at the end.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from live_servers import PREFECT, REPO_ROOT, PrefectServer, kill_tree, tail

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not on PATH"),
]

POOL = "sonorize-cpu"
SCHEDULED_TIMEOUT_S = 60  # the server's recent-deployments scheduler runs every 5 s
RUN_TIMEOUT_S = 150


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A Prefect server with both pools (docker/work-pools.sh) and every deployment of prefect.yaml (shared by the module)."""
    home = tmp_path_factory.mktemp("ops-server")
    server = PrefectServer(home)
    try:
        server.wait_healthy()
        pools = subprocess.run(["bash", str(REPO_ROOT / "docker" / "work-pools.sh")], cwd=REPO_ROOT,
                               env={**server.env, "PREFECT": PREFECT}, capture_output=True, text=True, timeout=180)
        assert pools.returncode == 0, pools.stdout + pools.stderr
        out = server.cli("--no-prompt", "deploy", "--all", env={"SONORIZE_GPU_IMAGE": "sonorize-gpu:test"})
        assert "benchmark/nightly" in out, out[-3000:]
        yield server
    finally:
        kill_tree(server.proc)


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


def _wait_runs(server, deployment_id, state: str, timeout_s: float, logs: list[Path]) -> list:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if runs := _runs(server, deployment_id, state):
            return runs
        time.sleep(0.5)
    pytest.fail(f"no {state} run of deployment {deployment_id} within {timeout_s} s\n"
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
    worker_log = tmp_path / "worker.log"
    worker = server.start_worker(POOL, tmp_path, worker_log, env={"SONORIZE_CATALOG_DIR": str(tmp_path / "catalog")})
    try:
        done = _wait_runs(server, watcher.id, "COMPLETED", RUN_TIMEOUT_S, [worker_log, server.log])
    finally:
        kill_tree(worker)
        for schedule in _deployment(server, "watch-bucket/watcher").schedules:  # stop firing for later tests
            if schedule.active:
                server.cli("deployment", "schedule", "pause", "watch-bucket/watcher", str(schedule.id))
    assert done[0].auto_scheduled and done[0].parameters["input_url"] == str(incoming)
    print(f"schedule to completed run: {time.monotonic() - t0:.1f} s")
