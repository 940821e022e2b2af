"""One video through the stages, composed from tasks (used by the ``sonorize`` flow)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from data_catalog.atomic import remove_stale_temporaries, write_json_atomic
from data_catalog.errors import OutputError, is_write_error, output_error
from folai_models.events import detect_onsets
from folai_models.metrics import envelope_scores
from tasks._options import run_task
from tasks.envelope_tasks import event_kind, predict_envelope_task
from tasks.library_tasks import sound_bank_task
from tasks.media_tasks import hash_video_task, load_audio_prompt_task, probe_video_task, reference_envelope_task
from tasks.output_tasks import mux_video_task, output_paths, write_envelope_outputs_task
from tasks.synth_tasks import synthesize_task

GPU_ENVELOPE_ENGINES = frozenset({"video2rms"})  # engines whose task counts against the `gpu` limit
LIBRARY_ENGINES = frozenset({"foley", "sao"})  # engines rendering with the foley sampler (a sound library)
MIN_SCORED_COVERAGE = 0.5  # score against original audio only when it covers half the video
AUDIO_SHORTFALL_WARN_S = 0.25  # audio a little shorter than the picture is normal (codec priming)


@dataclass
class VideoOptions:
    """The per-video choices of a batch (recorded in every run record)."""

    envelope_engine: str = "auto"
    synth_engine: str = "foley"
    prompt: str | None = None
    audio_prompt: str | None = None
    seed: int = 0
    force: bool = False
    audio_prompt_sha256: str | None = None
    encoder: str | None = None
    room_tone_db: float | None = None
    reverb: float | None = None
    init_noise_level: float | None = None  # sao engine settings (None: the engine's defaults)
    steps: int | None = None
    cfg_scale: float | None = None
    sampler: str | None = None
    candidates: int | None = None
    fingerprint: str = ""
    video_stage: object | None = field(default=None, repr=False)  # tasks.feature_tasks.VideoStage
    _audio_prompt_cache: tuple | None = field(default=None, repr=False)

    def public(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)  # asdict would deep-copy the models
                if f.name not in ("force", "fingerprint", "video_stage", "_audio_prompt_cache")}
        if self.video_stage is not None:
            data["flow"] = self.video_stage.flow_method
        return data

    def audio_prompt_audio(self, in_flow: bool = True) -> tuple[object | None, int | None]:
        """The audio prompt, prepared once per batch: a sound bank for ``foley`` (a file or a
        folder: the user's library), the decoded sample for the other engines.

        The steps are Prefect tasks inside a flow run, plain functions outside one;
        ``in_flow=False`` forces plain functions.
        """
        if not self.audio_prompt:
            return None, None
        if self._audio_prompt_cache is None:
            def bank_task(path):
                return run_task(sound_bank_task, path) if in_flow else sound_bank_task.fn(path)

            def load_task(path):
                return run_task(load_audio_prompt_task, path) if in_flow else load_audio_prompt_task.fn(path)

            if self.synth_engine in LIBRARY_ENGINES:
                self._audio_prompt_cache = (bank_task(self.audio_prompt), None)
            elif Path(self.audio_prompt).is_dir():
                raise ValueError(f"{self.audio_prompt}: a folder of sounds needs --synth-engine foley or sao "
                                 f"(the {self.synth_engine!r} engine takes one audio file)")
            else:
                self._audio_prompt_cache = load_task(self.audio_prompt)
        return self._audio_prompt_cache

    def engine_options(self) -> dict:
        """Options of the synth engine (``foley``; ``sao``: its own and those of the foley render it starts from)."""
        if self.synth_engine not in LIBRARY_ENGINES:
            return {}
        options = {"room_tone_db": self.room_tone_db, "reverb": self.reverb}
        if self.synth_engine == "sao":
            options.update(init_noise_level=self.init_noise_level, steps=self.steps, cfg_scale=self.cfg_scale,
                           sampler=self.sampler, candidates=self.candidates)
        return options


class _Timer:
    def __init__(self):
        self.timings: dict[str, float] = {}

    def __call__(self, name: str, fn: Callable, *args, **kwargs):
        """Run ``fn`` (a Prefect task: a task run inside a flow run, a plain call outside one), timed."""
        start = time.perf_counter()
        result = run_task(fn, *args, **kwargs) if hasattr(fn, "fn") else fn(*args, **kwargs)
        self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - start, 4)
        return result


def gpu_tag(on: bool):
    """Tag the task runs inside with ``gpu`` (the concurrency limit of a worker's GPUs) when ``on``."""
    if not on:
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
                   stage: Callable[[str], None] = lambda s: None, notes: list[str] | None = None) -> dict:
    """Run every stage for one video and write its outputs; return its record.

    Raises SonorizeInputError (bad input) or OutputError (cannot write: full, read-only, ...).
    Each output file is written atomically and verified, and an attempt that cannot write
    removes what it wrote, so a failure leaves no partial file and no partial set.
    """
    remove_stale_temporaries(out_dir)  # a killed run's half-written files
    before = _output_states(out_dir, stem)
    try:
        return _sonorize_video(video, out_dir, stem, options, stage, list(notes or []))
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


def _sonorize_video(video: str, out_dir: Path, stem: str, options: VideoOptions,
                    stage: Callable[[str], None], warnings: list[str]) -> dict:
    timer = _Timer()
    started = time.perf_counter()
    stage("probe")
    info = timer("probe", probe_video_task, video)
    sha = timer("hash", hash_video_task, video)
    paths = output_paths(out_dir, stem)
    if not options.force and (cached := _cached_record(paths, sha, options)):
        cached.update(status="cached", wall_s=round(time.perf_counter() - started, 3))
        return cached

    features = None
    if options.video_stage is not None:
        from tasks.feature_tasks import frame_features  # PyTorch: only with --encoder

        stage(f"{options.encoder} features")
        _, features = timer("features", frame_features, info, sha, options.video_stage)

    stage("envelope")
    with gpu_tag(options.envelope_engine in GPU_ENVELOPE_ENGINES):  # the learned model runs on the GPU
        envelope, rate, envelope_details = timer("envelope", predict_envelope_task, info, options.envelope_engine, sha)
    reference = None
    if info.has_audio:
        stage("reference audio")
        try:
            reference, covered = timer("reference", reference_envelope_task, video, len(envelope))
            if covered < info.duration_s - AUDIO_SHORTFALL_WARN_S:
                warnings.append(f"original audio ends early: {covered:.2f} s of {info.duration_s:.2f} s")
        except Exception as exc:  # the original audio is optional: score nothing, say why
            warnings.append(f"original audio unreadable, not scored: {exc}")

    stage("envelope files")  # first: its sidecar names the source, should the run be killed
    metadata = {"source": video, "source_path": os.path.abspath(video), "video_sha256": sha,
                "engine": options.envelope_engine, **event_kind(envelope_details)}
    timer("envelope_files", write_envelope_outputs_task, paths, envelope, rate,
          title=f"{Path(video).name} ({options.envelope_engine} envelope)", metadata=metadata,
          reference=reference)
    stage("synthesis")
    prompt_audio, prompt_rate = options.audio_prompt_audio()
    synth_details = timer("synthesis", synthesize_task, envelope, rate, info.duration_s, options.synth_engine,
                          paths["wav"], prompt=options.prompt, audio_prompt=prompt_audio,
                          audio_prompt_rate=prompt_rate, seed=options.seed, video_path=str(info.path),
                          engine_options=options.engine_options())
    rendered = synth_details.pop("rendered_envelope")

    stage("writing outputs")
    mux = timer("mux", mux_video_task, paths, video)

    metrics = {"n_onsets": int(len(detect_onsets(envelope, rate)))}
    follow = envelope_scores(envelope, _match_length(rendered, len(envelope)), rate)
    metrics["synth_follows_envelope"] = _rounded(follow)
    if reference is not None:
        n = min(len(envelope), int(covered * rate))
        if n >= MIN_SCORED_COVERAGE * len(envelope):
            metrics["vs_original_audio"] = _rounded(envelope_scores(reference[:n], envelope[:n], rate))

    outputs = {k: str(v) for k, v in paths.items() if k != "record"}
    record = {
        "video_path": video,
        "source_path": os.path.abspath(video),  # whose outputs these are (data_catalog.output_folders)
        "video_sha256": sha,
        "status": "ok",
        "error": None,
        "output_dir": str(out_dir),
        "outputs": outputs,
        "video": info.to_dict(),
        "engines": {"envelope": options.envelope_engine, "synth": options.synth_engine, **synth_details,
                    "envelope_choice": envelope_details,
                    "video_copied_into_mp4": mux.get("video_copied")},
        "options": options.public(),
        "fingerprint": options.fingerprint,
        "timings": timer.timings,
        "metrics": metrics,
        "features": features,
        "warnings": warnings,
        "wall_s": round(time.perf_counter() - started, 3),
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
