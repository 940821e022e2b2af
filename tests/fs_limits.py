"""Run a command against a full disk: a small tmpfs where one can be mounted, else a file-size limit.

A tmpfs needs root or an unprivileged user namespace (``unshare -rm``); many CI
machines allow neither, so :func:`file_size_limited` is the fallback: with
``RLIMIT_FSIZE`` every write past the limit fails with EFBIG, through the same
code paths as ENOSPC.
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
LEFT_MARKER = "--- files left on the tmpfs:"


def files_left(stdout: str) -> list[str]:
    """The names :func:`on_small_tmpfs` listed on its tmpfs after the command."""
    return stdout.rsplit(LEFT_MARKER, 1)[1].split()


@functools.cache
def _unshare_prefix() -> tuple[str, ...] | None:
    """``unshare`` options that give a private mount namespace where tmpfs can be mounted."""
    if shutil.which("unshare") is None:
        return None
    for prefix in (("unshare", "-m"), ("unshare", "-rm")):
        probe = subprocess.run([*prefix, "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                               capture_output=True, timeout=30)
        if probe.returncode == 0:
            return prefix
    return None


def can_mount_tmpfs() -> bool:
    return _unshare_prefix() is not None


def on_small_tmpfs(mount_point: Path, size_bytes: int, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run ``argv`` with a tmpfs of ``size_bytes`` mounted at ``mount_point`` (in a private mount
    namespace: nothing outside sees it, and it goes when the command ends)."""
    prefix = _unshare_prefix()
    assert prefix is not None, "no tmpfs here: check can_mount_tmpfs() first"
    mount_point.mkdir(parents=True, exist_ok=True)
    script = f'mount -t tmpfs -o size={size_bytes} tmpfs "$0" && "$@"; code=$?; echo "{LEFT_MARKER}"; ls -A1 "$0"; exit $code'
    return subprocess.run([*prefix, "sh", "-c", script, str(mount_point), *argv], capture_output=True, text=True,
                          **kwargs)


def file_size_limited(limit_bytes: int, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run ``argv`` where no process may write a file past ``limit_bytes`` (writes fail with EFBIG)."""
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, resource.RLIM_INFINITY))

    return subprocess.run(argv, capture_output=True, text=True, preexec_fn=limit, **kwargs)


def sonorize_argv(*args: str) -> list[str]:
    """The command line, run from this checkout whatever the working folder."""
    return [sys.executable, "-c", "import sys; sys.argv[0] = 'sonorize'; from flows.cli import app; app()", *args]


def subprocess_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    return env
