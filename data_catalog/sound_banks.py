"""The sound-bank cache: each library file's analysis as one Parquet file, keyed by content.

A sound designer's library is analysed once (cut into one-shots, sustained
and room-tone regions, measured); the result is kept per file under
``<catalog>/sound_banks/<key>.parquet``, where the key is the file's sha256
plus the analysis version, so a renamed or moved file is not analysed again
and an edited one is. Rows are regions: ``kind`` (``one_shot``,
``sustained``, ``room_tone``), ``audio`` (float32 little-endian bytes) and
the one-shot measures; file-level values live in the schema metadata.

Storage only: callers convert rows to and from their bank objects.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from data_catalog.atomic import atomic_path
from data_catalog.settings import get_settings

TABLE_DIR = "sound_banks"
SCHEMA = pa.schema([
    ("kind", pa.string()),
    ("audio", pa.binary()),
    ("level_db", pa.float64()),
    ("brightness_hz", pa.float64()),
    ("embedding", pa.list_(pa.float32())),
])


def bank_cache_path(key: str, catalog_dir: str | os.PathLike | None = None) -> Path:
    root = Path(catalog_dir) if catalog_dir is not None else get_settings().catalog_dir
    return root / TABLE_DIR / f"{key}.parquet"


def write_bank_rows(key: str, rows: list[dict], meta: dict, catalog_dir: str | os.PathLike | None = None) -> Path:
    """Store one file's regions (``rows``: kind, audio array, measures) and ``meta`` atomically."""
    table = pa.table({
        "kind": [r["kind"] for r in rows],
        "audio": [np.asarray(r["audio"], "<f4").tobytes() for r in rows],
        "level_db": [r.get("level_db") for r in rows],
        "brightness_hz": [r.get("brightness_hz") for r in rows],
        "embedding": [None if r.get("embedding") is None else np.asarray(r["embedding"], np.float32) for r in rows],
    }, schema=SCHEMA.with_metadata({"sonorize": json.dumps(meta)}))
    destination = bank_cache_path(key, catalog_dir)
    with atomic_path(destination) as tmp:
        pq.write_table(table, tmp)
    return destination


def read_bank_rows(key: str, catalog_dir: str | os.PathLike | None = None) -> tuple[list[dict], dict] | None:
    """The stored rows and meta of ``key``, or None when absent or unreadable (then it is recomputed)."""
    path = bank_cache_path(key, catalog_dir)
    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {}).get(b"sonorize", b"{}"))
    except (OSError, ValueError, pa.ArrowException):
        return None
    rows = []
    for r in table.to_pylist():
        r["audio"] = np.frombuffer(r["audio"], "<f4").copy()
        if r.get("embedding") is not None:
            r["embedding"] = np.asarray(r["embedding"], np.float32)
        rows.append(r)
    return rows, meta
