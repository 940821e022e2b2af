"""Errors a user can act on: each names the file and the reason."""

from __future__ import annotations

import errno
import os


class SonorizeError(Exception):
    """The root of every error a user can act on (the CLI and flows show these as one line).

    ``str(error)`` is ``"<path>: <reason>"`` (or the reason alone when no file is at
    fault) so that a batch summary shows which file failed and why. Anything that is
    not a SonorizeError is a programming error and keeps its traceback.

    The family: :class:`SonorizeInputError` (the input is at fault), :class:`OutputError`
    (the destination), :class:`WeightsError` (pretrained weights: the model store) and
    :class:`CheckpointError` (a checkpoint this project trained).
    """

    def __init__(self, path: str | os.PathLike | None, reason: str | None = None):
        if reason is None:  # ``Error("reason")``: no file at fault (registries raise ``error(message)``)
            path, reason = None, str(path)
        self.path = str(path) if path is not None else None
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class SonorizeInputError(SonorizeError):
    """Bad user input (a video, audio or envelope file, a setting) that cannot be used."""


class OutputError(SonorizeError, OSError):
    """An output location that cannot be written (also an OSError, for callers that catch those)."""

    def __init__(self, path: str | os.PathLike | None, reason: str | None = None, errno_code: int | None = None):
        super().__init__(path, reason)
        self.errno = errno_code


class WeightsError(SonorizeError):
    """Pretrained weights that are missing, corrupt, unsafe or do not fit (the model store's errors)."""


class CheckpointError(SonorizeError):
    """A checkpoint that cannot be used: missing sidecar, hash mismatch, wrong weights."""


class MediaError(SonorizeInputError):
    """A media file ffmpeg cannot use (missing, corrupt, no video, ...)."""


class OptionError(SonorizeInputError, ValueError):
    """A setting the user gave (a flag, a flow parameter) that cannot be used (also a ValueError)."""


class ToolMissingError(SonorizeInputError, RuntimeError):
    """A system tool sonorize needs (ffmpeg, ffprobe) is not installed (also a RuntimeError)."""


class EnvelopeFileError(SonorizeInputError):
    """A malformed envelope CSV or sidecar."""


# Errors of writing (the destination is at fault, not the input), and how to say them.
WRITE_ERRNO_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large for the file system",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENAMETOOLONG: "file name too long",
}


def is_write_error(exc: BaseException) -> bool:
    """An OSError that says the destination cannot take the data (full, read-only, denied)."""
    return isinstance(exc, OSError) and exc.errno in WRITE_ERRNO_REASONS


def output_error(path: str | os.PathLike, exc: OSError) -> OutputError:
    """``exc`` as one line naming ``path`` (the file the user asked for, not a temporary one)."""
    if isinstance(exc, OutputError):
        return exc
    reason = WRITE_ERRNO_REASONS.get(exc.errno) or exc.strerror or str(exc)
    return OutputError(path, f"cannot write: {reason}", exc.errno)


class LocationError(SonorizeInputError):
    """An input or output location (a folder, a bucket) that cannot be reached or listed."""
