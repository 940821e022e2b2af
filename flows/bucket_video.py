"""One object from a bucket through the pipeline: download, sonorize, upload, finish its claim.

Used by the ``sonorize`` flow for inputs given as URLs and for objects the
watcher claimed. The video is processed in a temporary local folder; each
output is uploaded as a whole object (the run record last, so a record means
a complete set) and only then is the object marked done. A failure copies the
object into quarantine with a readable report, then marks it done too.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from data_catalog.atomic import json_text
from data_catalog.bucket_keys import BadKeyError, output_folder, validate_key
from data_catalog.claims import Claim, ClaimBook
from data_catalog.errors import OutputError
from data_catalog.locations import Location, ObjectInfo
from flows.per_item import run_item
from flows.video_options import VideoContext, VideoOptions
from flows.video_pipeline import sonorize_video
from tasks.bucket_tasks import download_object_task, quarantine_object_task, upload_bytes_task, upload_files_task


@dataclass(frozen=True)
class BucketTargets:
    """Where a bucket batch writes: outputs, quarantine, claim state (URLs or folders)."""

    output_url: str
    quarantine_url: str | None = None
    state_url: str | None = None


def process_object(source_url: str, info: ObjectInfo, targets: BucketTargets, options: VideoOptions,
                   claim: Claim | None = None, run_id: str | None = None, context: VideoContext | None = None) -> dict:
    """Sonorize one object; return its per-video record (status ok, failed or skipped)."""
    started = time.perf_counter()
    source, output = Location(source_url), Location(targets.output_url)
    book = ClaimBook(Location(targets.state_url)) if claim and targets.state_url else None
    quarantine = Location(targets.quarantine_url) if targets.quarantine_url else None
    url = source.url_of(info.key)
    base = {"video_path": url, "object_key": info.key, "object_etag": info.etag, "object_size": info.size}

    def finish(record: dict, done_status: str, detail: dict | None = None) -> dict:
        record = {**base, **record, "wall_s": round(time.perf_counter() - started, 3)}
        if book is not None and not book.mark_done(claim, done_status, {"record": _brief(record), **(detail or {})}):
            record.update(status="skipped", error=None, reason="already finished by another run")
        return record

    def still_ours() -> bool:
        return book is None or book.holds(claim)

    if not still_ours():
        return {**base, "status": "skipped", "reason": "claim taken over or already finished",
                "wall_s": round(time.perf_counter() - started, 3)}
    try:
        validate_key(info.key)
    except BadKeyError as exc:
        return _fail(finish, source, quarantine, info, claim, str(exc), "key", run_id, key_is_safe=False)

    natural_stem = PurePosixPath(output_folder(info.key)).name
    with tempfile.TemporaryDirectory(prefix="sonorize-object-") as tmp:
        local_video = Path(tmp) / "in" / PurePosixPath(info.key).name
        current = source.info(info.key)
        if current is None:
            return finish({"status": "skipped", "reason": "object deleted before processing"}, "deleted")
        if (current.etag, current.size) != (info.etag, info.size):
            return finish({"status": "skipped", "reason": "object overwritten; its new version is claimed anew"},
                          "superseded")
        download_object_task(source.url, info.key, local_video)
        local_out = Path(tmp) / "out"
        record = run_item(str(local_video), lambda video: sonorize_video(video, local_out, natural_stem, options,
                                                                         context=context),
                          lambda video, reason: {"status": "failed", "error": reason.replace(video, url)},
                          label=url)
        if record["status"] == "failed":  # a bad video, or a bug: quarantined with the reason either way
            return _fail(finish, source, quarantine, info, claim, record["error"], "processing", run_id)
        if not still_ours():  # presumed dead and taken over while working: let the new holder finish
            return {**base, "status": "skipped", "reason": "claim taken over during processing",
                    "wall_s": round(time.perf_counter() - started, 3)}
        try:  # only a video that has outputs claims a folder (a broken one leaves nothing behind)
            folder, stem = claim_output_folder(output, info.key)
        except OutputError as exc:
            return _fail(finish, source, quarantine, info, claim, str(exc), "output", run_id)
        keys = {name: f"{folder}/{stem}{Path(local).name[len(natural_stem):]}"
                for name, local in record["outputs"].items()}
        upload_files_task(output.url, {keys[name]: str(local) for name, local in record["outputs"].items()})
        outputs = {name: output.url_of(key) for name, key in keys.items()}
        record.update(video_path=url, output_dir=output.url_of(folder), outputs=outputs)
        record_key = f"{folder}/{stem}.record.json"
        upload_bytes_task(output.url, record_key, json_text(record).encode("utf-8"))  # last
    return finish(record, "ok", {"record_url": output.url_of(record_key)})


OWNER_SUFFIX = ".owner.json"  # <folder>/<stem>.owner.json: which object key the folder belongs to
MAX_OUTPUT_CANDIDATES = 100  # stem, stem-2, ... stem-100


def claim_output_folder(output: Location, key: str) -> tuple[str, str]:
    """The output folder and stem of object ``key``: its natural folder, or ``stem-N`` when another key owns it.

    Ownership is a small record created exclusively (``If-None-Match: *`` on S3, a
    hard link on a folder), so of two keys with one stem (``a.mp4``, ``a.mov``),
    even in concurrent runs, each gets its own folder and neither replaces the
    other's outputs; a key keeps its folder across runs (an overwritten object).
    """
    natural = PurePosixPath(output_folder(key))
    for n in range(1, MAX_OUTPUT_CANDIDATES + 1):
        stem = natural.name if n == 1 else f"{natural.name}-{n}"
        folder = str(natural.with_name(stem))
        marker = f"{folder}/{stem}{OWNER_SUFFIX}"
        if output.put_exclusive(marker, json_text({"object_key": key}).encode("utf-8")):
            return folder, stem
        try:
            owner = json.loads(output.read_bytes(marker)).get("object_key")
        except (OSError, ValueError, AttributeError):
            owner = None
        if owner == key:
            return folder, stem
    raise OutputError(output.url_of(str(natural)), f"{MAX_OUTPUT_CANDIDATES} output folders named like it belong "
                                                   "to other objects")


def _fail(finish, source: Location, quarantine: Location | None, info: ObjectInfo, claim: Claim | None,
          reason: str, stage: str, run_id: str | None, key_is_safe: bool = True) -> dict:
    detail = {}
    if quarantine is not None:
        from data_catalog.claims import object_id

        report = quarantine_object_task(source.url, quarantine.url, info, object_id(info), reason,
                                        key_is_safe=key_is_safe, run_id=run_id, stage=stage)
        detail["quarantine_report"] = quarantine.url_of(report)
    return finish({"status": "failed", "error": reason, **detail}, "quarantined" if quarantine else "failed", detail)


def _brief(record: dict) -> dict:
    return {k: record.get(k) for k in ("status", "error", "output_dir", "video_sha256", "wall_s")}
