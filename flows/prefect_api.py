"""The temporary Prefect API server of a command-line run, tied to the run's life.

Without ``PREFECT_API_URL`` Prefect starts a temporary API server (uvicorn) as
a child process and stops it at exit; a SIGKILLed run never reaches its exit
handlers, so the server lived on (an orphan of ~230 MB). We start that same
server ourselves before the flow and give it a watchdog: a small process whose
stdin is a pipe from the run. The kernel closes the pipe however the run ends,
SIGKILL included; the watchdog then reads EOF and stops the server.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

API_URL_SETTING = "PREFECT_API_URL"
STOP_GRACE_S = 5.0  # SIGTERM first (uvicorn shuts down cleanly), SIGKILL after this
_watched: dict[int, subprocess.Popen] = {}  # server pid -> its watchdog (keeps the pipe open)


def api_url_configured() -> bool:
    """Whether Prefect's settings name an API server (``PREFECT_API_URL``); Prefect imported only if they may.

    The environment answers at once. Else the setting can come only from the files Prefect reads
    (``.env``, ``prefect.toml``, ``pyproject.toml``'s ``[tool.prefect]`` in the working folder, the
    profiles file): when none of them can hold it the answer is no, and Prefect (seconds to import,
    pandas with it) stays unloaded; when one may, Prefect's own settings decide.
    """
    if any(key.upper() == API_URL_SETTING and value for key, value in os.environ.items()):
        return True
    if not _settings_files_may_name_api():
        return False
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


def _settings_files_may_name_api() -> bool:
    # Another profile (Prefect's bundled `local` names a server), another profiles file, a prefect.toml:
    # not parsed here, left to Prefect.
    if os.environ.get("PREFECT_PROFILE") or os.environ.get("PREFECT_PROFILES_PATH") or Path("prefect.toml").exists():
        return True
    profiles = Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser() / "profiles.toml"
    markers = {Path(".env"): "PREFECT_", Path("pyproject.toml"): "tool.prefect", profiles: API_URL_SETTING}
    return any(marker.lower() in _read_text(path).lower() for path, marker in markers.items())


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def start_ephemeral_api() -> int | None:
    """Start Prefect's temporary API server now, tied to this process; return its pid.

    Nothing happens (None) when ``PREFECT_API_URL`` names a server or the
    temporary server is disabled: the flow then talks to that server.
    """
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        return None
    server = SubprocessASGIServer()  # the instance the flow's client uses (one per process)
    if not server.running and hasattr(server, "_run_uvicorn_command"):
        # watch each server process from its start, not once it answers (that can take 20 s)
        start_process = server._run_uvicorn_command

        def start_and_watch():
            process = start_process()
            _watch(process.pid)
            return process

        server._run_uvicorn_command = start_and_watch
    server.start()
    _watch(server.server_process.pid)
    return server.server_process.pid


def _watch(pid: int) -> None:
    """Start the watchdog of server ``pid`` (once per server)."""
    if pid not in _watched:
        _watched[pid] = subprocess.Popen(
            [sys.executable, "-m", "flows.prefect_api", str(pid)], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,  # no terminal signals
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )


def _stop(pid: int, handle: int | None) -> None:
    """SIGTERM ``pid``, then SIGKILL it after STOP_GRACE_S (``handle``: its pidfd, safe from pid reuse)."""
    try:
        _signal(pid, handle, signal.SIGTERM)
        if handle is not None:
            if not select.select([handle], [], [], STOP_GRACE_S)[0]:  # readable once it exits
                _signal(pid, handle, signal.SIGKILL)
            return
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.1)
        _signal(pid, None, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _signal(pid: int, handle: int | None, signum: int) -> None:
    if handle is not None:
        signal.pidfd_send_signal(handle, signum)
    else:
        os.kill(pid, signum)


def _watchdog(pid: int) -> None:
    """Wait for the run to end (EOF on stdin), then stop the server ``pid``."""
    try:
        handle = os.pidfd_open(pid)  # taken while the server surely lives
    except (AttributeError, OSError):  # not Linux >= 5.3: the plain pid
        handle = None
    while sys.stdin.buffer.read(1 << 16):
        pass
    _stop(pid, handle)


if __name__ == "__main__":
    _watchdog(int(sys.argv[1]))
