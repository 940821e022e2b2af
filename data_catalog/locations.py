"""Input and output locations as URLs: a local folder, or any fsspec store (``s3://``...).

A :class:`Location` is a root URL; everything below it is addressed by a
relative *key* with ``/`` separators. Local folders are the default; S3 and
S3-compatible servers go through s3fs, configured the standard AWS way
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL`` for
MinIO, moto, Ceph...), so no secret ever travels in a flow parameter.

Writes are whole-object: on a local folder through :mod:`data_catalog.atomic`
(temporary file + rename), on S3 a PUT (or a multipart upload) that becomes
visible only once complete. ``put_exclusive`` creates an object only if it
does not exist yet (``O_EXCL``-style link locally, ``If-None-Match: *`` on S3):
the primitive the claim records are built on.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem

from data_catalog.atomic import atomic_path, write_bytes_atomic


@dataclass(frozen=True)
class ObjectInfo:
    """One object below a location: its relative key and what identifies its content."""

    key: str
    size: int
    etag: str  # the store's ETag; local files: size and mtime in ns (changes on every rewrite)
    modified: datetime  # timezone-aware

    def age_s(self, now: datetime | None = None) -> float:
        return ((now or datetime.now(timezone.utc)) - self.modified).total_seconds()

    def to_dict(self) -> dict:
        return {"key": self.key, "size": self.size, "etag": self.etag, "modified": self.modified.isoformat()}

    @classmethod
    def from_dict(cls, data: dict) -> "ObjectInfo":
        return cls(key=data["key"], size=int(data["size"]), etag=str(data["etag"]),
                   modified=datetime.fromisoformat(data["modified"]))


def is_url(path: str | os.PathLike) -> bool:
    """True for ``scheme://...`` (not for local paths or ``file://``)."""
    text = str(path)
    return "://" in text and not text.startswith("file://")


class Location:
    """A root folder or prefix, local or in an object store, addressed by relative keys."""

    def __init__(self, url: str | os.PathLike, storage_options: dict | None = None):
        self.url = str(url).rstrip("/") or "/"
        if is_url(self.url):
            self.fs, self.root = fsspec.core.url_to_fs(self.url, **(storage_options or {}))
        else:
            self.fs = LocalFileSystem()
            self.root = str(Path(self.url.removeprefix("file://")).expanduser().resolve())
        self.root = self.root.rstrip("/")
        self.is_local = isinstance(self.fs, LocalFileSystem)

    def __repr__(self) -> str:
        return f"Location({self.url!r})"

    def path(self, key: str) -> str:
        """The store path of ``key`` (callers validate keys that come from outside)."""
        return f"{self.root}/{key}" if key else self.root

    def url_of(self, key: str) -> str:
        """A URL (or local path) naming ``key``, usable as a flow parameter."""
        return self.path(key) if self.is_local else f"{self.url}/{key}"

    def child(self, key: str) -> "Location":
        new = object.__new__(Location)
        new.url, new.fs, new.is_local = f"{self.url}/{key}", self.fs, self.is_local
        new.root = self.path(key).rstrip("/")
        return new

    # --- reading -----------------------------------------------------------------------------
    def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Every object below ``prefix`` (recursive), sorted by key; fresh, never cached."""
        self.fs.invalidate_cache()
        base = self.path(prefix)
        try:
            found = self.fs.find(base, detail=True)
        except FileNotFoundError:
            return []
        infos = []
        for path, info in found.items():
            if info.get("type") == "directory":
                continue
            key = path[len(self.root) + 1:] if path.startswith(self.root + "/") else path
            infos.append(_object_info(key, info))
        return sorted(infos, key=lambda o: o.key)

    def info(self, key: str) -> ObjectInfo | None:
        """The object's current identity, or None when it does not exist."""
        self.fs.invalidate_cache(self.path(key))
        try:
            info = self.fs.info(self.path(key))
        except FileNotFoundError:
            return None
        return None if info.get("type") == "directory" else _object_info(key, info)

    def exists(self, key: str) -> bool:
        return self.info(key) is not None

    def read_bytes(self, key: str) -> bytes:
        return self.fs.cat_file(self.path(key))

    def get_file(self, key: str, local_path: str | os.PathLike) -> Path:
        """Copy ``key`` to a local file (atomically: a failed download leaves nothing)."""
        with atomic_path(local_path) as tmp:
            self.fs.get_file(self.path(key), str(tmp))
        return Path(local_path)

    # --- writing -----------------------------------------------------------------------------
    def put_bytes(self, key: str, data: bytes) -> None:
        """Write ``data`` to ``key`` as one whole object (replacing it)."""
        if self.is_local:
            write_bytes_atomic(self.path(key), data)
        else:
            self.fs.pipe_file(self.path(key), data)

    def put_file(self, local_path: str | os.PathLike, key: str) -> None:
        """Upload a local file to ``key`` as one whole object (replacing it)."""
        if self.is_local:
            with atomic_path(self.path(key)) as tmp:
                shutil.copyfile(local_path, tmp)
        else:
            self.fs.put_file(str(local_path), self.path(key))

    def put_files(self, files: dict[str, str | os.PathLike]) -> None:
        """Upload several local files (``{key: local path}``), each a whole object; concurrently on
        object stores (one round trip instead of one per file)."""
        if self.is_local:
            for key, local in files.items():
                self.put_file(local, key)
        elif files:
            keys = list(files)
            self.fs.put([str(files[k]) for k in keys], [self.path(k) for k in keys])

    def put_exclusive(self, key: str, data: bytes) -> bool:
        """Create ``key`` with ``data`` only if it does not exist; True when this call created it.

        Whole-object and exclusive: of several concurrent callers exactly one gets True and
        every reader sees the complete data of that one.
        """
        if self.is_local:
            destination = Path(self.path(key))
            destination.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.link(tmp, destination)  # fails with FileExistsError when it exists: atomic test-and-set
                return True
            except FileExistsError:
                return False
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
        try:
            self.fs.pipe_file(self.path(key), data, mode="create")  # PUT with If-None-Match: *
        except FileExistsError:
            return False
        finally:
            self.fs.invalidate_cache(self.path(key))
        return True

    def copy_from(self, source: "Location", source_key: str, key: str) -> None:
        """Copy an object from another location (server side when both share a store)."""
        if source.fs is self.fs or (not source.is_local and not self.is_local
                                    and type(source.fs) is type(self.fs)):
            if self.is_local:
                with atomic_path(self.path(key)) as tmp:
                    shutil.copyfile(source.path(source_key), tmp)
            else:
                self.fs.copy(source.path(source_key), self.path(key))
            return
        with tempfile.TemporaryDirectory(prefix="sonorize-copy-") as tmp:
            local = source.get_file(source_key, Path(tmp) / "object")
            self.put_file(local, key)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.path(key))


def _object_info(key: str, info: dict) -> ObjectInfo:
    if "ETag" in info or "LastModified" in info:  # s3fs
        modified = info.get("LastModified")
        etag = str(info.get("ETag", "")).strip('"')
    else:  # local and other stores: no ETag, use size + mtime
        mtime = info.get("mtime") or info.get("created") or 0.0
        modified = mtime if isinstance(mtime, datetime) else datetime.fromtimestamp(float(mtime), timezone.utc)
        etag = f"{int(info.get('size') or 0)}-{int(float(modified.timestamp()) * 1e9)}"
    if not isinstance(modified, datetime):
        modified = datetime.now(timezone.utc)
    if modified.tzinfo is None:
        modified = modified.replace(tzinfo=timezone.utc)
    return ObjectInfo(key=key, size=int(info.get("size") or 0), etag=etag, modified=modified)
