"""Run records: a JSON file next to the outputs and rows in a Parquet table.

The catalog table ``video_runs`` is a folder of Parquet files, one per run,
so appending never rewrites earlier rows and a crash cannot corrupt them;
``pyarrow.dataset``, pandas and duckdb read the folder as one table.
"""

from __future__ import annotations

import io
import json
import os
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from data_catalog.atomic import atomic_path

VIDEO_RUNS_TABLE = "video_runs"

VIDEO_RUNS_SCHEMA = pa.schema([
    ("run_id", pa.string()),
    ("started_at", pa.timestamp("us", tz="UTC")),
    ("video_path", pa.string()),
    ("video_sha256", pa.string()),
    ("status", pa.string()),  # ok | cached | failed
    ("error", pa.string()),
    ("envelope_engine", pa.string()),
    ("synth_engine", pa.string()),
    ("duration_s", pa.float64()),
    ("wall_s", pa.float64()),
    ("output_dir", pa.string()),
    ("timings_json", pa.string()),
    ("metrics_json", pa.string()),
    ("engines_json", pa.string()),
    ("sonorize_version", pa.string()),
])


def video_run_row(run: dict, video: dict) -> dict:
    """One catalog row from a batch record and one of its per-video records."""
    return {
        "run_id": run["run_id"],
        "started_at": run["started_at"],
        "video_path": video.get("video_path"),
        "video_sha256": video.get("video_sha256"),
        "status": video.get("status"),
        "error": video.get("error"),
        "envelope_engine": run.get("envelope_engine"),
        "synth_engine": run.get("synth_engine"),
        "duration_s": (video.get("video") or {}).get("duration_s"),
        "wall_s": video.get("wall_s"),
        "output_dir": video.get("output_dir"),
        "timings_json": json.dumps(video.get("timings", {})),
        "metrics_json": json.dumps(video.get("metrics", {})),
        "engines_json": json.dumps(video.get("engines", {})),
        "sonorize_version": run.get("sonorize_version"),
    }


def append_rows(catalog_dir: str | os.PathLike, table: str, rows: list[dict], part_name: str,
                schema: pa.Schema = VIDEO_RUNS_SCHEMA) -> Path:
    """Append ``rows`` to catalog table ``table`` as one new Parquet file, atomically."""
    destination = Path(catalog_dir) / table / f"{part_name}.parquet"
    arrow = rows_table(rows, schema)
    with atomic_path(destination) as tmp:
        pq.write_table(arrow, tmp)
    return destination


def rows_table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """``rows`` as an Arrow table of ``schema`` (a field missing from a row is null).

    Read by Arrow's JSON reader rather than ``pa.Table.from_pylist``: converting Python objects
    makes pyarrow import pandas (~0.5 s and ~45 MB, to look for pandas types), on every command
    that records a run.
    """
    if not rows:
        return schema.empty_table()
    lines = b"".join(json.dumps(row, default=_json_value).encode("utf-8") + b"\n" for row in rows)
    options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    return pa_json.read_json(io.BytesIO(lines), parse_options=options).select(schema.names)


def _json_value(value):
    if isinstance(value, date):  # datetime too: ISO 8601, its offset kept
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"catalog row value of type {type(value).__name__} is not a column value")


def read_table(catalog_dir: str | os.PathLike, table: str) -> pa.Table:
    """Every row of catalog table ``table`` (empty table when none were written)."""
    folder = Path(catalog_dir) / table
    files = sorted(str(p) for p in folder.glob("*.parquet")) if folder.is_dir() else []
    if not files:
        return VIDEO_RUNS_SCHEMA.empty_table()
    import pyarrow.dataset as ds  # here, not at the top: it imports pandas (~1 s); writers never need it

    return ds.dataset(files, format="parquet").to_table()
