"""What kind of file a path is, before any tool opens it."""

from __future__ import annotations

import errno
import os
import stat


def not_a_regular_file(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be read as a file (missing, a folder, a FIFO, a link loop, ...), or None.

    Checked before any tool opens it: reading a FIFO or a device would block or never end.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "broken symbolic link (its target does not exist)" if os.path.islink(path) else "file does not exist"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        return f"cannot read it ({exc.strerror or exc})"
    if stat.S_ISDIR(mode):
        return "is a folder, not a media file"
    if not stat.S_ISREG(mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a special file")
        return f"not a regular file but {kind}"
    return None
