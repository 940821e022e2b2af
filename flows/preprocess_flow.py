"""The ``preprocess`` flow: a dataset folder -> catalog tables, envelope targets, frame features.

For every item the dataset adapter lists: probe (a video with no audio
fails: its audio is the target) -> hash -> envelope target (RMS of its own
16 kHz audio, unsmoothed, into the target cache) -> frame features (30 fps,
into the feature cache, partition ``dataset=<name>/split=<split>``) ->
chunks. Then one file each is added to the catalog tables ``videos`` and
``chunks`` (:mod:`data_catalog.dataset_tables`) and the split is recorded
under ``<catalog>/splits/``.

Resumable and idempotent: both caches are keyed by the video's content, so a
re-run (or a run after a crash) decodes only the items whose target or
features are missing; a re-run of an unchanged dataset decodes nothing and
adds no catalog file. One broken item is reported with its reason and the
others finish. An audio track that ends early is kept: its envelope is zero
past the end, ``audio_duration_s`` records where it stops and the chunks
past it are marked ``audio_complete = false``.

Source separation (SPEC stage 12): with a query (``separate``, or the
adapter's default: Walking The Maps separates "footstep sounds"), each item's
audio is first cleaned by AudioSep into the separation cache (keyed by the
video's content, the query, the weights' revision and the settings), and the
targets are measured on the cleaned audio, in a target cache of their own
(``TargetSpec.source``); the ``videos`` rows record the query, the revision
and the separated file (``target_audio_path``, which ``train-controlnet``
reads). Missing AudioSep weights stop the run before any item.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from data_catalog.dataset_tables import run_stamp, write_split_record
from data_catalog.datasets import DatasetAdapter, DatasetItem, get_dataset_adapter
from data_catalog.datasets.base import AUDIO_TOLERANCE_S
from data_catalog.errors import OptionError
from data_catalog.feature_cache import FeatureCache
from data_catalog.targets import TargetCache, TargetSpec
from flows import run_ids
from flows.deployment_settings import PREPROCESS_VARIABLES, setting
from flows.per_item import for_each_item
from flows.progress import BatchProgress
from folai_models.envelope import n_envelope_frames_for_seconds
from tasks.catalog_tasks import write_dataset_tables_task
from tasks.envelope_tasks import envelope_target_task
from tasks.feature_tasks import (
    VideoStage,
    build_video_stage,
    feature_key,
    frame_features,
)
from tasks.media_tasks import hash_video_task, probe_video_task


@flow(name="preprocess", log_prints=True)
def preprocess(
    dataset: str | None = None,
    root: str | None = None,
    encoder: str = "motion",
    flow_method: str | None = None,
    device: str = "auto",
    limit: int | None = None,
    show_progress: bool = False,
    split_file: str | None = None,
    options: dict | None = None,
    separate: str | bool | None = None,
    flow_options: dict | None = None,
) -> dict:
    """Build a dataset's catalog tables, envelope targets and feature cache.

    Parameters
    ----------
    dataset : ``greatest-hits``, ``walking-the-maps`` or ``folder`` (``_`` works too) (:data:`data_catalog.datasets.DATASETS`);
        null: the Prefect Variable ``sonorize_preprocess_dataset``.
    root : the dataset's folder (absolute in deployments); null: the Prefect Variable
        ``sonorize_preprocess_root``.
    encoder : frame encoder (``motion``: no weights; ``tc_clip``, ``bn_inception``: from the model store).
    flow_method : optical flow (``raft`` / ``opencv``; default per encoder).
    device : ``auto`` (GPU when present), ``cpu`` or ``cuda``.
    limit : process only the first ``limit`` items (by id); the split is still made over all of them.
    show_progress : draw a progress bar (the command line sets it).
    split_file : a recorded split to reuse (e.g. an earlier run's ``<catalog>/splits/<dataset>-*.json``).
    options : further adapter options, e.g. ``{"seed": 1}`` or, for ``folder``,
        ``{"name": "gh-dev", "holdout_fraction": 0.2}``.
    separate : clean each item's audio with AudioSep before measuring its target: a text query
        (``"footstep sounds"``), ``False`` to keep the audio as it is, or ``None`` for the
        dataset's default (Walking The Maps: ``"footstep sounds"``; others: no separation).
    flow_options : the flow estimator's keyword arguments, e.g. ``{"preset": "fast"}`` for ``opencv``
        (default: its own defaults); they are part of the feature revision and cache key.

    Returns
    -------
    Summary: counts, per-item results (``ok`` / ``cached`` / ``failed`` with the reason), notes,
    the catalog files written and the split record.

    Raises
    ------
    SonorizeInputError
        The dataset folder itself is unusable (missing, empty, no videos, a
        malformed name or metadata file): nothing could be listed.
    """
    logger = get_run_logger()
    started = datetime.now(timezone.utc)
    clock = time.perf_counter()
    run_id, run_id_source = run_ids.run_id()
    dataset = setting(dataset, "dataset", PREPROCESS_VARIABLES, flow="preprocess", example="greatest-hits")
    root = setting(root, "root", PREPROCESS_VARIABLES, flow="preprocess", example="/data/GreatestHits/vis-data")
    _require_absolute_in_deployments([root, *([split_file] if split_file else [])])
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise OptionError(f"limit must be a whole number >= 0 or None, got {limit!r}")
    adapter_options = dict(options or {})
    if split_file:
        adapter_options["split_file"] = split_file
    adapter = get_dataset_adapter(dataset, **adapter_options)
    items = adapter.items(root)
    record = adapter.split_record()
    split_path = write_split_record(record)
    selected = items if limit is None else items[:limit]
    stage = build_video_stage(encoder, flow_method, device, flow_options=flow_options)  # missing weights stop here, before any item
    separation = _separation(adapter, separate, device)  # and here
    features, targets = FeatureCache(), TargetCache()
    logger.info("preprocess %s: %d item(s) of %d in %s (encoder=%s, flow=%s)", adapter.name, len(selected),
                len(items), root, stage.encoder.name, stage.flow_method)

    context = {"root": str(root), "run_id": run_id, "created_at": started, "split_method": record["method"],
               "split_record": str(split_path), "separation": separation}
    with BatchProgress(len(selected), enabled=show_progress) as progress:
        outcomes = for_each_item(
            selected, lambda item, note: _preprocess_item(item, adapter, stage, features, targets, context, note),
            lambda item, reason: _failure(item, stage, context, reason), label=lambda item: item.video_path,
            progress=progress, summary=lambda outcome: outcome[0], logger=logger)
    results, video_rows, chunk_rows = [], [], []
    for (result, row, chunks), item in zip(outcomes, selected):
        if result["status"] == "failed":
            logger.warning("failed: %s", result["error"])
        elif result.get("note"):
            logger.warning("%s: %s", item.item_id, result["note"])
        results.append(result)
        video_rows.append(row)
        chunk_rows += chunks

    stamp = run_stamp(started, run_id)
    videos_file, chunks_file = write_dataset_tables_task(video_rows, chunk_rows, stamp)
    summary = _summary(adapter, items, results, stage, features, targets, record, split_path, root, run_id)
    summary["run_id_source"] = run_id_source
    summary["separation"] = None if separation is None else {k: separation[k] for k in ("query", "revision")}
    summary.update(catalog={"videos": str(videos_file) if videos_file else None,
                            "chunks": str(chunks_file) if chunks_file else None,
                            "n_chunks": len(chunk_rows)},
                   wall_s=round(time.perf_counter() - clock, 3))
    logger.info("preprocess %s: %d ok, %d cached, %d failed", adapter.name, summary["n_ok"], summary["n_cached"],
                summary["n_failed"])
    create_markdown_artifact(key="sonorize-preprocess", markdown=summary_markdown(summary),
                             description=f"preprocess {adapter.name}")
    return summary


def _preprocess_item(item: DatasetItem, adapter: DatasetAdapter, stage: VideoStage, features: FeatureCache,
                     targets: TargetCache, context: dict, stage_note) -> tuple[dict, dict, list[dict]]:
    """Target, features and chunks of one item; raises SonorizeInputError on bad media."""
    stage_note("probe")
    info = probe_video_task(item.video_path)
    adapter.require_audio(item, info)
    sha = hash_video_task(item.video_path)

    audio_path, separated = item.video_path, {}
    if context["separation"] is not None:
        stage_note("separating")
        audio_path, separated = _separated_audio(item, sha, context["separation"])
        targets = TargetCache(targets.root, spec=TargetSpec(source=separated["target_source"]))

    stage_note("envelope target")
    n_target = n_envelope_frames_for_seconds(info.duration_s)
    covered, target_cached = envelope_target_task(str(audio_path), sha, n_target, info.duration_s, targets,
                                                  label=item.video_path)

    stage_note(f"{stage.encoder.name} features")
    array, details = frame_features(info, sha, stage, dataset=adapter.name, split=item.split, cache=features)
    key = feature_key(stage, sha)

    audio_complete = covered >= info.duration_s - AUDIO_TOLERANCE_S
    chunks = adapter.chunks(item, info.duration_s, audio_duration_s=covered)
    note = None
    if not audio_complete:
        cut = sum(not c.audio_complete for c in chunks)
        note = (f"audio ends early: {covered:.2f} s of {info.duration_s:.2f} s; "
                f"{cut} of {len(chunks)} chunk(s) reach past it (audio_complete = false)")
    n_features, dim = (int(array.shape[0]), int(array.shape[1]))
    rate = targets.spec.frame_rate
    row = {
        **_item_columns(item, stage, context),
        "status": "ok", "note": note, "video_sha256": sha,
        "duration_s": info.duration_s, "frame_rate": info.frame_rate,
        "audio_duration_s": round(float(covered), 4), "audio_complete": audio_complete,
        "n_chunks": len(chunks), "feature_revision": key.weights_revision, "feature_frame_rate": key.frame_rate,
        "feature_window_frames": key.window_frames, "n_feature_frames": n_features, "feature_dim": dim,
        "target_spec": targets.spec.id, "target_frame_rate": rate, "n_target_frames": n_target,
        "target_source": targets.spec.source, "separation_query": separated.get("query"),
        "separation_revision": separated.get("revision"), "target_audio_path": separated.get("path"),
    }
    chunk_rows = []
    for chunk in chunks:
        f_start, t_start = round(chunk.start_s * key.frame_rate), round(chunk.start_s * rate)
        chunk_rows.append({
            "dataset": item.dataset, "split": item.split, "item_id": item.item_id, "video_sha256": sha,
            "chunk_index": chunk.index, "start_s": chunk.start_s, "duration_s": chunk.duration_s,
            "prompt": chunk.prompt, "n_hits": chunk.n_hits, "audio_complete": chunk.audio_complete,
            # ranges clipped to the arrays, for a video shorter than one chunk
            "feature_start": f_start,
            "feature_frames": max(0, min(round(chunk.duration_s * key.frame_rate), n_features - f_start)),
            "target_start": t_start,
            "target_frames": max(0, min(round(chunk.duration_s * rate), n_target - t_start)),
            "run_id": context["run_id"], "created_at": context["created_at"],
        })
    cached = target_cached and details["cached"]
    result = {"item_id": item.item_id, "split": item.split, "video_path": item.video_path, "video_sha256": sha,
              "status": "cached" if cached else "ok", "target_cached": target_cached,
              "features_cached": details["cached"], "feature_shape": details["shape"], "n_chunks": len(chunks),
              "audio_duration_s": row["audio_duration_s"], "duration_s": info.duration_s, "note": note,
              "separated": bool(separated), "separation_cached": separated.get("cached")}
    return result, row, chunk_rows


def _separation(adapter: DatasetAdapter, separate: str | bool | None, device: str) -> dict | None:
    """The run's separation settings (query, weights revision, a lazy loader), or None; checks the weights."""
    query = adapter.separation_query if separate is None or separate is True else separate
    if separate is True and not query:
        from folai_models.separation.inference import DEFAULT_QUERY

        query = DEFAULT_QUERY
    if not query:
        return None
    if not isinstance(query, str) or not query.strip():
        raise OptionError(f"separate must be a text query, True, False or None, got {separate!r}")
    from tasks.separation import (
        load_separator,
        require_separation_weights,
        separation_revision,
    )

    require_separation_weights()
    loaded: list = []

    def separator():  # AudioSep loads on the first item whose separated audio is not cached
        if not loaded:
            loaded.append(load_separator(device=device))
        return loaded[0]

    return {"query": query.strip(), "revision": separation_revision(), "load": separator}


def _separated_audio(item: DatasetItem, sha: str, separation: dict) -> tuple[Path, dict]:
    """The item's separated audio (cached or made now) and what the catalog records about it."""
    from tasks.separation import separated_target_audio

    path, cached, key_id = separated_target_audio(item.video_path, sha, separation["query"],
                                                  separator=separation["load"], revision=separation["revision"])
    return path, {"target_source": key_id, "query": separation["query"], "revision": separation["revision"],
                  "path": str(path), "cached": cached}


def _item_columns(item: DatasetItem, stage: VideoStage, context: dict) -> dict:
    return {
        "dataset": item.dataset, "split": item.split, "item_id": item.item_id, "root": context["root"],
        "video_path": item.video_path, "chunk_s": item.chunk_s, "prompt": item.prompt,
        "material": item.material, "action": item.action, "reaction": item.reaction,
        "n_hits": None if item.hits is None else len(item.hits),
        "clip_start_s": item.start_s, "clip_end_s": item.end_s, "feature_encoder": stage.cache_name,
        "split_method": context["split_method"], "split_record": context["split_record"],
        "run_id": context["run_id"], "created_at": context["created_at"],
    }


def _failure(item: DatasetItem, stage: VideoStage, context: dict, error: str) -> tuple[dict, dict, list[dict]]:
    row = {**_item_columns(item, stage, context), "status": "failed", "error": error}
    result = {"item_id": item.item_id, "split": item.split, "video_path": item.video_path, "status": "failed",
              "error": error}
    return result, row, []


def _summary(adapter: DatasetAdapter, items: list[DatasetItem], results: list[dict], stage: VideoStage,
             features: FeatureCache, targets: TargetCache, record: dict, split_path: Path, root: str,
             run_id: str) -> dict:
    splits: dict[str, int] = {}
    for r in results:
        if r["status"] != "failed":
            splits[r["split"]] = splits.get(r["split"], 0) + 1
    return {
        "run_id": run_id,
        "dataset": adapter.name,
        "root": str(root),
        "encoder": stage.cache_name,
        "flow": stage.flow_method,
        "revision": stage.revision,
        "target_spec": targets.spec.id,
        "n_items": len(items),
        "n_selected": len(results),
        "n_ok": sum(r["status"] in ("ok", "cached") for r in results),
        "n_cached": sum(r["status"] == "cached" for r in results),
        "n_failed": sum(r["status"] == "failed" for r in results),
        "splits": splits,
        "split_method": record["method"],
        "split_counts": record["counts"],
        "split_record": str(split_path),
        "feature_cache": str(features.root),
        "target_cache": str(targets.root),
        "notes": [f"{r['item_id']}: {r['note']}" for r in results if r.get("note")],
        "failures": [{"item_id": r["item_id"], "error": r["error"]} for r in results if r["status"] == "failed"],
        "items": results,
    }


def summary_markdown(summary: dict) -> str:
    """A short markdown summary of a preprocess run."""
    lines = [
        f"# preprocess `{summary['dataset']}` ({summary['root']})",
        "",
        f"- items: {summary['n_selected']} of {summary['n_items']} ({summary['n_ok']} ok, "
        f"{summary['n_cached']} of them from the caches, {summary['n_failed']} failed)",
        f"- split: {summary['split_counts']} ({summary['split_method']}), recorded in `{summary['split_record']}`",
        f"- encoder `{summary['encoder']}`, target `{summary['target_spec']}`",
        "",
    ]
    lines += [f"- note: {note}" for note in summary["notes"]]
    lines += [f"- failed: {f['error']}" for f in summary["failures"]]
    return "\n".join(lines) + "\n"


def _require_absolute_in_deployments(paths: list[str]) -> None:
    """A worker runs each flow run in a temporary folder: relative paths would vanish with it."""
    from prefect.runtime import deployment

    if deployment.id is None:
        return
    relative = [p for p in paths if not Path(p).expanduser().is_absolute()]
    if relative:
        raise OptionError(f"deployment runs need absolute paths (a worker runs in a temporary folder): {relative}")


__all__ = ["preprocess", "summary_markdown"]
