"""Atomic file writes: a reader never sees a half-written output.

Write to a temporary file in the destination folder, then ``os.replace`` it
into place (atomic on POSIX within one file system). On any error the
temporary file is removed, so an interrupted run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from data_catalog.errors import OutputError, is_write_error, output_error

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()
NAME_MAX = 255  # bytes in one file name on Linux and macOS file systems
TEMPORARY_NAME_BYTES = NAME_MAX - len(".") - len(".") - 8 - len(".tmp")  # ".NAME.XXXXXXXX.tmp"
TEMPORARY_NAME = re.compile(r"^\..*\.[A-Za-z0-9_]{8}\.tmp$")  # ".NAME.<mkstemp's 8 characters>.tmp"


def _name_part(name: str) -> str:
    """``name`` cut so that its temporary name stays within NAME_MAX (a legal 250-byte name
    must still be writable)."""
    return name.encode("utf-8")[:TEMPORARY_NAME_BYTES].decode("utf-8", "ignore")


def is_temporary_name(name: str) -> bool:
    """Whether ``name`` is one of :func:`atomic_path`'s temporary files."""
    return bool(TEMPORARY_NAME.match(name))


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; move it there on success.

    The temporary name ends in ``.tmp``, not the destination's suffix, so a
    glob such as ``*.parquet`` (duckdb reads dot-files) never picks up a
    half-written file; writers must therefore name their format explicitly.
    A destination that cannot take the data (full, read-only, denied) raises
    :class:`~data_catalog.errors.OutputError` naming ``destination``, never the
    temporary file; writers verify what they wrote before leaving the block.
    """
    destination = Path(destination)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{_name_part(destination.name)}.", suffix=".tmp",
                                        dir=destination.parent)
    except OSError as exc:
        raise output_error(destination, exc) from None
    _lock(fd)  # held until the file is renamed or removed: a locked temporary has a live writer
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get the usual permissions
        yield tmp
        os.replace(tmp, destination)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if is_write_error(exc):
            raise output_error(destination, exc) from None
        raise
    finally:
        os.close(fd)


def _lock(fd: int, blocking: bool = True) -> bool:
    """flock ``fd`` exclusively; False when another process holds it (non-blocking)."""
    if fcntl is None:  # no flock (Windows): writers go on, and no temporary ever counts as stale
        return blocking
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    except OSError:  # a file system without locks: treat as live, never remove it
        return False
    return True


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of :func:`atomic_path` in ``folder`` that no live process is
    writing (a killed run's; a live writer holds its file's lock); return what was removed."""
    removed = []
    try:
        names = [n for n in os.listdir(folder) if is_temporary_name(n)]
    except OSError:
        return removed
    for name in names:
        path = Path(folder) / name
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode) and _lock(fd, blocking=False):
                path.unlink()
                removed.append(path)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def write_bytes_atomic(destination: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``destination`` atomically and return the path."""
    with atomic_path(destination) as tmp:
        tmp.write_bytes(data)
        if tmp.stat().st_size != len(data):  # a short write that raised nothing
            raise OutputError(destination, f"wrote {tmp.stat().st_size} of {len(data)} bytes")
    return Path(destination)


def write_text_atomic(destination: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``destination`` atomically and return the path."""
    return write_bytes_atomic(destination, text.encode("utf-8"))


def json_text(obj: Any) -> str:
    """``obj`` as indented JSON text (non-finite floats become null, other objects ``str``)."""
    return json.dumps(_finite(obj), indent=2, ensure_ascii=False, default=str) + "\n"


def write_json_atomic(destination: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (non-finite floats become null)."""
    return write_text_atomic(destination, json_text(obj))


def _finite(obj: Any) -> Any:
    # JSON has no NaN/inf; null keeps the file readable by every parser.
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj
