"""Tasks that add rows to the data catalog (each call one new Parquet file, written atomically)."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa

from data_catalog.dataset_tables import write_chunks, write_videos
from data_catalog.run_records import VIDEO_RUNS_SCHEMA, append_rows
from tasks._options import pipeline_task


@pipeline_task(name="append-catalog-rows")
def append_catalog_rows_task(catalog_dir: str | os.PathLike, table: str, rows: list[dict], part_name: str,
                             schema: pa.Schema = VIDEO_RUNS_SCHEMA) -> Path:
    """Append ``rows`` to catalog table ``table`` (:func:`data_catalog.run_records.append_rows`)."""
    return append_rows(catalog_dir, table, rows, part_name, schema=schema)


@pipeline_task(name="write-dataset-tables", tags=("catalog", "dataset"))
def write_dataset_tables_task(video_rows: list[dict], chunk_rows: list[dict], run_stamp: str
                              ) -> tuple[Path | None, Path | None]:
    """A preprocess run's rows of the ``videos`` and ``chunks`` tables; the files written (None: no rows)."""
    return write_videos(video_rows, run_stamp=run_stamp), write_chunks(chunk_rows, run_stamp=run_stamp)
