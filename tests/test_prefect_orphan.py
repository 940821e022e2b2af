"""A SIGKILLed ``sonorize run`` leaves no temporary Prefect API server behind (issue 16, item 5)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from fs_limits import sonorize_argv, subprocess_env
from media_factory import pattern_clip

pytestmark = [pytest.mark.needs_ffmpeg,
              pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads children from /proc")]


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append((int(entry.name), cmdline))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigkilled_run_leaves_no_api_server(tmp_path):
    video = pattern_clip(tmp_path / "clip.mp4", seconds=1.0, size="64x48")
    env = {k: v for k, v in subprocess_env().items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")  # its own database: a server of its own
    run = subprocess.Popen(sonorize_argv("run", str(video), "--out", str(tmp_path / "out"), "--prefect",
                                         "--envelope-engine", "preview"),
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = None
    try:
        deadline = time.monotonic() + 120
        while server is None and time.monotonic() < deadline and run.poll() is None:
            server = next((pid for pid, cmd in _children(run.pid) if "uvicorn" in cmd), None)
            time.sleep(0.2)
        assert server is not None, "the run never started its temporary API server"
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        deadline = time.monotonic() + 30
        while _alive(server) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(server), "the temporary API server outlived its SIGKILLed run"
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        if server is not None and _alive(server):
            os.kill(server, signal.SIGKILL)
