"""The ``features`` flow: optical flow + frame features for videos, into the feature cache.

Nothing else is written: the cache (``SONORIZE_CACHE_DIR/features``) is the
output, keyed by the video's content, the encoder, its weights revision, the
frame rate and the window, so a second run on the same video reads it back.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from data_catalog.feature_cache import FeatureCache
from flows.inputs import collect_videos
from flows.per_item import failed_record, for_each_item
from flows.progress import BatchProgress
from tasks.feature_tasks import build_video_stage, frame_features
from tasks.media_tasks import hash_video_task, probe_video_task


@flow(name="features", log_prints=True)
def features(
    paths: list[str],
    encoder: str = "motion",
    flow_method: str | None = None,
    device: str = "auto",
    dataset: str = "default",
    split: str = "all",
    show_progress: bool = False,
) -> dict:
    """Compute and cache frame features of every video in ``paths``.

    Parameters
    ----------
    paths : video files or folders.
    encoder : ``motion`` (no weights), ``tc_clip`` or ``bn_inception`` (weights from the model store).
    flow_method : ``raft`` or ``opencv`` (default: opencv for ``motion``, raft otherwise).
    device : ``auto`` (GPU when present), ``cpu`` or ``cuda``.
    dataset, split : the cache partition the features go to.
    """
    logger = get_run_logger()
    stage = build_video_stage(encoder, flow_method, device)
    cache = FeatureCache()
    videos = collect_videos(paths)

    def one_video(video: str, note) -> dict:
        note("probe")
        info = probe_video_task(video)
        sha = hash_video_task(video)
        note(f"{encoder} features")
        array, details = frame_features(info, sha, stage, dataset=dataset, split=split, cache=cache)
        return {"video_path": video, "video_sha256": sha, "status": "cached" if details["cached"] else "ok",
                **details}

    with BatchProgress(len(videos), enabled=show_progress) as progress:
        results = for_each_item(videos, one_video, failed_record("video_path"), label=str, progress=progress,
                                logger=logger)
    return {"encoder": encoder, "flow": stage.flow_method, "revision": stage.revision, "cache_dir": str(cache.root),
            "n_videos": len(results), "n_failed": sum(r["status"] == "failed" for r in results), "videos": results}
