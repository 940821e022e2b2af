"""The ``sonorize`` flow: videos in, synchronized Foley out.

For each video: probe -> hash -> envelope (engine) -> synthesis (engine) ->
envelope file, plot, labels, WAV, muxed MP4 -> record. One broken video is
reported with its reason and the others still finish; a re-run skips videos
whose outputs exist for the same content and settings.
"""

from __future__ import annotations

import time
import traceback
import uuid
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from data_catalog.atomic import write_json_atomic
from data_catalog.errors import OutputError, SonorizeInputError
from data_catalog.hashing import fingerprint, sha256_file
from data_catalog.run_records import VIDEO_RUNS_TABLE, append_rows, video_run_row
from data_catalog.settings import get_settings
from flows.inputs import collect_videos, output_stems
from flows.progress import BatchProgress
from flows.video_pipeline import VideoOptions, sonorize_video
from tasks.engines import get_envelope_engine, get_synth_engine, resolve_envelope_engine, resolve_synth_engine

RECORD_PREFIX = "sonorize-run"


def sonorize_version() -> str:
    try:
        return version("sonorize")
    except PackageNotFoundError:
        return "unknown"


def _check_output_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".sonorize-write-test-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(out_dir, f"output folder is not writable ({exc.strerror or exc})") from None


@flow(name="sonorize", log_prints=True)
def sonorize(
    paths: list[str],
    out_dir: str | None = None,
    envelope_engine: str = "auto",
    synth_engine: str = "preview",
    prompt: str | None = None,
    audio_prompt: str | None = None,
    seed: int = 0,
    force: bool = False,
    encoder: str | None = None,
    flow_method: str | None = None,
    device: str = "auto",
    show_progress: bool = False,
    synth_fallback_preview: bool = False,
) -> dict:
    """Sonorize every video in ``paths`` (files or folders) into ``out_dir``.

    Parameters
    ----------
    paths : video files or folders (searched recursively for video files).
    out_dir : output folder (default: the ``SONORIZE_OUTPUT_DIR`` setting).
    envelope_engine : what predicts the envelope: ``video2rms`` (the learned model; its shipped
        checkpoint needs no pretrained weights), ``preview`` (motion heuristic, no PyTorch), or
        ``auto``: video2rms when PyTorch and a checkpoint are there, else preview.
    synth_engine : what renders audio: ``preview`` (procedural / sample grains) or ``folai``
        (Stable Audio Open + the envelope ControlNet; needs its weights, else the flow stops
        naming what is missing and how to get it).
    prompt : text naming the material (e.g. "footsteps on gravel").
    audio_prompt : an audio file whose grains the preview synthesizer reuses.
    seed : random seed of the synthesizer.
    force : recompute videos whose outputs already exist.
    encoder : also compute and cache frame features with this encoder (``motion``,
        ``tc_clip``, ``bn_inception``), for the learned envelope model; None skips it.
    flow_method : optical flow for the encoder (``raft`` / ``opencv``; default per encoder).
    device : where the video stage runs (``auto``: the GPU when present; ``cpu``, ``cuda``).
    show_progress : draw a progress bar (the command line sets it).
    synth_fallback_preview : when the synth engine's weights are missing, use ``preview`` instead
        of stopping (off unless asked for).

    Returns
    -------
    The batch run record (also written as JSON into ``out_dir``).
    """
    logger = get_run_logger()
    settings = get_settings()
    started = datetime.now(timezone.utc)
    run_id = _run_id()
    out_root = Path(out_dir) if out_dir else settings.output_dir
    _require_absolute_in_deployments(paths, out_root)
    # Fail fast on a wrong engine name, before any video is touched.
    envelope_engine = resolve_envelope_engine(envelope_engine)
    synth_engine = resolve_synth_engine(synth_engine, synth_fallback_preview, warn=logger.warning)
    engines = {"envelope": get_envelope_engine(envelope_engine).describe(),
               "synth": get_synth_engine(synth_engine).describe()}
    options = VideoOptions(envelope_engine=envelope_engine, synth_engine=synth_engine, prompt=prompt,
                           audio_prompt=audio_prompt, seed=seed, force=force, encoder=encoder)
    if encoder:  # built once per batch; missing weights stop here, before any video
        from tasks.feature_tasks import build_video_stage  # PyTorch: only when asked for

        options.video_stage = build_video_stage(encoder, flow_method, device)
    if audio_prompt:
        options.audio_prompt_sha256 = sha256_file(audio_prompt) if Path(audio_prompt).is_file() else None
    options.fingerprint = fingerprint({**options.public(), "version": sonorize_version()})
    videos = collect_videos(paths)
    stems = output_stems(videos)
    logger.info("sonorize: %d video(s) -> %s (envelope=%s, synth=%s)", len(videos), out_root,
                envelope_engine, synth_engine)

    out_error = None
    try:
        _check_output_dir(out_root)
    except OutputError as exc:
        out_error = str(exc)
        logger.error(out_error)

    records = []
    with BatchProgress(len(videos), enabled=show_progress) as progress:
        for video in videos:
            started_video = time.perf_counter()
            if out_error:
                record = {"video_path": video, "status": "failed", "error": out_error}
            else:
                try:
                    record = sonorize_video(video, out_root / stems[video], stems[video], options,
                                            stage=lambda s, v=video: progress.stage(Path(v).name, s))
                except SonorizeInputError as exc:
                    record = {"video_path": video, "status": "failed", "error": str(exc)}
                except Exception as exc:  # an unexpected bug must not stop the batch either
                    logger.error("unexpected error on %s:\n%s", video, traceback.format_exc())
                    record = {"video_path": video, "status": "failed",
                              "error": f"{video}: internal error {type(exc).__name__}: {exc}"}
            record.setdefault("wall_s", round(time.perf_counter() - started_video, 3))
            if record["status"] == "failed":
                logger.warning("failed: %s", record["error"])
            else:
                logger.info("%s: %s in %.1f s", video, record["status"], record["wall_s"])
            progress.done(Path(video).name, record["status"])
            records.append(record)

    run = {
        "run_id": run_id,
        "started_at": started.isoformat(),
        "finished_at": datetime.now(timezone.utc).isoformat(),
        "sonorize_version": sonorize_version(),
        "envelope_engine": envelope_engine,
        "synth_engine": synth_engine,
        "engines": engines,
        "options": options.public(),
        "out_dir": str(out_root),
        "n_videos": len(records),
        "n_ok": sum(r["status"] in ("ok", "cached") for r in records),
        "n_failed": sum(r["status"] == "failed" for r in records),
        "videos": records,
    }
    _publish(run, out_root, settings.catalog_dir, started, logger, write_record=out_error is None)
    return run


def _require_absolute_in_deployments(paths: list[str], out_root: Path) -> None:
    """A worker runs each flow run in a temporary folder: relative paths would vanish with it."""
    from prefect.runtime import deployment

    if deployment.id is None:
        return
    relative = [p for p in [*paths, str(out_root)] if not Path(p).expanduser().is_absolute()]
    if relative:
        raise ValueError(
            f"deployment runs need absolute paths (a worker runs in a temporary folder): {relative}; "
            "set out_dir (or SONORIZE_OUTPUT_DIR on the worker) and paths to absolute locations"
        )


def _run_id() -> str:
    from prefect.runtime import flow_run

    return str(flow_run.id or uuid.uuid4())


def _publish(run: dict, out_root: Path, catalog_dir: Path, started: datetime, logger, write_record: bool) -> None:
    """Run record JSON, catalog rows, Prefect artifacts; a failure here is logged, not fatal."""
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    if write_record:
        try:
            run["record_path"] = str(write_json_atomic(out_root / f"{RECORD_PREFIX}-{stamp}-{run['run_id'][:8]}.json", run))
        except OSError as exc:
            logger.error("could not write the run record into %s: %s", out_root, exc)
    try:
        rows = [video_run_row({**run, "started_at": started}, v) for v in run["videos"]]
        run["catalog_path"] = str(append_rows(catalog_dir, VIDEO_RUNS_TABLE, rows, f"{stamp}-{run['run_id']}"))
    except OSError as exc:
        logger.error("could not append to the catalog at %s: %s", catalog_dir, exc)
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
        "error": video.get("error") or "",
    }


def summary_markdown(run: dict) -> str:
    """A short markdown summary of a batch run."""
    lines = [
        f"# sonorize run `{run['run_id']}`",
        "",
        f"- videos: {run['n_videos']} ({run['n_ok']} ok, {run['n_failed']} failed)",
        f"- envelope engine: `{run['envelope_engine']}`, synth engine: `{run['synth_engine']}`",
        f"- outputs: `{run['out_dir']}`",
        "",
        "| video | status | seconds | detail |",
        "|---|---|---|---|",
    ]
    for v in run["videos"]:
        detail = v.get("error") or v.get("output_dir") or ""
        lines.append(f"| {Path(v['video_path']).name} | {v['status']} | {v.get('wall_s', '')} | {detail} |")
    return "\n".join(lines) + "\n"
