"""One video through the stages, composed from tasks (used by the ``sonorize`` flow)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_catalog.atomic import remove_stale_temporaries, write_json_atomic
from data_catalog.errors import OutputError, is_write_error, output_error
from folai_models.events import detect_onsets
from folai_models.metrics import envelope_scores
from flows import api
from flows.video_options import VideoContext, VideoOptions
from flows.api import output_paths
from tasks.media_tasks import reference_envelope_task

GPU_ENVELOPE_ENGINES = frozenset({"video2rms"})  # engines whose task counts against the `gpu` limit
MIN_SCORED_COVERAGE = 0.5  # score against original audio only when it covers half the video
AUDIO_SHORTFALL_WARN_S = 0.25  # audio a little shorter than the picture is normal (codec priming)


class _Timer:
    def __init__(self):
        self.timings: dict[str, float] = {}

    def __call__(self, name: str, fn: Callable, *args, **kwargs):
        """Run ``fn`` (a pipeline task: a task run inside a flow run, a plain call outside one), timed."""
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - start, 4)
        return result


def gpu_tag(on: bool):
    """Tag the task runs inside with ``gpu`` (the concurrency limit of a worker's GPUs) when ``on``.

    Nothing to tag while Prefect is not even loaded (no run can be active): it stays unimported.
    """
    if not on or "prefect" not in sys.modules:
        return contextlib.nullcontext()
    from prefect import tags

    return tags("gpu")


def _cached_record(paths: dict[str, Path], sha: str, options: VideoOptions) -> dict | None:
    """The previous record when its outputs all exist for the same content and settings."""
    try:
        record = json.loads(paths["record"].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (record.get("status") != "ok" or record.get("video_sha256") != sha
            or record.get("fingerprint") != options.fingerprint):
        return None
    if not all(Path(p).is_file() for p in record.get("outputs", {}).values()):
        return None
    return record


def sonorize_video(video: str, out_dir: Path, stem: str, options: VideoOptions,
                   stage: Callable[[str], None] = lambda s: None, notes: list[str] | None = None,
                   context: VideoContext | None = None) -> dict:
    """Run every stage for one video and write its outputs; return its record.

    ``context`` holds what the batch loaded for ``options`` (default: nothing loaded yet).
    The same as :func:`finish_video` of :func:`analyse_video`, the halves an overlapped batch
    runs side by side.

    Raises SonorizeInputError (bad input) or OutputError (cannot write: full, read-only, ...).
    Each output file is written atomically and verified, and an attempt that cannot write
    removes what it wrote, so a failure leaves no partial file and no partial set.
    """
    context = context or VideoContext()
    return finish_video(analyse_video(video, out_dir, stem, options, stage, notes, context), options, context, stage)


@dataclass
class Analysed:
    """A video's first half (probe, hash, features, envelope, original audio): what
    :func:`finish_video` writes the outputs from. Nothing of it is written into ``out_dir``.
    """

    video: str
    out_dir: Path
    stem: str
    started: float  # perf_counter at the probe: the record's wall_s counts from here
    timer: _Timer
    warnings: list[str]
    error: Exception | None = None  # what the first half raised: raised again by finish_video
    cached: dict | None = None  # the previous record, when its outputs are all there: nothing to do
    info: object = None
    sha: str | None = None
    features: dict | None = None
    envelope: np.ndarray | None = None
    rate: float | None = None
    envelope_details: dict | None = None
    reference: np.ndarray | None = None
    covered: float | None = None


def analyse_video(video: str, out_dir: Path, stem: str, options: VideoOptions,
                  stage: Callable[[str], None] = lambda s: None, notes: list[str] | None = None,
                  context: VideoContext | None = None) -> Analysed:
    """The first half of :func:`sonorize_video`: reads the video and the caches, writes no output.

    Never raises an Exception: one is kept in ``error`` and raised by :func:`finish_video`, which
    tidies the output folder as :func:`sonorize_video` always did. Safe beside another video's
    :func:`finish_video` (an overlapped batch): it shares nothing with it but the caches.
    """
    analysed = Analysed(video, out_dir, stem, time.perf_counter(), _Timer(), list(notes or []))
    try:
        _analyse(analysed, options, context or VideoContext(), stage)
    except Exception as exc:
        analysed.error = exc
    return analysed


def finish_video(analysed: Analysed, options: VideoOptions, context: VideoContext | None = None,
                 stage: Callable[[str], None] = lambda s: None) -> dict:
    """The second half of :func:`sonorize_video`: the outputs and the record (or the first half's error)."""
    out_dir, stem = analysed.out_dir, analysed.stem
    remove_stale_temporaries(out_dir)  # a killed run's half-written files
    before = _output_states(out_dir, stem)
    try:
        if analysed.error is not None:
            raise analysed.error
        if analysed.cached is not None:
            return analysed.cached
        return _finish(analysed, options, context or VideoContext(), stage)
    except OutputError:
        _remove_written(out_dir, stem, before)
        raise
    except OSError as exc:
        if not is_write_error(exc):
            raise
        _remove_written(out_dir, stem, before)
        raise output_error(exc.filename or out_dir, exc) from None
    finally:
        with contextlib.suppress(OSError):
            out_dir.rmdir()  # only succeeds when nothing was written


def _output_states(out_dir: Path, stem: str) -> dict[str, tuple | None]:
    states = {}
    for key, path in output_paths(out_dir, stem).items():
        try:
            info = path.stat()
            states[key] = (info.st_ino, info.st_mtime_ns, info.st_size)
        except OSError:
            states[key] = None
    return states


def _remove_written(out_dir: Path, stem: str, before: dict[str, tuple | None]) -> None:
    """Remove the outputs this attempt wrote (a set it could not finish); older ones stay."""
    after = _output_states(out_dir, stem)
    for key, path in output_paths(out_dir, stem).items():
        if after[key] is not None and after[key] != before[key]:
            with contextlib.suppress(OSError):
                path.unlink()


def _analyse(a: Analysed, options: VideoOptions, context: VideoContext, stage: Callable[[str], None]) -> None:
    timer = a.timer
    stage("probe")
    a.info, a.sha = api.identify_video(a.video, run=timer)
    if not options.force and (cached := _cached_record(output_paths(a.out_dir, a.stem), a.sha, options)):
        cached.update(status="cached", wall_s=round(time.perf_counter() - a.started, 3))
        a.cached = cached
        return

    if context.video_stage is not None:
        from tasks.feature_tasks import frame_features  # PyTorch: only with --encoder

        stage(f"{options.encoder} features")
        _, a.features = timer("features", frame_features, a.info, a.sha, context.video_stage)

    stage("envelope")
    with gpu_tag(options.envelope_engine in GPU_ENVELOPE_ENGINES):  # the learned model runs on the GPU
        a.envelope, a.rate, a.envelope_details = api.predict_envelope(a.info, a.sha, options.envelope_engine,
                                                                      run=timer)
    if a.info.has_audio:
        stage("reference audio")
        try:
            a.reference, a.covered = timer("reference", reference_envelope_task, a.video, len(a.envelope))
            if a.covered < a.info.duration_s - AUDIO_SHORTFALL_WARN_S:
                a.warnings.append(f"original audio ends early: {a.covered:.2f} s of {a.info.duration_s:.2f} s")
        except Exception as exc:  # the original audio is optional: score nothing, say why
            a.warnings.append(f"original audio unreadable, not scored: {exc}")


def _finish(a: Analysed, options: VideoOptions, context: VideoContext, stage: Callable[[str], None]) -> dict:
    video, out_dir, timer, envelope, rate, reference = a.video, a.out_dir, a.timer, a.envelope, a.rate, a.reference
    paths = output_paths(out_dir, a.stem)
    stage("envelope files")  # first: its sidecar names the source, should the run be killed
    metadata = api.envelope_metadata(video, a.sha, options.envelope_engine, a.envelope_details, source_path=True)
    api.write_envelope_files(paths, envelope, rate, title=f"{Path(video).name} ({options.envelope_engine} envelope)",
                             metadata=metadata, reference=reference, run=timer)
    stage("synthesis")
    synth_details = api.render_sound(paths, envelope, rate, a.info, options, context, run=timer)
    rendered = synth_details.pop("rendered_envelope")

    stage("writing outputs")
    mux = api.mux_video(paths, video, run=timer)

    metrics = {"n_onsets": int(len(detect_onsets(envelope, rate)))}
    follow = envelope_scores(envelope, _match_length(rendered, len(envelope)), rate)
    metrics["synth_follows_envelope"] = _rounded(follow)
    if reference is not None:
        n = min(len(envelope), int(a.covered * rate))
        if n >= MIN_SCORED_COVERAGE * len(envelope):
            metrics["vs_original_audio"] = _rounded(envelope_scores(reference[:n], envelope[:n], rate))

    outputs = {k: str(v) for k, v in paths.items() if k != "record"}
    record = {
        "video_path": video,
        "source_path": os.path.abspath(video),  # whose outputs these are (data_catalog.output_folders)
        "video_sha256": a.sha,
        "status": "ok",
        "error": None,
        "output_dir": str(out_dir),
        "outputs": outputs,
        "video": a.info.to_dict(),
        "engines": {"envelope": options.envelope_engine, "synth": options.synth_engine, **synth_details,
                    "envelope_choice": a.envelope_details,
                    "video_copied_into_mp4": mux.get("video_copied")},
        "options": options.public(),
        "fingerprint": options.fingerprint,
        "timings": timer.timings,
        "metrics": metrics,
        "features": a.features,
        "warnings": a.warnings,
        "wall_s": round(time.perf_counter() - a.started, 3),
    }
    write_json_atomic(paths["record"], record)
    return record


def _match_length(envelope: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad an envelope to ``n`` frames (rounding of 44.1 vs 16 kHz lengths)."""
    return envelope[:n] if len(envelope) >= n else np.pad(envelope, (0, n - len(envelope)))


def _rounded(scores: dict) -> dict:
    out = {}
    for key, value in scores.items():
        if isinstance(value, (float, np.floating)):
            out[key] = round(float(value), 5)
        elif isinstance(value, (int, np.integer)):
            out[key] = int(value)
        elif isinstance(value, dict):
            out[key] = _rounded(value)
    return out
