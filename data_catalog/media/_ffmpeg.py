"""Run ffmpeg as a subprocess with its stderr kept for error messages."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

FFMPEG_BASE = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error"]


def ffmpeg_path(path: str | os.PathLike) -> str:
    """A file path as ffmpeg and ffprobe must see it: never an option (``-x.mp4``) nor a
    protocol (``concat:a|b``, ``pipe:1``), whatever the file is called."""
    return "file:" + os.path.abspath(os.fspath(path))


def last_error_line(stderr: str, fallback: str) -> str:
    """The most informative line of ffmpeg's stderr (its last one)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else fallback


@contextmanager
def ffmpeg_stream(args: list[str]) -> Iterator[tuple[subprocess.Popen, "tempfile._TemporaryFileWrapper"]]:
    """Start ``ffmpeg args...`` with stdout piped and stderr spooled to a file.

    Spooling stderr to a file (not a pipe) avoids the deadlock where ffmpeg
    blocks on a full stderr pipe while we block reading stdout.
    """
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(FFMPEG_BASE + args, stdout=subprocess.PIPE, stderr=err)
        try:
            yield proc, err
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stdout:
                proc.stdout.close()


def read_stderr(err) -> str:
    err.seek(0)
    return err.read().decode("utf-8", "replace")


def run_ffmpeg(args: list[str], timeout_s: float | None = None) -> tuple[int, str]:
    """Run ffmpeg to completion; return (exit code, stderr text)."""
    proc = subprocess.run(FFMPEG_BASE + args, capture_output=True, timeout=timeout_s, check=False)
    return proc.returncode, proc.stderr.decode("utf-8", "replace")
