"""Errors a user can act on: each names the file and the reason."""

from __future__ import annotations

import os


class SonorizeInputError(Exception):
    """Bad user input (a video, audio or envelope file) that cannot be used.

    ``str(error)`` is ``"<path>: <reason>"`` so that a batch summary shows
    which file failed and why.
    """

    def __init__(self, path: str | os.PathLike | None, reason: str):
        self.path = str(path) if path is not None else None
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class MediaError(SonorizeInputError):
    """A media file ffmpeg cannot use (missing, corrupt, no video, ...)."""


class EnvelopeFileError(SonorizeInputError):
    """A malformed envelope CSV or sidecar."""


class OutputError(SonorizeInputError):
    """An output location that cannot be written."""


class LocationError(SonorizeInputError):
    """An input or output location (a folder, a bucket) that cannot be reached or listed."""
