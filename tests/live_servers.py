"""Real servers on loopback for integration tests: a Prefect server, process workers, moto's S3.

Every wait is bounded and every process started here (server, worker, the
worker's flow-run processes) is killed by :func:`kill_tree`: a flow run gets
its own process group, so its descendants are collected from /proc first.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Collection
from pathlib import Path
from uuid import UUID

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PREFECT = str(BIN / "prefect")
SERVER_START_TIMEOUT_S = 90
CLI_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, n: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError as exc:
        return f"<no log: {exc}>"


def descendants(pid: int) -> list[int]:
    """Pids below ``pid`` (Linux /proc)."""
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


def kill_tree(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stop a process started with start_new_session=True: its group, then stray descendants.

    ``sig=SIGKILL`` kills everything at once, as a crashed machine would.
    """
    if proc.poll() is None:
        below = descendants(proc.pid)
        if sig == signal.SIGKILL:
            for pid in below:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            os.killpg(proc.pid, sig)
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


def _wait_http(url: str, proc: subprocess.Popen, log: Path, what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}:\n{tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{what} not answering at {url} after {timeout_s} s:\n{tail(log)}")


class PrefectServer:
    """``prefect server start`` on a free loopback port, with its own home (SQLite database)."""

    def __init__(self, home: Path):
        self.home = home
        self.port = free_port()
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
        _wait_http(f"{self.api_url}/health", self.proc, self.log, "prefect server", timeout_s)

    def cli(self, *args: str, cwd: Path = REPO_ROOT, env: dict | None = None) -> str:
        proc = subprocess.run([PREFECT, *args], cwd=cwd, env={**self.env, **(env or {})}, capture_output=True,
                              text=True, timeout=CLI_TIMEOUT_S, stdin=subprocess.DEVNULL)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"`prefect {' '.join(args)}` failed ({proc.returncode}):\n{out[-4000:]}"
        return out

    def start_worker(self, pool: str, cwd: Path, log: Path, env: dict | None = None,
                     run_once: bool = False) -> subprocess.Popen:
        """A process worker polling every second (the default 10 s would dominate a test)."""
        worker_env = {**self.env, "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "1",
                      **(env or {})}
        args = [PREFECT, "worker", "start", "--pool", pool] + (["--run-once"] if run_once else [])
        with open(log, "ab") as handle:
            return subprocess.Popen(args, cwd=cwd, env=worker_env, stdout=handle, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)

    def client(self):
        """A synchronous Prefect client on this server (use as a context manager)."""
        from prefect.client.orchestration import SyncPrefectClient

        return SyncPrefectClient(self.api_url)

    def read_flow_run(self, flow_run_id: UUID | str):
        with self.client() as client:
            return client.read_flow_run(UUID(str(flow_run_id)))

    def flow_runs(self, flow_name: str) -> list:
        from prefect.client.schemas.filters import FlowFilter, FlowFilterName

        with self.client() as client:
            return client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])))

    def wait_flow_runs_final(self, flow_name: str, expected: int, timeout_s: float, logs: list[Path],
                             before: Collection[UUID] = ()) -> list:
        """Wait until at least ``expected`` runs of ``flow_name`` exist and all are final.

        ``before``: ids of runs that existed before (another test's on a shared server), left out.
        """
        deadline = time.monotonic() + timeout_s
        runs = []
        while time.monotonic() < deadline:
            runs = [r for r in self.flow_runs(flow_name) if r.id not in before]
            if len(runs) >= expected and all(r.state and r.state.is_final() for r in runs):
                return runs
            time.sleep(0.5)
        states = [(str(r.id)[:8], r.state.type.value if r.state else None) for r in runs]
        pytest.fail(f"{flow_name}: wanted {expected} final runs within {timeout_s} s, have {states}\n"
                    + "\n".join(f"--- {p.name}:\n{tail(p, 6000)}" for p in logs))


class MotoServer:
    """moto's S3-compatible server on a free loopback port; ``env`` points boto3/s3fs at it."""

    def __init__(self, home: Path):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = home / "moto.log"
        self.env = {"AWS_ACCESS_KEY_ID": "sonorize-test", "AWS_SECRET_ACCESS_KEY": "sonorize-test",
                    "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": self.endpoint}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)

    def wait_ready(self, timeout_s: float = 60) -> None:
        _wait_http(f"{self.endpoint}/moto-api/", self.proc, self.log, "moto server", timeout_s)
