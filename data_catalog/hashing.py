"""Content hashes: a video's id is the sha256 of its bytes (SPEC stage 1)."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

HASH_CHUNK_BYTES = 1 << 20  # 1 MiB reads keep memory flat for any file size


def sha256_file(path: str | os.PathLike) -> str:
    """Return the hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint(obj: Any) -> str:
    """Short stable hash of JSON-serialisable settings (for resume checks)."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
