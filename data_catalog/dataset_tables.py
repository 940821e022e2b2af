"""Catalog tables of preprocessed datasets: ``videos`` and ``chunks``.

Like :mod:`data_catalog.run_records`, each table is a folder of Parquet
files under the catalog (``SONORIZE_CATALOG_DIR``), one file per preprocess
run, written atomically; ``pyarrow.dataset``, pandas and duckdb read a folder
as one table. A run that finds exactly the rows of the newest file writes
nothing, so a nightly re-run of an unchanged dataset adds no files.

A later run supersedes an earlier one item by item: the readers keep, for
each ``(dataset, item_id)`` (and encoder, for ``videos``), the rows of the
newest run that wrote it, so an item that moved split or failed this time is
only seen as it is now. ``latest=False`` returns every row ever written.

``videos``: one row per item and run (status ``ok`` or ``failed``), with
where its features and target are (see :func:`load_video_arrays`).
``chunks``: the training examples of ``ok`` items, with frame ranges at the
feature rate (30 fps) and the envelope rate (125 fps).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_catalog.datasets.splits import write_split_file
from data_catalog.feature_cache import FeatureCache, FeatureKey
from data_catalog.run_records import append_rows
from data_catalog.settings import get_settings
from data_catalog.targets import DEFAULT_TARGET_SPEC, TargetCache

VIDEOS_TABLE = "videos"
CHUNKS_TABLE = "chunks"
SPLITS_FOLDER = "splits"
_TS = pa.timestamp("us", tz="UTC")

VIDEOS_SCHEMA = pa.schema([
    ("dataset", pa.string()),
    ("split", pa.string()),
    ("item_id", pa.string()),
    ("status", pa.string()),  # ok | failed
    ("error", pa.string()),
    ("note", pa.string()),  # e.g. "audio ends early"
    ("root", pa.string()),
    ("video_path", pa.string()),
    ("video_sha256", pa.string()),
    ("duration_s", pa.float64()),
    ("frame_rate", pa.float64()),  # the source's own rate
    ("audio_duration_s", pa.float64()),  # seconds of decoded audio
    ("audio_complete", pa.bool_()),
    ("chunk_s", pa.float64()),
    ("n_chunks", pa.int32()),
    ("prompt", pa.string()),
    ("material", pa.string()),
    ("action", pa.string()),
    ("reaction", pa.string()),
    ("n_hits", pa.int32()),
    ("clip_start_s", pa.float64()),  # position in the source video (Walking The Maps)
    ("clip_end_s", pa.float64()),
    ("feature_encoder", pa.string()),  # FeatureKey.encoder (cache folder name)
    ("feature_revision", pa.string()),
    ("feature_frame_rate", pa.float64()),
    ("feature_window_frames", pa.int32()),
    ("n_feature_frames", pa.int32()),
    ("feature_dim", pa.int32()),
    ("target_spec", pa.string()),  # TargetSpec.id
    ("target_source", pa.string()),  # "original", or the separation cache key of the cleaned audio (SPEC stage 12)
    ("separation_query", pa.string()),  # AudioSep's text query when the target audio was separated
    ("separation_revision", pa.string()),  # the separation weights' revision
    ("target_audio_path", pa.string()),  # the separated audio (44.1 kHz stereo WAV) the targets come from
    ("target_frame_rate", pa.float64()),
    ("n_target_frames", pa.int32()),
    ("split_method", pa.string()),
    ("split_record", pa.string()),  # path of the recorded split file
    ("run_id", pa.string()),
    ("created_at", _TS),
])

CHUNKS_SCHEMA = pa.schema([
    ("dataset", pa.string()),
    ("split", pa.string()),
    ("item_id", pa.string()),
    ("video_sha256", pa.string()),
    ("chunk_index", pa.int32()),
    ("start_s", pa.float64()),
    ("duration_s", pa.float64()),
    ("prompt", pa.string()),
    ("n_hits", pa.int32()),  # annotated actions in the chunk (Greatest Hits), else null
    ("audio_complete", pa.bool_()),  # False: the audio ends inside or before this chunk
    ("feature_start", pa.int32()),  # first feature frame (feature_frame_rate of the video row)
    ("feature_frames", pa.int32()),
    ("target_start", pa.int32()),  # first envelope frame (target_frame_rate)
    ("target_frames", pa.int32()),
    ("run_id", pa.string()),
    ("created_at", _TS),
])

# Columns that identify one logical row across runs (the newest run wins).
_VIDEO_KEY = ("dataset", "item_id", "feature_encoder")
_CHUNK_KEY = ("dataset", "item_id")
# Columns left out when comparing a run's rows with the newest file's (they change every run).
_RUN_COLUMNS = ("run_id", "created_at")


def _catalog(catalog_dir: str | os.PathLike | None) -> Path:
    return Path(catalog_dir) if catalog_dir is not None else get_settings().catalog_dir


def _content_digest(rows: list[dict], schema: pa.Schema) -> str:
    table = pa.Table.from_pylist(rows, schema=schema).drop_columns(list(_RUN_COLUMNS))
    return hashlib.sha256(repr(table.to_pylist()).encode()).hexdigest()[:16]


def write_rows(table: str, rows: list[dict], *, run_stamp: str, catalog_dir: str | os.PathLike | None = None,
               schema: pa.Schema | None = None) -> Path | None:
    """Append ``rows`` (of one dataset) to ``table`` as ``<run_stamp>-<dataset>-<digest>.parquet``.

    Returns the new file, or None when ``rows`` is empty or equals, up to run
    id and time, the rows of the newest file of the same dataset.
    """
    schema = schema or {VIDEOS_TABLE: VIDEOS_SCHEMA, CHUNKS_TABLE: CHUNKS_SCHEMA}[table]
    if not rows:
        return None
    datasets = {row["dataset"] for row in rows}
    if len(datasets) != 1:
        raise ValueError(f"rows of one dataset per write, got {sorted(map(str, datasets))}")
    dataset = datasets.pop()
    digest = _content_digest(rows, schema)
    same_dataset = [p for p in _files(_catalog(catalog_dir), table) if p.stem[:-17].endswith(f"-{dataset}")]
    if same_dataset and same_dataset[-1].stem.endswith(f"-{digest}"):
        return None
    return append_rows(_catalog(catalog_dir), table, rows, f"{run_stamp}-{dataset}-{digest}", schema=schema)


def write_videos(rows: list[dict], *, run_stamp: str, catalog_dir: str | os.PathLike | None = None) -> Path | None:
    """Append rows of the ``videos`` table (see :data:`VIDEOS_SCHEMA`)."""
    return write_rows(VIDEOS_TABLE, rows, run_stamp=run_stamp, catalog_dir=catalog_dir)


def write_chunks(rows: list[dict], *, run_stamp: str, catalog_dir: str | os.PathLike | None = None) -> Path | None:
    """Append rows of the ``chunks`` table (see :data:`CHUNKS_SCHEMA`)."""
    return write_rows(CHUNKS_TABLE, rows, run_stamp=run_stamp, catalog_dir=catalog_dir)


def write_split_record(record: dict, *, catalog_dir: str | os.PathLike | None = None) -> Path:
    """Record a split (:func:`data_catalog.datasets.splits.split_record`) as
    ``<catalog>/splits/<dataset>-<digest>.json``; the same split gives the same file."""
    digest = hashlib.sha256(repr(sorted(record["splits"].items())).encode()).hexdigest()[:16]
    path = _catalog(catalog_dir) / SPLITS_FOLDER / f"{record['dataset']}-{digest}.json"
    if not path.is_file():
        write_split_file(path, record)
    return path


# -- reading ---------------------------------------------------------------------------------

def _files(catalog: Path, table: str) -> list[Path]:
    folder = catalog / table
    # names start with a sortable UTC stamp, so the last one is the newest run
    return sorted(p for p in folder.glob("*.parquet") if not p.name.startswith(".")) if folder.is_dir() else []


def _read(catalog_dir, table: str, schema: pa.Schema, key: tuple[str, ...], latest: bool,
          filters: dict[str, str | None]) -> pa.Table:
    import pyarrow.dataset as ds  # here, not at the top: it imports pandas (~1 s); writers never need it

    files = _files(_catalog(catalog_dir), table)
    data = ds.dataset([str(p) for p in files], schema=schema, format="parquet").to_table() if files \
        else schema.empty_table()
    if latest and data.num_rows:
        data = _newest_per_key(data, key)
    for column, value in filters.items():
        if value is not None:
            data = data.filter(pc.equal(data[column], value))
    return data


def _newest_per_key(data: pa.Table, key: tuple[str, ...]) -> pa.Table:
    """Rows of the newest ``created_at`` for each key (all rows of one run share it)."""
    keys = list(zip(*(data.column(name).to_pylist() for name in key)))
    times = data.column("created_at").to_pylist()
    newest: dict[tuple, datetime] = {}
    for k, t in zip(keys, times):
        if k not in newest or t > newest[k]:
            newest[k] = t
    return data.filter(pa.array([t == newest[k] for k, t in zip(keys, times)], pa.bool_()))


def read_videos(catalog_dir: str | os.PathLike | None = None, *, dataset: str | None = None,
                split: str | None = None, encoder: str | None = None, status: str | None = None,
                latest: bool = True) -> pa.Table:
    """The ``videos`` table (newest row per dataset / item / encoder unless ``latest=False``).

    Parameters
    ----------
    dataset, split, encoder, status : str, optional
        Keep only rows with these values (``encoder`` matches ``feature_encoder``).
    """
    filters = {"dataset": dataset, "split": split, "feature_encoder": encoder, "status": status}
    table = _read(catalog_dir, VIDEOS_TABLE, VIDEOS_SCHEMA, _VIDEO_KEY, latest, filters)
    return table.sort_by([("dataset", "ascending"), ("item_id", "ascending")]) if table.num_rows else table


def read_chunks(catalog_dir: str | os.PathLike | None = None, *, dataset: str | None = None,
                split: str | None = None, latest: bool = True) -> pa.Table:
    """The ``chunks`` table (rows of the newest run per dataset / item unless ``latest=False``)."""
    table = _read(catalog_dir, CHUNKS_TABLE, CHUNKS_SCHEMA, _CHUNK_KEY, latest, {"dataset": dataset, "split": split})
    if not table.num_rows:
        return table
    return table.sort_by([("dataset", "ascending"), ("item_id", "ascending"), ("chunk_index", "ascending")])


def load_video_arrays(row: dict, *, features: FeatureCache | None = None,
                      targets: TargetCache | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """Features ``[T, D]`` (30 fps) and target envelope ``[N]`` (125 fps) of one ``videos`` row.

    Reads the caches only (no decoding). None when either entry is missing
    or invalid (e.g. deleted by hand): re-run the preprocess flow.
    """
    features = features or FeatureCache()
    if targets is None:  # the row's own target source: its video's audio or the separated audio
        targets = TargetCache(spec=replace(DEFAULT_TARGET_SPEC, source=row.get("target_source") or "original"))
    if row.get("target_spec") not in (None, targets.spec.id):
        raise ValueError(f"row has target spec {row['target_spec']!r}, the target cache reads {targets.spec.id!r}")
    key = FeatureKey(video_sha256=row["video_sha256"], encoder=row["feature_encoder"],
                     weights_revision=row["feature_revision"], frame_rate=row["feature_frame_rate"],
                     window_frames=row["feature_window_frames"])
    array = features.get(key, dataset=row["dataset"], split=row["split"])
    target = targets.get(row["video_sha256"])
    if array is None or target is None:
        return None
    return array, target.envelope


def run_stamp(started: datetime, run_id: str) -> str:
    """File-name prefix of one run: sortable UTC time, then the run id."""
    return f"{started.strftime('%Y%m%dT%H%M%S%fZ')}-{run_id}"


__all__ = [
    "CHUNKS_SCHEMA",
    "CHUNKS_TABLE",
    "DEFAULT_TARGET_SPEC",
    "VIDEOS_SCHEMA",
    "VIDEOS_TABLE",
    "load_video_arrays",
    "read_chunks",
    "read_videos",
    "run_stamp",
    "write_chunks",
    "write_split_record",
    "write_videos",
]
