"""The ``sonorize`` flow: videos in, synchronized Foley out.

For each video: probe -> hash -> envelope (engine) -> synthesis (engine) ->
envelope file, plot, labels, WAV, muxed MP4 -> record. One broken video is
reported with its reason and the others still finish; a re-run skips videos
whose outputs exist for the same content and settings. A batch in which any
video failed ends in the Failed state ("N of M videos failed"), so Prefect's
alerts and automations see it; the other videos' outputs are kept.

The flow is declared lazily (:mod:`flows.pipeline_flow`): reading
``sonorize_batch`` from this module gives the Prefect flow, built then;
``sonorize(prefect=False)`` (``sonorize run`` without a Prefect server) calls the
plain function and never imports Prefect (nor pandas, which it brings).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from data_catalog.atomic import json_text, remove_stale_temporaries, write_json_atomic
from data_catalog.claims import Claim, ClaimBook
from data_catalog.errors import OptionError, OutputError
from data_catalog.hashing import fingerprint
from data_catalog.locations import Location, is_url
from data_catalog.output_folders import assign_output_folders
from data_catalog.run_records import VIDEO_RUNS_TABLE, video_run_row
from data_catalog.settings import get_settings
from flows import run_ids
from flows.bucket_video import BucketTargets
from flows.fan_out import FAN_OUTS, Heartbeat, VideoItem, overlap_batch, run_items
from flows.inputs import collect_inputs
from flows.per_item import run_logger
from flows.pipeline_flow import PipelineFlow, flow_module_getattr
from flows.progress import BatchProgress
from flows.run_logging import VideosFailed, quiet_input_error_tracebacks
from flows.video_options import VideoContext, VideoOptions
from tasks._options import in_prefect_run, sonorize_version
from tasks.catalog_tasks import append_catalog_rows_task
from tasks.engines import (
    create_envelope_engine_from_config,
    create_synth_engine_from_config,
    resolve_envelope_engine,
    resolve_synth_engine,
)
from tasks.library_tasks import library_fingerprint

RECORD_PREFIX = "sonorize-run"
FAILED_NAMES_SHOWN = 5  # failed videos named in the Failed state's message


def _check_output_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(out_dir)  # of a killed run (its run record)
        probe = out_dir / f".sonorize-write-test-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(out_dir, f"output folder is not writable ({exc.strerror or exc})") from None


def sonorize_batch(
    paths: list[str],
    out_dir: str | None = None,
    envelope_engine: str = "auto",
    synth_engine: str = "foley",
    prompt: str | None = None,
    audio_prompt: str | None = None,
    room_tone_db: float | None = None,
    reverb: float | None = None,
    seed: int = 0,
    force: bool = False,
    encoder: str | None = None,
    flow_method: str | None = None,
    device: str = "auto",
    show_progress: bool = False,
    quarantine_dir: str | None = None,
    claims: list[dict] | None = None,
    state_dir: str | None = None,
    heartbeat_s: float = 30.0,
    fan_out: str = "none",
    dask_address: str | None = None,
    dask_workers: int = 2,
    synth_fallback_preview: bool = False,
    init_noise_level: float | None = None,
    steps: int | None = None,
    cfg_scale: float | None = None,
    sampler: str | None = None,
    candidates: int | None = None,
    overlap: bool | None = None,
) -> dict:
    """Sonorize every video in ``paths`` (files, folders or URLs) into ``out_dir``.

    Parameters
    ----------
    paths : video files or folders (searched recursively for video files), or object-store
        URLs (``s3://bucket/prefix/`` lists every video below the prefix; a key names one).
    out_dir : output folder or URL (default: the ``SONORIZE_OUTPUT_DIR`` setting). Inputs from
        a prefix keep their relative names: ``PREFIX/a/b.mp4`` -> ``OUT/a/b/b.foley.wav``...
    envelope_engine : what predicts the envelope: ``video2rms`` (the learned model; its shipped
        checkpoint needs no pretrained weights), ``preview`` (motion heuristic, no PyTorch),
        ``steps`` (footsteps from pose and the camera's gait; needs MediaPipe) or ``auto``: per
        video from evidence (a walk -> steps, a still camera -> video2rms, else preview), the
        choice and its reason in each video's record (``engines.envelope_choice``).
    synth_engine : what renders audio: ``foley`` (events with their tails over room tone, from a
        sampler over ``audio_prompt`` or procedural materials), ``preview`` (the earlier gated
        grain synthesizer), ``folai`` (Stable Audio Open + the envelope ControlNet) or ``sao``
        (Stable Audio Open regenerating the foley render, conditioned on ``prompt``); the neural
        engines need their weights, else the flow stops naming what is missing and how to get it.
    prompt : text naming the material (e.g. "footsteps on gravel"); with a library, file and folder
        names matching its words are preferred.
    audio_prompt : an audio file, or a folder of them (your sound library: ``foley`` only), to
        build the sound from.
    room_tone_db : ``foley``: room tone level in dBFS RMS (default: the source's own floor relative
        to the clip's loud events; ``-inf`` turns it off).
    reverb : ``foley``: small-room wet level in [0, 1] (default: 0 for a library, 0.12 procedural).
    seed : random seed of the synthesizer.
    force : recompute videos whose outputs already exist.
    encoder : also compute and cache frame features with this encoder (``motion``,
        ``tc_clip``, ``bn_inception``), for the learned envelope model; None skips it.
    flow_method : optical flow for the encoder (``raft`` / ``opencv``; default per encoder).
    device : where the video stage runs (``auto``: the GPU when present; ``cpu``, ``cuda``).
    show_progress : draw a progress bar (the command line sets it).
    quarantine_dir : folder or URL where inputs that fail are copied with an ``.error.txt``
        report beside them (URL and bucket inputs only; None: failures are only reported).
    claims : objects claimed by the watcher (``watch-bucket``); processed instead of ``paths``,
        each finished exactly once through the claim records under ``state_dir``.
    state_dir : folder or URL of the claim records (with ``claims``).
    heartbeat_s : how often this run tells the claim records it is alive (with ``claims``).
    fan_out : ``none`` (videos one after the other in this process) or ``dask`` (one task
        per video on a Dask cluster: ``dask_address``, or a local one of ``dask_workers``).
    dask_address : scheduler of an existing Dask cluster (``tcp://host:8786``).
    dask_workers : worker processes of the local Dask cluster when no address is given.
    synth_fallback_preview : when the synth engine's weights are missing, use ``preview`` instead
        of stopping (off unless asked for).
    init_noise_level, steps, cfg_scale, sampler, candidates : ``sao`` engine: how far Stable Audio Open
        may move from the foley render (0: not at all; higher: more realism, less of the render's
        timing), sampling steps, classifier-free guidance scale, sampler, and seeds tried per window
        (the best-timed is kept). None: the engine's defaults.
    overlap : analyse the next video (decode, flow, envelope) while the current one's outputs are
        written (synthesis, mux): at most two videos in flight, same outputs and records. None: on
        for batches of more than one local file on the CPU engines (``foley``/``preview`` synthesis,
        no ``encoder``); never in a Prefect flow run, with ``fan_out="dask"``, bucket objects or claims.

    Returns
    -------
    The batch run record (also written as JSON into ``out_dir``); in a flow run where any video
    failed, a Failed state ("N of M videos failed: names") holding that record.
    """
    in_flow = in_prefect_run()  # else called as the plain function (sonorize(prefect=False))
    logger = run_logger()
    quiet_input_error_tracebacks()
    settings = get_settings()
    started = datetime.now(timezone.utc)
    run_id, run_id_source = run_ids.run_id()
    if fan_out not in FAN_OUTS:
        raise OptionError(f"fan_out must be one of {sorted(FAN_OUTS)}, not {fan_out!r}")
    out_text = str(out_dir) if out_dir else str(settings.output_dir)
    remote_out = is_url(out_text)
    out_root = Path(out_text) if not remote_out else None
    _require_absolute_in_deployments([*paths, out_text, *([quarantine_dir] if quarantine_dir else [])])
    # Fail fast on a wrong engine name, before any video is touched.
    envelope_engine = resolve_envelope_engine(envelope_engine)
    synth_engine = resolve_synth_engine(synth_engine, synth_fallback_preview, warn=logger.warning)
    options = VideoOptions(envelope_engine=envelope_engine, synth_engine=synth_engine, prompt=prompt,
                           audio_prompt=audio_prompt, seed=seed, force=force, encoder=encoder,
                           room_tone_db=room_tone_db, reverb=reverb, init_noise_level=init_noise_level,
                           steps=steps, cfg_scale=cfg_scale, sampler=sampler, candidates=candidates)
    engines = {"envelope": create_envelope_engine_from_config(envelope_engine).describe(),
               "synth": create_synth_engine_from_config(synth_engine, **options.engine_options()).describe()}
    context = VideoContext()
    if encoder:  # built once per batch; missing weights stop here, before any video
        from tasks.feature_tasks import (
            build_video_stage,  # PyTorch: only when asked for
        )

        context = VideoContext(video_stage=build_video_stage(encoder, flow_method, device))
        options = replace(options, flow=context.video_stage.flow_method)
    if audio_prompt:
        options = replace(options, audio_prompt_sha256=library_fingerprint(audio_prompt)
                          if Path(audio_prompt).exists() else None)
    options = replace(options, fingerprint=fingerprint({**options.public(), "version": sonorize_version()}))
    targets = BucketTargets(output_url=out_text, quarantine_url=quarantine_dir, state_url=state_dir)
    claim_list = [Claim.from_dict(c) for c in claims or []]
    if claim_list and not state_dir:
        raise OptionError("claims need state_dir (where the watcher keeps the claim records)")
    items = _items(paths, claim_list, remote_out, out_root, logger)
    overlapped = overlap_batch(overlap, items, out_root, fan_out, options, in_flow)
    logger.info("sonorize: %d video(s) -> %s (envelope=%s, synth=%s, fan_out=%s%s)", len(items), out_text,
                envelope_engine, synth_engine, fan_out, ", overlapped" if overlapped else "")

    out_error = None
    if out_root is not None:
        try:
            _check_output_dir(out_root)
        except OutputError as exc:
            out_error = str(exc)
            logger.error(out_error)

    heartbeat = Heartbeat(ClaimBook(Location(state_dir)) if claim_list else None,
                          sorted({c.holder for c in claim_list}), run_id, heartbeat_s)
    with heartbeat, BatchProgress(len(items), enabled=show_progress and fan_out == "none") as progress:
        records = run_items(items, out_root, targets, options, context, run_id, out_error=out_error, progress=progress,
                            fan_out=fan_out, dask_address=dask_address, dask_workers=dask_workers, overlap=overlapped)
    for record in records:
        if record["status"] == "failed":  # one line per bad video: file and reason
            logger.warning("failed: %s", record["error"])
        else:
            logger.info("%s: %s in %.1f s", record["video_path"], record["status"], record.get("wall_s", 0.0))

    run = {
        "run_id": run_id,
        "run_id_source": run_id_source,
        "started_at": started.isoformat(),
        "finished_at": datetime.now(timezone.utc).isoformat(),
        "sonorize_version": sonorize_version(),
        "envelope_engine": envelope_engine,
        "synth_engine": synth_engine,
        "engines": engines,
        "options": options.public(),
        "out_dir": out_text,
        "fan_out": fan_out,
        "n_videos": len(records),
        "n_ok": sum(r["status"] in ("ok", "cached") for r in records),
        "n_failed": sum(r["status"] == "failed" for r in records),
        "n_skipped": sum(r["status"] == "skipped" for r in records),
        "videos": records,
    }
    _publish(run, out_text, settings.catalog_dir, started, logger, write_record=out_error is None,
             artifacts=in_flow)
    return batch_outcome(run) if in_flow else run  # the Failed state is for Prefect; a plain call gets the record


# Reading `sonorize_batch` from this module (the deployments' entrypoint) gives the Prefect flow,
# built then; the plain function is BATCH_FLOW.fn.
BATCH_FLOW = PipelineFlow(sonorize_batch, name="sonorize", log_prints=True)
del sonorize_batch
__getattr__ = flow_module_getattr(__name__, BATCH_FLOW)


def batch_outcome(run: dict):
    """The record, or a Failed state holding it when videos failed (what alerts and automations see)."""
    if not run["n_failed"]:
        return run
    from prefect.states import Failed

    names = [Path(v["video_path"]).name for v in run["videos"] if v["status"] == "failed"]
    shown = ", ".join(names[:FAILED_NAMES_SHOWN]) + (", ..." if len(names) > FAILED_NAMES_SHOWN else "")
    message = f"{run['n_failed']} of {run['n_videos']} videos failed: {shown}"
    return Failed(message=message, data=VideosFailed(message, run))  # a failed state's data is an exception


def sonorize(paths: list[str], *, prefect: bool = True, **parameters) -> dict:
    """Run the ``sonorize`` flow in this process; its batch record, also when videos failed.

    Parameters
    ----------
    paths, **parameters : as :func:`sonorize_batch` (the flow deployments run).
    prefect : run it as a Prefect flow run (with a Prefect API: a server's, or the temporary one
        Prefect starts, seconds per process); False runs the same batch as plain functions
        (the flow's function: same outputs, run record and catalog rows, no Prefect run or artifacts).

    Returns
    -------
    The batch run record. The flow run itself ends Failed when any video failed; an error
    before any video was processed (an unknown engine, missing weights) is raised.
    """
    if not prefect:
        outcome = BATCH_FLOW.fn(paths=paths, **parameters)
        return outcome if isinstance(outcome, dict) else outcome.data.run  # a Failed state when called in a run
    state = BATCH_FLOW.flow(paths=paths, **parameters, return_state=True)
    result = state.result(raise_on_failure=False)
    if isinstance(result, VideosFailed):
        return result.run
    if isinstance(result, BaseException):
        raise result
    return result


def _items(paths: list[str], claims: list[Claim], remote_out: bool, out_root: Path | None, logger) -> list[VideoItem]:
    """What to process: claimed objects, else the videos under ``paths`` (local or URLs)."""
    if claims:
        return [VideoItem(source_url=c.input_url, info=c.object, claim=c) for c in claims]
    items: list[VideoItem] = []
    local = [p for p in paths if not is_url(p)]
    videos = collect_inputs(local)
    notes: dict[str, str] = {}

    def note(video: str, message: str) -> None:
        notes[video] = message
        logger.warning("%s: %s", video, message)

    folders = {} if remote_out else assign_output_folders([(v.path, v.relative) for v in videos], out_root, note)
    for video in videos:
        if remote_out:  # processed in a temporary folder, outputs uploaded: same as a bucket object
            folder = Location(str(Path(video.path).parent))
            info = folder.info(Path(video.path).name)
            if info is not None:
                items.append(VideoItem(source_url=folder.url, info=info))
                continue
            items.append(VideoItem(local_path=video.path, stem=Path(video.path).stem or "video"))
            continue
        relative, stem = folders[video.path]
        items.append(VideoItem(local_path=video.path, stem=stem, folder=str(relative), note=notes.get(video.path)))
    for url in (p for p in paths if is_url(p)):
        items += _url_items(url)
    return items


def _url_items(url: str) -> list[VideoItem]:
    from data_catalog.bucket_keys import is_pending_or_hidden
    from flows.inputs import VIDEO_EXTENSIONS

    prefix = Location(url)
    objects = [o for o in prefix.list() if not is_pending_or_hidden(o.key)
               and Path(o.key).suffix.lower() in VIDEO_EXTENSIONS]
    if objects:
        return [VideoItem(source_url=prefix.url, info=o) for o in objects]
    parent_url, _, name = url.rstrip("/").rpartition("/")
    parent = Location(parent_url)
    single = parent.info(name)
    if single is None:  # reported as a failed video, like a missing local path
        return [VideoItem(local_path=url, stem=Path(name).stem or "video")]
    return [VideoItem(source_url=parent.url, info=single)]


def _require_absolute_in_deployments(paths: list[str]) -> None:
    """A worker runs each flow run in a temporary folder: relative paths would vanish with it."""
    if not in_prefect_run():  # a deployment's run is a flow run
        return
    from prefect.runtime import deployment

    if deployment.id is None:
        return
    relative = [p for p in paths if not is_url(p) and not Path(p).expanduser().is_absolute()]
    if relative:
        raise OptionError(
            f"deployment runs need absolute paths (a worker runs in a temporary folder): {relative}; "
            "set out_dir (or SONORIZE_OUTPUT_DIR on the worker) and paths to absolute locations"
        )


def _publish(run: dict, out_text: str, catalog_dir: Path, started: datetime, logger, write_record: bool,
             artifacts: bool = True) -> None:
    """Run record JSON, catalog rows, Prefect artifacts; a failure here is logged, not fatal."""
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    if write_record:
        name = f"{RECORD_PREFIX}-{stamp}-{run['run_id'][:8]}.json"
        try:
            if is_url(out_text):
                out = Location(out_text)
                run["record_path"] = out.url_of(name)
                out.put_bytes(name, json_text(run).encode("utf-8"))
            else:
                run["record_path"] = str(write_json_atomic(Path(out_text) / name, run))
        except OSError as exc:
            logger.error("could not write the run record into %s: %s", out_text, exc)
    try:
        rows = [video_run_row({**run, "started_at": started}, v) for v in run["videos"]]
        run["catalog_path"] = str(append_catalog_rows_task(catalog_dir, VIDEO_RUNS_TABLE, rows,
                                                           f"{stamp}-{run['run_id']}"))
    except OSError as exc:
        logger.error("could not append to the catalog at %s: %s", catalog_dir, exc)
    if not artifacts:
        return
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    create_table_artifact(key="sonorize-videos", table=[_table_row(v) for v in run["videos"]],
                          description=f"sonorize run {run['run_id']}: per-video results")
    create_markdown_artifact(key="sonorize-summary", markdown=summary_markdown(run),
                             description="sonorize run summary")


def _table_row(video: dict) -> dict:
    metrics = video.get("metrics") or {}
    return {
        "video": video.get("video_path"),
        "status": video.get("status"),
        "duration_s": (video.get("video") or {}).get("duration_s"),
        "wall_s": video.get("wall_s"),
        "onset_f1": (metrics.get("vs_original_audio") or {}).get("onset_f1"),
        "envelope": envelope_choice(video),
        "error": video.get("error") or "",
    }


def envelope_choice(video: dict) -> str:
    """The envelope engine a video got and why (``auto``: "steps: a person's lower body is in view ...")."""
    engines = video.get("engines") or {}
    choice = engines.get("envelope_choice") or {}
    name = choice.get("chosen") or engines.get("envelope") or ""
    steps = choice.get("steps", choice)
    reason = "; ".join(r for r in (choice.get("reason"), steps.get("reason") if steps is not choice else None) if r)
    return f"{name}: {reason}" if reason else name


def summary_markdown(run: dict) -> str:
    """A short markdown summary of a batch run."""
    lines = [
        f"# sonorize run `{run['run_id']}`",
        "",
        f"- videos: {run['n_videos']} ({run['n_ok']} ok, {run['n_failed']} failed)",
        f"- envelope engine: `{run['envelope_engine']}`, synth engine: `{run['synth_engine']}`",
        f"- outputs: `{run['out_dir']}`",
        "",
        "| video | status | seconds | envelope | detail |",
        "|---|---|---|---|---|",
    ]
    for v in run["videos"]:
        detail = v.get("error") or v.get("output_dir") or ""
        lines.append(f"| {Path(v['video_path']).name} | {v['status']} | {v.get('wall_s', '')} | "
                     f"{envelope_choice(v)} | {detail} |")
    return "\n".join(lines) + "\n"
