"""Per-video envelope targets, cached as Parquet files keyed by content.

A target is the RMS envelope of the video's own audio (16 kHz mono, frame
512, hop 128, reflect padding, 125 frames/s; SPEC stage 7) exactly as
:func:`tasks.media_tasks.reference_envelope` computes it: **unsmoothed** and
not quantized, since smoothing (kernel 15 or elliptic) and the mu-law classes
are choices of the trainer, which can change them without decoding any audio
again. Frames past the end of an audio track that stops early are zeros, and
``covered`` says which frames the audio really reached.

Key: the video's sha256 and :class:`TargetSpec` (whose ``id`` changes with
any parameter or the ``version``). Layout::

    <root>/<spec id>/<video sha256>.parquet

one row per envelope frame: ``video_sha256``, ``frame_index``, ``time_s``
(frame centre, ``(i + 0.5) / 125``), ``rms`` (float32) and ``covered``
(bool). The footer (``sonorize.target``) holds the spec, the frame count,
the seconds of audio covered, the source's duration and a sha256 of the RMS
bytes; :meth:`TargetCache.get` verifies them and deletes a file that fails
(a miss: the caller recomputes). Writes are atomic.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from data_catalog.atomic import atomic_path
from data_catalog.settings import get_settings

if TYPE_CHECKING:
    import pyarrow.dataset as ds

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
METADATA_KEY = b"sonorize.target"
_SHA256 = re.compile(r"[0-9a-f]{64}")

TARGET_SCHEMA = pa.schema([
    ("video_sha256", pa.string()),
    ("frame_index", pa.int32()),
    ("time_s", pa.float64()),
    ("rms", pa.float32()),
    ("covered", pa.bool_()),
])


@dataclass(frozen=True)
class TargetSpec:
    """How a target envelope is computed; any change is a new cache entry.

    Defaults are SPEC stage 7 (FolAI III-B, Video-Foley IV-B1), unsmoothed as
    the SPEC's E-L1 metric uses it. Bump ``version`` when the computation
    changes without a parameter changing.
    """

    kind: str = "rms"
    sample_rate: int = 16000
    frame_length: int = 512
    hop_length: int = 128
    smoothing: str = "none"
    peak_normalised: bool = True  # audio whose peak exceeds 1 is scaled down (never up)
    version: int = 1
    source: str = "original"  # the video's own audio, or a separation cache key ("sep-...") for cleaned audio

    @property
    def frame_rate(self) -> float:
        """Envelope frames per second (125 for the defaults)."""
        return self.sample_rate / self.hop_length

    @property
    def id(self) -> str:
        """Readable, unique folder name, e.g. ``rms-16000hz-f512-h128-none-v1`` (``...-v1-sep-<key>`` when separated)."""
        norm = "" if self.peak_normalised else "-raw"
        source = "" if self.source == "original" else f"-{self.source}"
        return (f"{self.kind}-{self.sample_rate}hz-f{self.frame_length}-h{self.hop_length}-"
                f"{self.smoothing}{norm}-v{self.version}{source}")


DEFAULT_TARGET_SPEC = TargetSpec()


@dataclass(frozen=True)
class Target:
    """A cached target envelope."""

    video_sha256: str
    spec: TargetSpec
    envelope: np.ndarray  # float32 [n_frames], >= 0
    covered_s: float  # seconds of audio the envelope really covers (less when the audio ends early)
    source_duration_s: float | None
    path: Path

    @property
    def frame_rate(self) -> float:
        return self.spec.frame_rate

    @property
    def covered(self) -> np.ndarray:
        """Per frame: did the audio reach it."""
        return _covered_mask(len(self.envelope), self.covered_s, self.spec.frame_rate)


def _covered_mask(n_frames: int, covered_s: float, frame_rate: float) -> np.ndarray:
    return np.arange(n_frames) < int(round(covered_s * frame_rate))


def _rms_sha256(envelope: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(envelope, dtype="<f4").tobytes()).hexdigest()


def _check_sha(video_sha256: str) -> str:
    sha = video_sha256.lower() if isinstance(video_sha256, str) else video_sha256
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise ValueError(f"video_sha256 must be 64 hex digits, got {video_sha256!r}")
    return sha


class TargetCache:
    """Envelope targets on disk, one Parquet file per (video content, spec).

    Parameters
    ----------
    root : path, optional
        Cache folder; default ``get_settings().cache_dir / "targets"``.
    spec : TargetSpec
        The target definition this cache reads and writes.
    """

    def __init__(self, root: str | os.PathLike | None = None, spec: TargetSpec = DEFAULT_TARGET_SPEC):
        self.root = Path(root) if root is not None else get_settings().cache_dir / "targets"
        self.spec = spec

    def path_for(self, video_sha256: str) -> Path:
        """Where the target of this video lives (whether or not it exists)."""
        return self.root / self.spec.id / f"{_check_sha(video_sha256)}.parquet"

    def put(self, video_sha256: str, envelope: np.ndarray, covered_s: float,
            source_duration_s: float | None = None) -> Path:
        """Store an envelope atomically (replacing an earlier entry); return the file.

        Raises
        ------
        ValueError
            Envelope not 1-D, empty, negative or non-finite; ``covered_s`` < 0.
        """
        sha = _check_sha(video_sha256)
        env = np.asarray(envelope)
        if env.ndim != 1 or env.size == 0:
            raise ValueError(f"envelope must be 1-D and non-empty, got shape {env.shape}")
        env = env.astype(np.float32)
        if not np.all(np.isfinite(env)) or np.any(env < 0):
            raise ValueError("envelope must be finite and >= 0 (an RMS envelope)")
        if not (covered_s >= 0):
            raise ValueError(f"covered_s must be >= 0, got {covered_s!r}")
        n = env.size
        rate = self.spec.frame_rate
        created = datetime.now(timezone.utc)
        meta = {
            "format_version": FORMAT_VERSION,
            "video_sha256": sha,
            "spec": asdict(self.spec),
            "spec_id": self.spec.id,
            "frame_rate": rate,
            "n_frames": n,
            "covered_s": float(covered_s),
            "source_duration_s": None if source_duration_s is None else float(source_duration_s),
            "rms_sha256": _rms_sha256(env),
            "created_at": created.isoformat(),
        }
        index = np.arange(n, dtype=np.int32)
        table = pa.table({
            "video_sha256": pa.array([sha] * n, pa.string()),
            "frame_index": pa.array(index),
            "time_s": pa.array((index + 0.5) / rate),
            "rms": pa.array(env),
            "covered": pa.array(_covered_mask(n, covered_s, rate)),
        }, schema=TARGET_SCHEMA).replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()})
        path = self.path_for(sha)
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp, write_page_checksum=True)
        return path

    def get(self, video_sha256: str) -> Target | None:
        """The cached target, or None (missing, or invalid: then logged and deleted)."""
        path = self.path_for(video_sha256)
        try:
            return self._read(path, _check_sha(video_sha256))
        except FileNotFoundError:
            return None
        except _Invalid as error:
            log.warning("target cache: %s: %s; deleting it, the target will be recomputed", path, error)
            try:
                path.unlink()
            except OSError:
                pass
            return None

    def contains(self, video_sha256: str) -> bool:
        """Whether a file with a matching footer exists (cheap; :meth:`get` verifies the data)."""
        try:
            meta = _footer(pq.read_schema(self.path_for(video_sha256)).metadata)
        except (OSError, pa.ArrowException, ValueError, _Invalid):
            return False
        return meta.get("video_sha256") == _check_sha(video_sha256) and meta.get("spec_id") == self.spec.id

    def delete(self, video_sha256: str) -> bool:
        """Remove the entry; True if there was one."""
        try:
            self.path_for(video_sha256).unlink()
        except FileNotFoundError:
            return False
        return True

    def open_dataset(self) -> ds.Dataset:
        """All targets of this spec as one ``pyarrow.dataset`` (for SQL / pandas users)."""
        import pyarrow.dataset as ds  # here, not at the top: it imports pandas (~1 s); writers never need it

        folder = self.root / self.spec.id
        files = sorted(str(p) for p in folder.glob("*.parquet")) if folder.is_dir() else []
        return ds.dataset(files, schema=TARGET_SCHEMA, format="parquet")

    def _read(self, path: Path, sha: str) -> Target:
        try:
            table = pq.ParquetFile(path, page_checksum_verification=True).read()
        except FileNotFoundError:
            raise
        except (OSError, pa.ArrowException, ValueError) as error:
            raise _Invalid(f"unreadable Parquet ({error})") from None
        meta = _footer(table.schema.metadata)
        if meta.get("video_sha256") != sha or meta.get("spec_id") != self.spec.id:
            raise _Invalid(f"holds {meta.get('video_sha256')} / {meta.get('spec_id')}, expected {sha} / {self.spec.id}")
        if table.schema.remove_metadata() != TARGET_SCHEMA or table.num_rows != meta.get("n_frames"):
            raise _Invalid("columns or row count do not match the footer")
        envelope = table.column("rms").to_numpy().astype(np.float32)
        if _rms_sha256(envelope) != meta.get("rms_sha256"):
            raise _Invalid("envelope checksum mismatch (corrupted data)")
        return Target(video_sha256=sha, spec=self.spec, envelope=envelope, covered_s=float(meta["covered_s"]),
                      source_duration_s=meta.get("source_duration_s"), path=path)


class _Invalid(Exception):
    """A cache file that must not be used."""


def _footer(metadata: dict | None) -> dict:
    raw = (metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise _Invalid("no target metadata in the Parquet footer")
    try:
        meta = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _Invalid(f"target metadata is not JSON ({error})") from None
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        raise _Invalid(f"format version {meta.get('format_version') if isinstance(meta, dict) else None!r}, "
                       f"this code reads {FORMAT_VERSION}")
    return meta
