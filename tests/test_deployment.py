"""The `sonorize/batch` deployment end to end: a real Prefect server, `prefect deploy` of the
repo's prefect.yaml, `prefect deployment run`, and a process worker (`--run-once`).

Everything runs on loopback in temporary folders; every wait is bounded and every process this
test starts (server, worker, the worker's flow-run process) is killed at the end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from uuid import UUID

import pytest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not on PATH"),
]

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PREFECT = str(BIN / "prefect")
POOL = "sonorize-cpu"
SERVER_START_TIMEOUT_S = 90
CLI_TIMEOUT_S = 90
WORKER_TIMEOUT_S = 180
OUTPUT_SUFFIXES = (".foley.wav", ".foley.mp4", ".envelope.csv", ".envelope.json", ".envelope.png",
                   ".labels.txt", ".record.json")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError as exc:
        return f"<no log: {exc}>"


def _descendants(pid: int) -> list[int]:
    """Pids below ``pid`` (Linux /proc); a flow run gets its own process group, so killing the
    worker's group alone would leave it running."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill_tree(proc: subprocess.Popen) -> None:
    """Stop a process started with start_new_session=True: its group, then stray descendants."""
    if proc.poll() is None:
        below = _descendants(proc.pid)
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
        for pid in below:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class PrefectServer:
    def __init__(self, home: Path):
        self.port = _free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.log = home / "server.log"
        self.env = {
            **os.environ,
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "false",
            "PREFECT_CLI_WRAP_LINES": "false",
        }
        self.env.pop("PREFECT_API_KEY", None)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)

    def wait_healthy(self, timeout_s: float = SERVER_START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"prefect server exited with {self.proc.returncode}:\n{_tail(self.log)}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        pytest.fail(f"prefect server not healthy at {self.api_url} after {timeout_s} s:\n{_tail(self.log)}")

    def cli(self, *args: str, cwd: Path = REPO_ROOT) -> str:
        proc = subprocess.run([PREFECT, *args], cwd=cwd, env=self.env, capture_output=True, text=True,
                              timeout=CLI_TIMEOUT_S, stdin=subprocess.DEVNULL)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"`prefect {' '.join(args)}` failed ({proc.returncode}):\n{out[-4000:]}"
        return out


@pytest.fixture
def prefect_server(tmp_path):
    """A real `prefect server start` on a free loopback port; not yet waited for (see wait_healthy)."""
    home = tmp_path / "prefect-home"
    home.mkdir()
    server = PrefectServer(home)
    try:
        yield server
    finally:
        _kill_tree(server.proc)


def _read_flow_run(api_url: str, flow_run_id: UUID):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        with get_client(sync_client=True) as client:
            return client.read_flow_run(flow_run_id)


def test_batch_deployment_runs_on_a_process_worker(prefect_server, tmp_path):
    from data_catalog.examples import make_bouncing_ball_video

    t0 = time.monotonic()
    videos, out_dir = tmp_path / "videos", tmp_path / "out"
    videos.mkdir()
    # The clips are made while the server boots.
    for name in ("ball_a", "ball_b"):
        make_bouncing_ball_video(videos / f"{name}.mp4", duration_s=2.0, size=(160, 120))
    (videos / "bad.mp4").write_text("this is not a video\n")

    prefect_server.wait_healthy()
    prefect_server.cli("work-pool", "create", POOL, "--type", "process")
    deploy_out = prefect_server.cli("--no-prompt", "deploy", "--name", "batch")
    assert "sonorize/batch" in deploy_out, deploy_out[-2000:]
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
        pytest.fail(f"worker did not finish within {WORKER_TIMEOUT_S} s:\n{_tail(worker_log)}")
    finally:
        _kill_tree(worker)

    flow_run = _read_flow_run(prefect_server.api_url, flow_run_id)
    assert flow_run.state is not None and flow_run.state.is_completed(), (
        f"flow run ended {flow_run.state!r}\nworker log:\n{_tail(worker_log, 8000)}")

    records = sorted(out_dir.glob("sonorize-run-*.json"))
    assert len(records) == 1, f"expected one batch record in {out_dir}, found {records}"
    run = json.loads(records[0].read_text())
    assert run["run_id"] == str(flow_run_id)
    status = {Path(v["video_path"]).name: v for v in run["videos"]}
    summary = "\n".join(f"{name}: {v['status']} {v.get('error') or ''}" for name, v in sorted(status.items()))
    assert (run["n_videos"], run["n_ok"], run["n_failed"]) == (3, 2, 1), (
        f"per-video results:\n{summary}\nworker log:\n{_tail(worker_log, 6000)}")
    assert status["ball_a.mp4"]["status"] in ("ok", "cached"), summary
    assert status["ball_b.mp4"]["status"] in ("ok", "cached"), summary
    assert status["bad.mp4"]["status"] == "failed", summary
    assert "bad.mp4" in status["bad.mp4"]["error"], status["bad.mp4"]
    for stem in ("ball_a", "ball_b"):
        missing = [s for s in OUTPUT_SUFFIXES if not (out_dir / stem / f"{stem}{s}").is_file()]
        assert not missing, f"{stem}: missing {missing}; found {sorted(p.name for p in out_dir.rglob('*'))}"
    # The worker's environment reached the flow run (the catalog went where it pointed).
    assert catalog.is_dir() and any(catalog.rglob("*")), f"nothing written to the catalog at {catalog}"
    print(f"deployment round trip: {time.monotonic() - t0:.1f} s")
