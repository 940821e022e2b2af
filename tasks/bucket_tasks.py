"""Tasks that move objects between a bucket (or a folder standing in for one) and the local disk.

Each touches the network, so each is retried: a dropped connection or a
throttled request usually succeeds a moment later. Every write is a whole
object (``Location``), so a retried upload never leaves a partial one.
"""

from __future__ import annotations

import os
from pathlib import Path

from data_catalog.locations import Location, ObjectInfo
from data_catalog.quarantine import quarantine_object
from tasks._options import pipeline_task

NETWORK_RETRIES = 2  # S3 get/put: two more tries
NETWORK_RETRY_DELAY_S = 2.0  # short: a transient error, not an outage


@pipeline_task(name="download-object", tags=("bucket",), retries=NETWORK_RETRIES,
               retry_delay_seconds=NETWORK_RETRY_DELAY_S)
def download_object_task(source_url: str, key: str, local_path: str | os.PathLike) -> Path:
    """Copy object ``key`` of ``source_url`` to a local file (atomically)."""
    return Location(source_url).get_file(key, local_path)


@pipeline_task(name="upload-outputs", tags=("bucket",), retries=NETWORK_RETRIES,
               retry_delay_seconds=NETWORK_RETRY_DELAY_S)
def upload_files_task(output_url: str, files: dict[str, str]) -> None:
    """Upload local files (``{key: local path}``) under ``output_url``, each a whole object."""
    Location(output_url).put_files(files)


@pipeline_task(name="upload-object", tags=("bucket",), retries=NETWORK_RETRIES,
               retry_delay_seconds=NETWORK_RETRY_DELAY_S)
def upload_bytes_task(output_url: str, key: str, data: bytes) -> None:
    """Write ``data`` as object ``key`` under ``output_url`` (replacing it)."""
    Location(output_url).put_bytes(key, data)


@pipeline_task(name="quarantine-object", tags=("bucket",), retries=NETWORK_RETRIES,
               retry_delay_seconds=NETWORK_RETRY_DELAY_S)
def quarantine_object_task(source_url: str, quarantine_url: str, info: ObjectInfo, object_id: str, reason: str,
                           *, key_is_safe: bool, run_id: str | None, stage: str) -> str:
    """Copy a failed object into quarantine with its error report; the report's key."""
    return quarantine_object(Location(source_url), Location(quarantine_url), info, object_id, reason,
                             key_is_safe=key_is_safe, run_id=run_id, stage=stage)
