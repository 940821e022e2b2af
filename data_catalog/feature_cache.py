"""Per-video frame features cached as Parquet files (SPEC stage 6).

A cache entry is keyed by :class:`FeatureKey`: the content hash of the video,
the encoder, its weights revision, the frame rate and the encoder's window
length. The same video with the same key is encoded once; changing any part
of the key (e.g. new weights) is a different entry and is recomputed.

Layout (hive partitioning, so ``pyarrow.dataset``, pandas and duckdb's
``read_parquet(..., hive_partitioning=true)`` add ``dataset`` and ``split``
columns)::

    <root>/dataset=<dataset>/split=<split>/<encoder>/<key digest>.parquet

One file per (video, key). **One row per frame**, with the frame's vector in a
``features`` column of type ``pa.fixed_shape_tensor(pa.float16(), [D])``.
Rows per frame rather than per window because:

* encoders produce one vector per frame (:class:`folai_models.encoders.base.FrameEncoder`),
  so a read is a single ``to_numpy_ndarray()`` giving ``[T, D]``, with no
  padding of a last partial window and no ``n_valid_frames`` bookkeeping;
* the tensor shape depends on the encoder's ``D`` only, not on the window
  length, so files of one encoder with different windows, frame rates or
  revisions still form one table with one schema;
* SQL users get a natural (video, frame) grain to join with envelopes.

The window is still recorded: ``window_frames`` and ``window_index`` (=
``frame_index // window_frames``) are columns.

Other columns: ``video_sha256``, ``encoder``, ``weights_revision``,
``frame_rate``, ``window_frames``, ``frame_index``, ``window_index``,
``time_s``, ``n_frames`` (frames in the whole entry), ``feature_dim`` and
``created_at``. Dataset and split live in the path only (a column of the same
name inside the file would clash with the hive partition column).

Integrity. The file's schema metadata (``sonorize.feature_cache``) holds the
format version, the key, the shape and the sha256 of the float16 tensor bytes;
Parquet page checksums are written and verified as well. :meth:`FeatureCache.get`
checks all of it, and a file that is unreadable, truncated, holds another key
or fails a checksum is logged, deleted and reported as a miss, so the caller
recomputes rather than using a wrong feature. Nothing is kept in memory
between calls, so a file deleted by hand is a miss at once.

Storage is float16 (half the bytes; encoder outputs are normalised). Values
that would overflow float16 (``|x| > 65504``) and non-finite values are a
``ValueError`` rather than a silent clip to 65504 or inf: either means the
encoder is broken or its output needs scaling, and caching it would hide that.
Reads return float32.

Writes are atomic (temporary file + ``os.replace``). The temporary file's
name starts with a dot and does not end in ``.parquet``, so globs like
``**/*.parquet`` (duckdb) and ``pyarrow.dataset`` never pick up a half-written
file from a concurrent run or a killed one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from data_catalog.atomic import atomic_path
from data_catalog.errors import OptionError
from data_catalog.settings import get_settings

if TYPE_CHECKING:
    import pyarrow.dataset as ds

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
METADATA_KEY = b"sonorize.feature_cache"
FLOAT16_MAX = float(np.finfo(np.float16).max)  # 65504
FEATURES_COLUMN = "features"
# Frames per Parquet row group, written and read one at a time: Arrow's buffers are those of a row group,
# not of the whole video (one group of an hour's 108,000 frames x 73 took 169 MB of Arrow memory to write).
ROW_GROUP_FRAMES = 1 << 14

# Path segments (encoder folder, partition values): no "/", "=", ".." or URL escapes,
# so the hive partition values read back exactly as written.
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")

PARTITION_SCHEMA = pa.schema([("dataset", pa.string()), ("split", pa.string())])

# Every column but the tensor (whose type depends on the feature dimension).
BASE_SCHEMA = pa.schema([
    ("video_sha256", pa.string()),
    ("encoder", pa.string()),
    ("weights_revision", pa.string()),
    ("frame_rate", pa.float64()),
    ("window_frames", pa.int32()),
    ("frame_index", pa.int32()),
    ("window_index", pa.int32()),
    ("time_s", pa.float64()),
    ("n_frames", pa.int32()),
    ("feature_dim", pa.int32()),
    ("created_at", pa.timestamp("us", tz="UTC")),
])


def _check_segment(what: str, value: object) -> str:
    if not isinstance(value, str) or not _SEGMENT.fullmatch(value):
        raise OptionError(f"{what} must match {_SEGMENT.pattern} (it is a folder name), got {value!r}")
    return value


@dataclass(frozen=True)
class FeatureKey:
    """What a cached feature array depends on.

    Parameters
    ----------
    video_sha256 : str
        Content hash of the video file (:func:`data_catalog.hashing.sha256_file`), 64 hex digits.
    encoder : str
        Encoder registry name (also the cache folder name).
    weights_revision : str
        The encoder's ``revision()``: a weights hash, ``"random"`` or ``"none"``.
    frame_rate : float
        Frames per second the video was sampled at before encoding.
    window_frames : int
        Frames per encoder window (features of a frame depend on its window).
    """

    video_sha256: str
    encoder: str
    weights_revision: str
    frame_rate: float
    window_frames: int

    def __post_init__(self) -> None:
        # Normalise so that equal keys have equal digests (8 vs 8.0, upper vs lower hex).
        sha = self.video_sha256.lower() if isinstance(self.video_sha256, str) else self.video_sha256
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            raise ValueError(f"video_sha256 must be 64 hex digits, got {self.video_sha256!r}")
        object.__setattr__(self, "video_sha256", sha)
        _check_segment("encoder", self.encoder)
        if not isinstance(self.weights_revision, str) or not self.weights_revision:
            raise ValueError(f"weights_revision must be a non-empty string, got {self.weights_revision!r}")
        if isinstance(self.frame_rate, bool):
            raise ValueError(f"frame_rate must be a number, got {self.frame_rate!r}")
        try:
            rate = float(self.frame_rate)
        except (TypeError, ValueError):
            raise ValueError(f"frame_rate must be a number, got {self.frame_rate!r}") from None
        if not math.isfinite(rate) or rate <= 0:
            raise ValueError(f"frame_rate must be finite and > 0, got {self.frame_rate!r}")
        object.__setattr__(self, "frame_rate", rate)
        window = self.window_frames
        if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
            raise ValueError(f"window_frames must be an integer >= 1, got {window!r}")
        object.__setattr__(self, "window_frames", int(window))

    def to_dict(self) -> dict:
        """The key as plain JSON values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FeatureKey:
        """Inverse of :meth:`to_dict`."""
        return cls(**{name: data[name] for name in
                      ("video_sha256", "encoder", "weights_revision", "frame_rate", "window_frames")})

    @property
    def digest(self) -> str:
        """Stable 16-hex-digit hash of the key (the cache file's name)."""
        # repr of the float is exact and stable across runs and platforms.
        text = json.dumps({**self.to_dict(), "frame_rate": repr(self.frame_rate)}, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class CacheEntry:
    """One cache file, described from its footer (no feature data read)."""

    path: Path
    dataset: str
    split: str
    key: FeatureKey
    n_frames: int
    feature_dim: int
    created_at: str
    size_bytes: int


class InvalidCacheFile(Exception):
    """A cache file that must not be used; ``str()`` is ``"<path>: <reason>"``."""

    def __init__(self, path: Path, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def _tensor_sha256(features16: np.ndarray) -> str:
    # Little-endian bytes so the checksum is the same on every machine.
    # hashed from the array's own buffer: no copy of an hour's features
    return hashlib.sha256(np.ascontiguousarray(features16, dtype="<f2")).hexdigest()


def _to_float16(features: np.ndarray) -> np.ndarray:
    """``features`` [T, D] as float16, or a ValueError saying what is wrong with them."""
    array = np.asarray(features)
    if array.ndim != 2:
        raise ValueError(f"features must be 2-D [frames, dim], got shape {array.shape}")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"features must have at least one frame and one dimension, got shape {array.shape}")
    if array.dtype.kind not in "fiu":
        raise ValueError(f"features must be real numbers, got dtype {array.dtype}")
    # checked a block of rows at a time: the temporaries (|x|, masks) of a block, not of an hour of features
    bad = [(int((~np.isfinite(block)).sum()), int((np.abs(block) > FLOAT16_MAX).sum()))
           for block in (array[start : start + ROW_GROUP_FRAMES] for start in range(0, len(array), ROW_GROUP_FRAMES))]
    non_finite, over = (sum(counts) for counts in zip(*bad))
    if non_finite:
        raise ValueError(f"features hold {non_finite} non-finite values (NaN/inf); not caching them")
    if over:
        raise ValueError(
            f"{over} feature values exceed the float16 range (max |x| = "
            f"{float(np.abs(array).max()):.6g} > {FLOAT16_MAX:g}); scale or normalise the features before caching"
        )
    return array.astype(np.float16)


def _rows(key: FeatureKey, features16: np.ndarray, start: int, created: datetime, schema: pa.Schema) -> pa.Table:
    """Rows ``start`` .. ``start + ROW_GROUP_FRAMES`` of a cache file (one row group) as an Arrow table."""
    n_frames, dim = features16.shape
    frame_index = np.arange(start, min(start + ROW_GROUP_FRAMES, n_frames), dtype=np.int32)
    n = len(frame_index)
    columns = {
        "video_sha256": pa.array([key.video_sha256] * n, pa.string()),
        "encoder": pa.array([key.encoder] * n, pa.string()),
        "weights_revision": pa.array([key.weights_revision] * n, pa.string()),
        "frame_rate": pa.array(np.full(n, key.frame_rate)),
        "window_frames": pa.array(np.full(n, key.window_frames, dtype=np.int32)),
        "frame_index": pa.array(frame_index),
        "window_index": pa.array(frame_index // key.window_frames),
        "time_s": pa.array(frame_index / key.frame_rate),
        "n_frames": pa.array(np.full(n, n_frames, dtype=np.int32)),
        "feature_dim": pa.array(np.full(n, dim, dtype=np.int32)),
        "created_at": pa.array([created] * n, pa.timestamp("us", tz="UTC")),
        FEATURES_COLUMN: pa.FixedShapeTensorArray.from_numpy_ndarray(features16[start : start + n]),
    }
    return pa.Table.from_pydict(columns, schema=schema)


def _release_arrow_memory() -> None:
    """Hand the memory Arrow's allocator keeps after a write or read back to the OS.

    Its default allocator (mimalloc here) keeps freed blocks for reuse: after an hour's
    features were written, ~160 MB stayed resident that nothing used again.
    """
    pa.default_memory_pool().release_unused()


class FeatureCache:
    """Frame features on disk, one Parquet file per (video, key, dataset, split).

    Parameters
    ----------
    root : path, optional
        Cache folder; default ``get_settings().cache_dir / "features"``.
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else get_settings().cache_dir / "features"

    def path_for(self, key: FeatureKey, dataset: str = "default", split: str = "all") -> Path:
        """Where the entry for ``key`` in ``dataset``/``split`` lives (whether or not it exists)."""
        _check_segment("dataset", dataset)
        _check_segment("split", split)
        return self.root / f"dataset={dataset}" / f"split={split}" / key.encoder / f"{key.digest}.parquet"

    # -- write -------------------------------------------------------------------------------

    def put(self, key: FeatureKey, features: np.ndarray, dataset: str = "default", split: str = "all") -> Path:
        """Store ``features`` [T, D] for ``key`` atomically (replacing any earlier entry).

        Returns
        -------
        Path of the cache file.

        Raises
        ------
        ValueError
            Features not 2-D, empty, non-finite or beyond the float16 range.
        """
        path = self.path_for(key, dataset, split)
        self._write(path, key, _to_float16(features))
        return path

    def _write(self, path: Path, key: FeatureKey, features16: np.ndarray) -> None:
        """Write float16 ``features16`` [T, D] for ``key`` to ``path`` atomically, a row group at a time."""
        n_frames, dim = features16.shape
        created = datetime.now(timezone.utc)
        meta = {
            "format_version": FORMAT_VERSION,
            "key": key.to_dict(),
            "digest": key.digest,
            "n_frames": n_frames,
            "feature_dim": dim,
            "dtype": "float16",
            "tensor_sha256": _tensor_sha256(features16),
            "created_at": created.isoformat(),
        }
        schema = BASE_SCHEMA.append(pa.field(FEATURES_COLUMN, pa.fixed_shape_tensor(pa.float16(), [dim]))).with_metadata(
            {METADATA_KEY: json.dumps(meta, sort_keys=True).encode("utf-8")}
        )
        with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema, write_page_checksum=True) as writer:
            for start in range(0, n_frames, ROW_GROUP_FRAMES):
                writer.write_table(_rows(key, features16, start, created, schema))
        _release_arrow_memory()

    # -- read --------------------------------------------------------------------------------

    def get(self, key: FeatureKey, dataset: str = "default", split: str = "all") -> np.ndarray | None:
        """The cached features for ``key`` as float32 [T, D], or None on a miss.

        A file that exists but cannot be trusted (unreadable, truncated, other
        key, checksum mismatch) is logged as a warning, deleted and reported
        as a miss, so the caller recomputes.
        """
        path = self.path_for(key, dataset, split)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        try:
            return self._read_verified(path, key)
        except FileNotFoundError:
            return None  # deleted between stat and read: a plain miss
        except InvalidCacheFile as error:
            self._discard(path, stat, error.reason)
            return None

    def contains(self, key: FeatureKey, dataset: str = "default", split: str = "all") -> bool:
        """Whether an entry for ``key`` exists and its footer names that key.

        Only the footer is read (cheap); the feature checksum is verified by
        :meth:`get`, which is what a run should rely on.
        """
        path = self.path_for(key, dataset, split)
        try:
            meta = _read_footer_meta(path)
        except (FileNotFoundError, InvalidCacheFile):
            return False
        return meta.get("key") == key.to_dict()

    def get_or_compute(self, key: FeatureKey, compute: Callable[[], np.ndarray], dataset: str = "default",
                       split: str = "all") -> tuple[np.ndarray, bool]:
        """Cached features for ``key``, else ``compute()`` them and store them.

        Returns
        -------
        (features float32 [T, D], cached) where ``cached`` says no computation ran.
        A fresh result is rounded through float16 so a first run and a cached
        run give bit-identical features.
        """
        cached = self.get(key, dataset, split)
        if cached is not None:
            return cached, True
        features16 = _to_float16(compute())  # the float32 original is not kept: the float16 copy is returned
        self._write(self.path_for(key, dataset, split), key, features16)
        return features16.astype(np.float32), False

    def delete(self, key: FeatureKey, dataset: str = "default", split: str = "all") -> bool:
        """Remove the entry for ``key``; True if there was one."""
        try:
            self.path_for(key, dataset, split).unlink()
        except FileNotFoundError:
            return False
        return True

    # -- listing and tables ------------------------------------------------------------------

    def _files(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        # Dot-names are temporary files of writes under way (or killed).
        return sorted(p for p in self.root.glob("dataset=*/split=*/*/*.parquet") if not p.name.startswith("."))

    def entries(self) -> list[CacheEntry]:
        """Every cache file, described from its footer; unreadable files are logged and skipped."""
        found = []
        for path in self._files():
            try:
                meta = _read_footer_meta(path)
                key = FeatureKey.from_dict(meta["key"])
                entry = CacheEntry(
                    path=path,
                    dataset=path.parts[-4].split("=", 1)[1],
                    split=path.parts[-3].split("=", 1)[1],
                    key=key,
                    n_frames=int(meta["n_frames"]),
                    feature_dim=int(meta["feature_dim"]),
                    created_at=str(meta["created_at"]),
                    size_bytes=path.stat().st_size,
                )
            except FileNotFoundError:
                continue
            except (InvalidCacheFile, KeyError, TypeError, ValueError) as error:
                log.warning("feature cache: %s: skipped in listing (%s)", path, error)
                continue
            found.append(entry)
        return found

    def open_dataset(self, *, dataset: str | None = None, split: str | None = None, encoder: str | None = None,
                     features: bool = True) -> ds.Dataset:
        """A ``pyarrow.dataset.Dataset`` over the cache files, with ``dataset`` and ``split`` columns.

        Parameters
        ----------
        dataset, split, encoder : str, optional
            Only files of this dataset / split / encoder.
        features : bool
            Include the ``features`` tensor column. Encoders with different
            feature sizes have different tensor types, which one Arrow table
            cannot hold: filter by ``encoder`` or pass ``features=False``.

        Unreadable files are logged and left out (:meth:`get` deletes them).

        Raises
        ------
        ValueError
            ``features=True`` over files whose tensor shapes differ.
        """
        import pyarrow.dataset as ds  # here, not at the top: it imports pandas (~1 s); writers never need it

        candidates = [
            p for p in self._files()
            if (dataset is None or p.parts[-4] == f"dataset={dataset}")
            and (split is None or p.parts[-3] == f"split={split}")
            and (encoder is None or p.parts[-2] == encoder)
        ]
        # Footers only: a broken file is left out (with a warning) rather than failing the whole scan.
        files, tensor_types = [], {}
        for path in candidates:
            try:
                tensor_type = pq.read_schema(path).field(FEATURES_COLUMN).type
                if not isinstance(tensor_type, pa.FixedShapeTensorType):
                    raise TypeError(f"features column is {tensor_type}")
            except FileNotFoundError:
                continue
            except (OSError, KeyError, TypeError, pa.ArrowException) as error:
                log.warning("feature cache: %s: left out of the dataset (%s)", path, error)
                continue
            files.append(path)
            tensor_types.setdefault(tensor_type, path.parts[-2])
        schema = pa.unify_schemas([BASE_SCHEMA, PARTITION_SCHEMA])
        if features and tensor_types:
            if len(tensor_types) > 1:
                shapes = ", ".join(f"{enc}: {list(t.shape)}" for t, enc in tensor_types.items())
                raise ValueError(
                    f"{self.root}: cache files hold tensors of different shapes ({shapes}); "
                    "pass encoder=... or features=False"
                )
            schema = schema.append(pa.field(FEATURES_COLUMN, next(iter(tensor_types))))
        return ds.dataset(
            [str(p) for p in files],
            schema=schema,
            format="parquet",
            partitioning=ds.partitioning(PARTITION_SCHEMA, flavor="hive"),
            partition_base_dir=str(self.root),
        )

    # -- internals ---------------------------------------------------------------------------

    def _read_verified(self, path: Path, key: FeatureKey) -> np.ndarray:
        try:
            parquet = pq.ParquetFile(path, page_checksum_verification=True)
            schema = parquet.schema_arrow
            n_rows = parquet.metadata.num_rows
        except FileNotFoundError:
            raise
        except (OSError, pa.ArrowException, ValueError) as error:
            raise InvalidCacheFile(path, f"unreadable Parquet ({error})") from None
        meta = _parse_meta(path, schema.metadata)
        missing = [name for name in BASE_SCHEMA.names if name not in schema.names]
        if missing:
            raise InvalidCacheFile(path, f"missing columns {missing}")
        if meta.get("key") != key.to_dict():
            raise InvalidCacheFile(path, f"holds key {meta.get('key')}, expected {key.to_dict()}")
        n_frames, dim = meta.get("n_frames"), meta.get("feature_dim")
        if n_rows != n_frames:
            raise InvalidCacheFile(path, f"{n_rows} rows, footer says {n_frames} frames")
        column_type = schema.field(FEATURES_COLUMN).type if FEATURES_COLUMN in schema.names else None
        if not (isinstance(column_type, pa.FixedShapeTensorType) and column_type.value_type == pa.float16()
                and list(column_type.shape) == [dim]):
            raise InvalidCacheFile(path, f"features column is {column_type}, expected float16 tensors of [{dim}]")
        # one row group at a time into the one float16 array: Arrow holds a group, never the whole file
        features16 = np.empty((n_frames, dim), dtype=np.float16)
        done = 0
        try:
            for group in range(parquet.num_row_groups):
                table = parquet.read_row_group(group)
                self._check_rows(path, key, table, done)
                features16[done : done + table.num_rows] = table.column(FEATURES_COLUMN).combine_chunks() \
                    .to_numpy_ndarray()
                done += table.num_rows
                del table
        except (OSError, pa.ArrowException, ValueError) as error:
            raise InvalidCacheFile(path, f"unreadable Parquet ({error})") from None
        finally:
            _release_arrow_memory()
        if _tensor_sha256(features16) != meta.get("tensor_sha256"):
            raise InvalidCacheFile(path, "feature checksum mismatch (corrupted data)")
        return features16.astype(np.float32)

    @staticmethod
    def _check_rows(path: Path, key: FeatureKey, table: pa.Table, first_frame: int) -> None:
        """One row group's key columns must agree with the footer (a spliced file would not), its frames
        must be ``first_frame`` onwards, in order."""
        for name in ("video_sha256", "encoder", "weights_revision", "frame_rate", "window_frames"):
            values = table.column(name).unique().to_pylist()
            if table.num_rows and values != [getattr(key, name)]:
                raise InvalidCacheFile(path, f"column {name} holds {values[:3]}, expected {getattr(key, name)!r}")
        expected = np.arange(first_frame, first_frame + table.num_rows)
        if not np.array_equal(table.column("frame_index").to_numpy(), expected):
            raise InvalidCacheFile(path, "frame_index is not 0..T-1 in order")

    def _discard(self, path: Path, stat: os.stat_result, reason: str) -> None:
        log.warning("feature cache: %s: %s; deleting it, the features will be recomputed", path, reason)
        try:
            now = path.stat()
            # A concurrent put may have replaced the bad file with a good one: leave that alone.
            if (now.st_ino, now.st_mtime_ns) != (stat.st_ino, stat.st_mtime_ns):
                return
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as error:
            log.warning("feature cache: %s: could not delete (%s)", path, error)


def _parse_meta(path: Path, metadata: dict | None) -> dict:
    raw = (metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise InvalidCacheFile(path, "no feature-cache metadata in the Parquet footer")
    try:
        meta = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidCacheFile(path, f"feature-cache metadata is not JSON ({error})") from None
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        version = meta.get("format_version") if isinstance(meta, dict) else None
        raise InvalidCacheFile(path, f"cache format version {version!r}, this code reads {FORMAT_VERSION}")
    return meta


def _read_footer_meta(path: Path) -> dict:
    try:
        schema = pq.read_schema(path)
    except FileNotFoundError:
        raise
    except (OSError, pa.ArrowException, ValueError) as error:
        raise InvalidCacheFile(path, f"unreadable Parquet footer ({error})") from None
    return _parse_meta(path, schema.metadata)
