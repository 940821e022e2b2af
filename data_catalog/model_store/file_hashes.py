"""File digests (sha256 + md5 in one read), memoised in a JSON sidecar keyed by (size, mtime).

Weights are gigabytes; hashing them on every ``sonorize models list`` would take
minutes. A file whose size and mtime are unchanged keeps its recorded digests;
``verify`` re-reads everything regardless.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from data_catalog.atomic import write_json_atomic

CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Digests:
    """Hex digests of one file's bytes."""

    sha256: str
    md5: str
    size: int


class Hasher:
    """Incremental sha256 + md5, for hashing while a download streams."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._sha.update(chunk)
        self._md5.update(chunk)
        self.size += len(chunk)

    def digests(self) -> Digests:
        return Digests(self._sha.hexdigest(), self._md5.hexdigest(), self.size)


def hash_file(path: str | os.PathLike, on_chunk: Callable[[int], None] | None = None) -> Digests:
    """sha256 and md5 of a file, read once in 1 MiB chunks."""
    hasher = Hasher()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            hasher.update(chunk)
            if on_chunk is not None:
                on_chunk(len(chunk))
    return hasher.digests()


class HashMemo:
    """Digests of the store's files, remembered per (relative path, size, mtime_ns).

    Parameters
    ----------
    root : Path
        The store root; keys are paths relative to it, so a copied store keeps its memo
        (a copy that changes mtimes just re-hashes once).
    filename : str
        The sidecar's name inside ``root``.
    """

    def __init__(self, root: Path, filename: str = ".hashes.json"):
        self.root = Path(root)
        self.path = self.root / filename
        self._entries: dict[str, dict] | None = None

    def _load(self) -> dict[str, dict]:
        if self._entries is None:
            try:
                self._entries = json.loads(self.path.read_text())
            except (OSError, ValueError):
                self._entries = {}  # a lost or damaged memo only costs a re-hash
        return self._entries

    def key(self, path: Path) -> str:
        """The memo key of ``path``: relative to the root when inside it."""
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return str(Path(path).absolute())

    def digests(self, path: Path, *, refresh: bool = False,
                on_chunk: Callable[[int], None] | None = None) -> Digests:
        """The file's digests: from the memo when its size and mtime match, else computed and kept."""
        st = os.stat(path)
        key = self.key(path)
        entry = self._load().get(key)
        if (not refresh and entry and entry.get("size") == st.st_size
                and entry.get("mtime_ns") == st.st_mtime_ns):
            return Digests(entry["sha256"], entry["md5"], st.st_size)
        digests = hash_file(path, on_chunk)
        self.record(path, digests)
        return digests

    def record(self, path: Path, digests: Digests) -> None:
        """Remember ``digests`` for ``path`` as it is now on disk."""
        st = os.stat(path)
        entries = self._load()
        entries[self.key(path)] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns,
                                    "sha256": digests.sha256, "md5": digests.md5}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path, entries)

    def forget(self, path: Path) -> None:
        entries = self._load()
        if entries.pop(self.key(path), None) is not None:
            write_json_atomic(self.path, entries)
