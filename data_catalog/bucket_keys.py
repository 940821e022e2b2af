"""Object keys from an input bucket: validated before anything is named after them.

A key comes from whoever can write to the bucket; outputs are named after it,
on local disks as well as in stores. So a key is refused (and its object
quarantined, never followed) when it could escape the output prefix or make a
name a file system rejects: absolute, ``..`` or ``.`` segments, empty
segments, backslashes, drive letters, control characters, or too long.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from data_catalog.errors import SonorizeInputError

MAX_KEY_CHARS = 512  # whole relative key; S3 allows 1024 bytes, local output paths need room too
MAX_SEGMENT_BYTES = 200  # one path segment, UTF-8; NAME_MAX is 255 and outputs add ".envelope.json"
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
# Names uploaders give to objects still being written (rsync, browsers, our own atomic writes).
PARTIAL_UPLOAD_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".download", ".uploading", ".filepart")


class BadKeyError(SonorizeInputError):
    """An object key that cannot be used safely."""


def validate_key(key: str, *, max_chars: int = MAX_KEY_CHARS, max_segment_bytes: int = MAX_SEGMENT_BYTES) -> str:
    """Return ``key`` when it is a safe relative key, else raise :class:`BadKeyError`.

    Parameters
    ----------
    key : the object's key relative to the input prefix, ``/``-separated.
    max_chars : longest accepted key, in characters.
    max_segment_bytes : longest accepted path segment, in UTF-8 bytes.
    """
    shown = repr(key) if len(key) <= 120 else repr(key[:120]) + "..."
    if not key:
        raise BadKeyError(shown, "empty key")
    if len(key) > max_chars:
        raise BadKeyError(shown, f"key is {len(key)} characters long (limit {max_chars})")
    if CONTROL_CHARS.search(key):
        raise BadKeyError(shown, "key contains control characters")
    if "\\" in key:
        raise BadKeyError(shown, "key contains a backslash (a Windows path separator)")
    if key.startswith("/") or DRIVE_LETTER.match(key):
        raise BadKeyError(shown, "absolute path (keys must be relative to the input prefix)")
    segments = key.split("/")
    if any(s in (".", "..") for s in segments):
        raise BadKeyError(shown, "path traversal ('.' or '..' segment)")
    if any(s == "" for s in segments):
        raise BadKeyError(shown, "empty path segment ('//' or a trailing '/')")
    too_long = [s for s in segments if len(s.encode("utf-8")) > max_segment_bytes]
    if too_long:
        raise BadKeyError(shown, f"a path segment is {len(too_long[0].encode('utf-8'))} bytes long "
                                 f"(limit {max_segment_bytes})")
    return key


def is_pending_or_hidden(key: str) -> bool:
    """Objects that are not (yet) inputs: hidden names and uploads still in progress."""
    name = key.rsplit("/", 1)[-1]
    return any(part.startswith(".") for part in key.split("/") if part not in ("", ".", "..")) \
        or name.lower().endswith(PARTIAL_UPLOAD_SUFFIXES)


def output_folder(key: str) -> str:
    """Where a video's outputs go below the output prefix: its key without the extension.

    ``shoots/day1/take3.mp4`` -> ``shoots/day1/take3`` (files ``take3.foley.wav``...
    inside), the layout ``sonorize run`` uses for a folder. Each segment is made safe
    (``...mp4`` -> ``video``: never ``.`` or ``..``, never hidden).
    """
    from data_catalog.output_folders import safe_name

    path = PurePosixPath(key)
    stem = path.stem if path.suffix else path.name
    return str(PurePosixPath(*[safe_name(part, "_") for part in path.parent.parts], safe_name(stem)))
