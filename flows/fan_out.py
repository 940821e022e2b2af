"""Per-video fan-out inside one flow run, and the heartbeat of a run holding claims.

``fan_out="none"`` processes videos one after the other in the flow run's
process (a laptop, the command line); with ``overlap`` the next video's
analysis (decode, flow, envelope) runs in a thread beside the current one's
outputs (files, synthesis, mux, record), through
:func:`flows.per_item.for_each_item_overlapped`. ``fan_out="dask"`` submits one Prefect
task per video to a Dask cluster through prefect-dask's ``DaskTaskRunner``:
an existing one (``dask_address``, e.g. a ``dask scheduler`` with a
``dask worker`` per GPU machine) or a local cluster of worker processes.

Why Dask rather than Ray: prefect-dask and distributed are pure Python (a
few MB, no separate runtime, nothing to download at run time) and install
beside prefect 3.8.8 here; a Dask worker is one command per machine and
``--resources GPU=1`` style limits are not needed because the GPU stages are
already held to a machine's GPUs by the Prefect ``gpu`` tag concurrency limit.
Ray would bring a 70 MB+ binary runtime and its own object store, which
per-video jobs of a few files do not need.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from data_catalog.claims import Claim, ClaimBook
from data_catalog.locations import ObjectInfo
from flows.bucket_video import BucketTargets, process_object
from flows.per_item import for_each_item, for_each_item_overlapped, run_item
from flows.run_logging import quiet_input_error_tracebacks
from flows.video_options import VideoContext, VideoOptions
from flows.video_pipeline import analyse_video, finish_video, sonorize_video
from tasks._options import pipeline_task

FAN_OUTS = frozenset({"none", "dask"})
CPU_SYNTH_ENGINES = frozenset({"foley", "preview"})  # single-threaded numpy: what an overlapped batch may run


@dataclass(frozen=True)
class VideoItem:
    """One video of a batch: a local file (``local_path``) or an object (``source_url`` + ``info``)."""

    local_path: str | None = None
    stem: str | None = None
    folder: str | None = None  # below the output root (default: the stem)
    note: str | None = None  # why the video writes elsewhere than its natural folder
    source_url: str | None = None
    info: ObjectInfo | None = None
    claim: Claim | None = None

    @property
    def name(self) -> str:
        return Path(self.label).name

    @property
    def label(self) -> str:
        """The video's path or URL (names it in its record and in errors)."""
        return self.local_path or f"{self.source_url}/{self.info.key}"


def process_item(item: VideoItem, out_root: Path | None, targets: BucketTargets, options: VideoOptions,
                 context: VideoContext, run_id: str, out_error: str | None = None, stage=lambda s: None) -> dict:
    """Process one item; never raises for a bad video (the record says ``failed`` and why)."""
    quiet_input_error_tracebacks()  # also in Dask worker processes
    if out_error:
        return _failed(item, out_error)

    def work(item: VideoItem) -> dict:
        if item.local_path is not None:
            return sonorize_video(item.local_path, out_root / (item.folder or item.stem), item.stem, options,
                                  stage=stage, notes=[item.note] if item.note else [], context=context)
        return process_object(item.source_url, item.info, targets, options, claim=item.claim, run_id=run_id,
                              context=context)

    return run_item(item, work, _failed, label=item.label)


def _failed(item: VideoItem, reason: str) -> dict:
    return {"video_path": item.label, "status": "failed", "error": reason}


@pipeline_task(name="sonorize-one-video", tags=("video",))
def process_item_task(item: VideoItem, out_root: Path | None, targets: BucketTargets, options: VideoOptions,
                      context: VideoContext, run_id: str) -> dict:
    """:func:`process_item` as a Prefect task, for the Dask fan-out."""
    return process_item(item, out_root, targets, options, context, run_id)


def run_items(items: list[VideoItem], out_root: Path | None, targets: BucketTargets, options: VideoOptions,
              context: VideoContext, run_id: str, *, out_error: str | None, progress, fan_out: str, dask_address: str | None,
              dask_workers: int, overlap: bool = False) -> list[dict]:
    """Every item's record, in input order.

    ``overlap`` (``fan_out="none"``, local files only: :func:`overlap_batch`): each video's analysis
    runs in a thread beside the previous video's outputs; same records and files.
    """
    if fan_out == "dask" and items and not out_error:
        from prefect_dask import DaskTaskRunner

        runner = (DaskTaskRunner(address=dask_address) if dask_address else
                  DaskTaskRunner(cluster_kwargs={"n_workers": dask_workers, "threads_per_worker": 1,
                                                 "processes": True, "dashboard_address": None}))
        with runner:
            futures = [runner.submit(process_item_task.task, parameters={
                "item": item, "out_root": out_root, "targets": targets, "options": options, "context": context,
                "run_id": run_id})
                for item in items]
            return [future.result() for future in futures]

    if overlap and fan_out == "none" and not out_error and out_root is not None and all(map(_overlappable, items)):
        quiet_input_error_tracebacks()

        def first(item: VideoItem, note):
            return analyse_video(item.local_path, out_root / (item.folder or item.stem), item.stem, options,
                                 stage=note, notes=[item.note] if item.note else [], context=context)

        return for_each_item_overlapped(items, first, lambda item, analysed, note: finish_video(
            analysed, options, context, stage=note), _failed, label=lambda item: item.label, progress=progress,
            overwrite_wall_s=False)

    return for_each_item(items, lambda item, note: process_item(item, out_root, targets, options, context, run_id,
                                                                out_error, stage=note),
                         _failed, label=lambda item: item.label, progress=progress, overwrite_wall_s=False)


def _overlappable(item: VideoItem) -> bool:
    """A local file (a bucket object's download, upload and claim stay one after the other)."""
    return item.local_path is not None and item.claim is None


def overlap_batch(requested: bool | None, items: list[VideoItem], out_root: Path | None, fan_out: str,
                  options: VideoOptions, in_flow_run: bool) -> bool:
    """Whether a batch overlaps its videos: ``requested`` (None: where only CPU engines run) and possible.

    Possible: more than one local file into a local folder, as plain calls (not inside a Prefect
    flow run: its task runs belong to the run's context, not a thread's), no Dask fan-out, no
    bucket objects or claims (their download, upload and claim stay one after the other). By
    default not where a stage may hold the GPU or every core on its own: the neural synth engines
    and ``encoder`` (PyTorch models); ``requested=True`` overlaps those too.
    """
    possible = (fan_out == "none" and not in_flow_run and out_root is not None and len(items) > 1
                and all(map(_overlappable, items)))
    if requested is None:
        return possible and options.synth_engine in CPU_SYNTH_ENGINES and options.encoder is None
    return bool(requested) and possible


class Heartbeat:
    """While a batch holds claims, rewrite its holders' heartbeat records every ``interval_s``."""

    def __init__(self, book: ClaimBook | None, holders: list[str], flow_run_id: str, interval_s: float):
        self.book, self.holders, self.flow_run_id = book, holders, flow_run_id
        self.interval_s = max(0.5, float(interval_s))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        for holder in self.holders:
            try:
                self.book.heartbeat(holder, self.flow_run_id)
            except Exception as exc:  # a missed beat only risks a takeover; never stop the batch
                logging.getLogger("sonorize").warning("heartbeat for %s failed: %s", holder, exc)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.beat()

    def __enter__(self) -> "Heartbeat":
        if self.book is not None and self.holders:
            self.beat()
            self._thread = threading.Thread(target=self._loop, name="sonorize-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
