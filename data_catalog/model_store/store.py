"""The local model store: where each registered weight lives, whether it is intact, and ``pull``.

Nothing here downloads implicitly: :meth:`ModelStore.require` (what run-time code calls)
only looks, and raises :class:`MissingWeightsError` naming the file and the pull command.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from data_catalog.atomic import atomic_path, write_json_atomic
from data_catalog.model_store import hf_cache
from data_catalog.model_store.downloads import Progress, download_hf, download_url, expected_mismatch, progress_reporter
from data_catalog.model_store.errors import (CorruptWeightsError, ManualDownloadRequired, MissingWeightsError,
                                             ModelStoreError, WeightHashMismatchError, pull_command)
from data_catalog.model_store.file_hashes import CHUNK_BYTES, Digests, Hasher, HashMemo
from data_catalog.model_store.registry import REGISTRY, WeightFile, WeightSpec, get_spec

Status = Literal["present", "missing", "corrupt"]
_RANK = {"present": 0, "missing": 1, "corrupt": 2}


@dataclass(frozen=True)
class FileCheck:
    """The state of one file of a weight."""

    file: WeightFile
    path: Path
    status: Status
    reason: str = ""


class ModelStore:
    """Pretrained weights under one folder.

    Parameters
    ----------
    root : path, optional
        The store folder; default: the ``model_dir`` setting (``SONORIZE_MODEL_DIR``).
    registry : mapping of str to WeightSpec, optional
        The weights it knows; default: :data:`REGISTRY` (tests inject small fake ones).
    hf_endpoint : str, optional
        Hub address for pulls (a mirror); default: ``HF_ENDPOINT`` or huggingface.co.
    """

    def __init__(self, root: str | os.PathLike | None = None, registry: Mapping[str, WeightSpec] | None = None,
                 *, hf_endpoint: str | None = None):
        if root is None:
            from data_catalog.settings import get_settings

            root = get_settings().model_dir
        self.root = Path(root).expanduser()
        self.registry: Mapping[str, WeightSpec] = REGISTRY if registry is None else registry
        self._memo = HashMemo(self.root)
        self._pulled_path = self.root / "pulled.json"
        self.hf_endpoint = hf_endpoint

    def __repr__(self) -> str:
        return f"ModelStore({str(self.root)!r})"

    # -- layout ---------------------------------------------------------------------------

    @property
    def hf_cache_dir(self) -> Path:
        """The hub cache (``HF_HUB_CACHE``) inside the store."""
        return hf_cache.hf_hub_cache(self.root)

    @property
    def checkpoints_dir(self) -> Path:
        """Where URL downloads lie: ``TORCH_HOME/hub/checkpoints``, as torch.hub expects."""
        return hf_cache.torch_home(self.root) / "hub" / "checkpoints"

    def names(self) -> list[str]:
        return list(self.registry)

    def spec(self, name: str) -> WeightSpec:
        return get_spec(name, self.registry)

    def _repo_dir(self, spec: WeightSpec) -> Path:
        assert spec.hub is not None
        return self.hf_cache_dir / hf_cache.repo_folder_name(spec.hub.repo_id, spec.hub.repo_type)

    def snapshot_dir(self, name: str) -> Path:
        """The snapshot folder of a Hugging Face item (what ``from_pretrained`` reads)."""
        spec = self.spec(name)
        if spec.hub is None:
            raise ValueError(f"{name!r} is not a Hugging Face item")
        repo = self._repo_dir(spec)
        return repo / "snapshots" / hf_cache.resolve_snapshot(repo, spec.hub.revision)

    def _file_path(self, spec: WeightSpec, wf: WeightFile) -> Path:
        if spec.hub is not None:
            return self.snapshot_dir(spec.name) / Path(*wf.filename.split("/"))
        return self.checkpoints_dir / wf.filename

    def path(self, name: str) -> Path:
        """Where the weight's (first) file lies or will lie; nothing is checked."""
        spec = self.spec(name)
        return self._file_path(spec, spec.files[0])

    def paths(self, name: str) -> list[Path]:
        spec = self.spec(name)
        return [self._file_path(spec, wf) for wf in spec.files]

    # -- state ----------------------------------------------------------------------------

    def _pulled(self) -> dict[str, dict]:
        try:
            return json.loads(self._pulled_path.read_text())
        except (OSError, ValueError):
            return {}

    def _record_pull(self, path: Path, name: str, digests: Digests, source: str) -> None:
        pulled = self._pulled()
        pulled[self._memo.key(path)] = {"name": name, "size": digests.size, "sha256": digests.sha256,
                                         "source": source, "pulled_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        write_json_atomic(self._pulled_path, pulled)

    def _check_file(self, spec: WeightSpec, wf: WeightFile, *, rehash: bool, pulled: dict) -> FileCheck:
        path = self._file_path(spec, wf)
        try:
            size = path.stat().st_size
        except OSError:
            return FileCheck(wf, path, "missing", "not in the store")
        recorded = pulled.get(self._memo.key(path), {})
        expected_size = wf.size if wf.size is not None else recorded.get("size")
        if expected_size is not None and size != expected_size:
            return FileCheck(wf, path, "corrupt", f"size {size} bytes, expected {expected_size}")
        if not (wf.has_published_hash or recorded.get("sha256")):
            return FileCheck(wf, path, "present", "no hash known (size only)" if expected_size else "no size or hash known")
        digests = self._memo.digests(path, refresh=rehash)
        mismatch = expected_mismatch(wf, digests, recorded.get("sha256"))
        if mismatch is not None:
            kind, expected, actual = mismatch
            return FileCheck(wf, path, "corrupt", f"{kind} {actual}, expected {expected}")
        return FileCheck(wf, path, "present", "hash ok")

    def check(self, name: str, *, rehash: bool = False) -> list[FileCheck]:
        """Per-file state of weight ``name`` (hashes from the memo unless ``rehash``)."""
        spec = self.spec(name)
        pulled = self._pulled()
        return [self._check_file(spec, wf, rehash=rehash, pulled=pulled) for wf in spec.files]

    def status(self, name: str) -> Status:
        """``"present"``, ``"missing"`` (any file absent) or ``"corrupt"`` (a size or hash differs)."""
        return max((c.status for c in self.check(name)), key=_RANK.__getitem__)

    def verify(self, names: Iterable[str] | None = None) -> dict[str, Status]:
        """Re-read every file of ``names`` (default: all) and check it; returns name -> status."""
        return {name: max((c.status for c in self.check(name, rehash=True)), key=_RANK.__getitem__)
                for name in (self.names() if names is None else names)}

    def require(self, name: str) -> Path:
        """The path of weight ``name``, after checking it is whole; what run-time code calls.

        Raises
        ------
        MissingWeightsError
            A file is not in the store (message: the path and ``sonorize models pull NAME``).
        CorruptWeightsError
            A file's size or hash differs from the registry's or the first pull's.
        """
        for c in self.check(name):
            if c.status == "missing":
                raise MissingWeightsError(c.path, name)
            if c.status == "corrupt":
                raise CorruptWeightsError(c.path, c.reason, name)
        return self.path(name)

    def sha256(self, name: str) -> str:
        """The sha256 of weight ``name``'s (first) file, after :meth:`require` (remembered per size and mtime).

        What a cache keyed by "these weights" uses: a re-pulled or replaced file changes it.
        """
        return self._memo.digests(self.require(name)).sha256

    def load_state_dict(self, name: str, **kwargs):
        """:func:`loading.load_state_dict` on the checked file, with the entry's inert globals."""
        from data_catalog.model_store.loading import load_state_dict

        spec = self.spec(name)
        kwargs.setdefault("inert_globals", spec.inert_globals)
        return load_state_dict(self.require(name), name=name, **kwargs)

    # -- fetching -------------------------------------------------------------------------

    def pull(self, name: str, *, progress: Progress = True, force: bool = False) -> Path:
        """Download weight ``name`` into the store (the only code path that downloads).

        Files already present and intact are skipped unless ``force``. URL files stream to a
        temporary file, are checked, then renamed into place; hub files go through
        ``hf_hub_download`` and are checked after. A failed check leaves nothing behind.

        Raises
        ------
        WeightDownloadError
            No network, a gated or missing repository; :class:`ManualDownloadRequired`
            for items only a person can fetch (then use :meth:`add_file`).
        WeightHashMismatchError
            The downloaded bytes are not the registered ones.
        """
        spec = self.spec(name)
        pulled = self._pulled()
        todo = [wf for wf in spec.files
                if force or self._check_file(spec, wf, rehash=False, pulled=pulled).status != "present"]
        if todo and spec.hub is None and spec.manual_url is not None:
            raise ManualDownloadRequired(
                spec.manual_url,
                f"{name!r} is published where no program can fetch it: download "
                f"{', '.join(wf.filename for wf in todo)} from {spec.manual_url} in a browser, then run "
                f"`{pull_command(name)} --from FILE`")
        for wf in todo:
            if spec.hub is not None:
                # a damaged file already in the cache would be returned as is: fetch it anew
                self._pull_hub_file(spec, wf, progress, force_download=force or self._file_path(spec, wf).exists())
            else:
                dest = self._file_path(spec, wf)
                digests = download_url(wf.url or "", dest, wf, name=name, progress=progress)
                self._memo.record(dest, digests)
                self._record_pull(dest, name, digests, wf.url or "")
        return self.path(name)

    def _pull_hub_file(self, spec: WeightSpec, wf: WeightFile, progress: Progress, *, force_download: bool) -> None:
        hub = spec.hub
        assert hub is not None
        got = download_hf(hub, wf.filename, self.hf_cache_dir, name=spec.name, progress=progress,
                          force_download=force_download, endpoint=self.hf_endpoint)
        repo = self._repo_dir(spec)
        commit = got.relative_to(repo / "snapshots").parts[0]
        digests = self._hash_with_progress(got, spec.name, progress)
        mismatch = expected_mismatch(wf, digests)
        if mismatch is not None:
            _remove_snapshot_file(got)
            raise WeightHashMismatchError(got, *mismatch, name=spec.name)
        # Libraries ask for revision "main": point it at the commit we pinned (or got).
        hf_cache.write_ref(repo, "main", commit)
        if not hf_cache.COMMIT_RE.fullmatch(hub.revision):
            hf_cache.write_ref(repo, hub.revision, commit)
        self._memo.record(got, digests)
        self._record_pull(got, spec.name, digests, f"{hub.web_url}@{commit}")

    def _hash_with_progress(self, path: Path, name: str, progress: Progress) -> Digests:
        with progress_reporter(progress, f"{name}: checking {path.name}", path.stat().st_size) as advance:
            return self._memo.digests(path, refresh=True, on_chunk=advance)

    def add_file(self, name: str, source: str | os.PathLike, *, force: bool = False) -> Path:
        """Copy a file fetched by hand (``pull NAME --from FILE``) into its place, checked like a pull.

        The file is matched to the entry's files by name (any name when the entry has one file).
        """
        spec = self.spec(name)
        source = Path(source)
        if not source.is_file():
            raise ModelStoreError(source, "no such file to add to the model store")
        matches = [wf for wf in spec.files if Path(wf.filename).name == source.name]
        if not matches and len(spec.files) == 1:
            matches = list(spec.files)
        if not matches:
            raise ModelStoreError(source, f"not one of {name!r}'s files "
                                          f"({', '.join(Path(f.filename).name for f in spec.files)})")
        wf = matches[0]
        if spec.hub is not None:
            repo = self._repo_dir(spec)
            snapshot = hf_cache.resolve_snapshot(repo, spec.hub.revision)
            dest = repo / "snapshots" / snapshot / Path(*wf.filename.split("/"))
        else:
            dest = self._file_path(spec, wf)
        if dest.exists() and not force:
            check = self._check_file(spec, wf, rehash=False, pulled=self._pulled())
            if check.status == "present":
                return dest
        digests = _copy_checked(source, dest, wf, name)
        if spec.hub is not None:
            hf_cache.write_ref(repo, "main", snapshot)
        self._memo.record(dest, digests)
        self._record_pull(dest, name, digests, f"file://{source.absolute()}")
        return dest


def _copy_checked(source: Path, dest: Path, wf: WeightFile, name: str) -> Digests:
    """Copy ``source`` to a temporary file beside ``dest``, check it, rename it into place."""
    with atomic_path(dest) as tmp:  # a mismatching copy is removed, never renamed into place
        hasher = Hasher()
        with open(tmp, "wb") as out, open(source, "rb") as src:
            while chunk := src.read(CHUNK_BYTES):
                out.write(chunk)
                hasher.update(chunk)
        digests = hasher.digests()
        mismatch = expected_mismatch(wf, digests)
        if mismatch is not None:
            raise WeightHashMismatchError(source, *mismatch, name=name)
    return digests


def _remove_snapshot_file(path: Path) -> None:
    """Delete a hub-cache file and the blob its symlink points at."""
    blob = path.resolve() if path.is_symlink() else None
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    if blob is not None:
        with contextlib.suppress(FileNotFoundError):
            blob.unlink()

