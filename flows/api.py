"""The per-video steps, shared by the ``sonorize`` flow and the single-file commands.

The flow (:mod:`flows.video_pipeline`) and the command line (``sonorize
envelope``, ``synth``, ``envelope-from-audio``, ``labels``) go through these
functions, so there is one pipeline. Each step is a pipeline task: a Prefect
task run inside a flow run, the plain function outside one (no Prefect import,
no API server: the single-file commands answer in about a second).

``run(name, task, *args, **kwargs)`` calls a step; the flow passes its timer
(per-stage timings in the record), the commands the plain :func:`call`.
Each function imports its task module when called: ``sonorize synth`` then
never loads the envelope engines or matplotlib (about a second on 2 cores).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from data_catalog.media import VideoInfo
from data_catalog.output_folders import output_paths

Runner = Callable[..., object]


def call(name: str, step: Callable, *args, **kwargs):
    """Run one step (a pipeline task) as it is: a task run inside a flow run, a plain call outside."""
    return step(*args, **kwargs)


def identify_video(video: str, run: Runner = call) -> tuple[VideoInfo, str]:
    """Probe a video (SonorizeInputError naming the file and reason) and hash its content."""
    from tasks.media_tasks import hash_video_task, probe_video_task

    return run("probe", probe_video_task, video), run("hash", hash_video_task, video)


def predict_envelope(info: VideoInfo, sha: str, engine: str, run: Runner = call) -> tuple[np.ndarray, float, dict]:
    """The video's envelope from ``engine``: ``(envelope, frame_rate, what the engine decided)``.

    An engine that ``needs_features`` (``video2rms``) gets them from the cached ``frame-features``
    task, run first on the video stage its checkpoint was trained on (timed as part of ``envelope``).
    """
    from tasks.engines import create_envelope_engine_from_config
    from tasks.envelope_tasks import predict_envelope_task

    features = None
    model = create_envelope_engine_from_config(engine)
    if model.needs_features:
        from tasks.feature_tasks import frame_features  # PyTorch: only for the learned engines

        features, _ = run("envelope", frame_features, info, sha, model.video_stage())
    return run("envelope", predict_envelope_task, info, engine, sha, features=features)


def envelope_metadata(video: str, sha: str, engine: str, details: dict, *, source_path: bool = False) -> dict:
    """The envelope sidecar's fields for a video (``source_path``: its absolute path too)."""
    from tasks.envelope_tasks import event_kind

    extra = {"source_path": os.path.abspath(video)} if source_path else {}
    return {"source": video, **extra, "video_sha256": sha, "engine": engine, **event_kind(details)}


def write_envelope_files(paths: dict[str, Path], envelope: np.ndarray, rate: float, *, title: str, metadata: dict,
                         reference: np.ndarray | None = None, run: Runner = call) -> list:
    """Envelope CSV + sidecar, plot and labels (``paths`` from :func:`output_paths`); the events."""
    from tasks.output_tasks import write_envelope_outputs_task

    return run("envelope_files", write_envelope_outputs_task, paths, envelope, rate, title=title, metadata=metadata,
               reference=reference)


def envelope_from_audio(audio: str, smoothing: str = "none") -> tuple[np.ndarray, float]:
    """The envelope of any recording (a vocal imitation, a clap track)."""
    from tasks.envelope_tasks import envelope_from_audio_task

    return envelope_from_audio_task(audio, smoothing)


def render_sound(paths: dict[str, Path], envelope: np.ndarray, rate: float, info: VideoInfo, options, context,
                 run: Runner = call) -> dict:
    """Render the WAV following ``envelope`` with the options' synth engine; the engine's details.

    ``options`` is a :class:`flows.video_pipeline.VideoOptions`, ``context`` its
    :class:`flows.video_pipeline.VideoContext` (the audio prompt, prepared once).
    """
    from tasks.synth_tasks import synthesize_task

    prompt_audio, prompt_rate = context.prompt_audio(options)
    return run("synthesis", synthesize_task, envelope, rate, info.duration_s, options.synth_engine, paths["wav"],
               prompt=options.prompt, audio_prompt=prompt_audio, audio_prompt_rate=prompt_rate, seed=options.seed,
               video_path=str(info.path), engine_options=options.engine_options())


def mux_video(paths: dict[str, Path], video: str, run: Runner = call) -> dict:
    """The video with the new WAV as its sound."""
    from tasks.output_tasks import mux_video_task

    return run("mux", mux_video_task, paths, video)


def write_labels(envelope_csv: Path, out: Path | None = None) -> tuple[Path, int]:
    """An envelope file's events as an Audacity label track; its path and the number of labels."""
    from data_catalog.envelope_file import read_envelope
    from data_catalog.labels import write_audacity_labels
    from folai_models.events import envelope_events

    env_file = read_envelope(envelope_csv)
    events = envelope_events(env_file.envelope, env_file.frame_rate)
    stem = envelope_csv.name.removesuffix(".csv").removesuffix(".envelope")
    return write_audacity_labels(out or envelope_csv.with_name(f"{stem}.labels.txt"), events), len(events)


__all__ = ["call", "envelope_from_audio", "envelope_metadata", "identify_video", "mux_video", "output_paths",
           "predict_envelope", "render_sound", "write_envelope_files", "write_labels"]
