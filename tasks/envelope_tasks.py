"""Tasks that make envelopes: from video (an engine) or from any audio."""

from __future__ import annotations

import os

import numpy as np
from data_catalog.media import VideoInfo
from folai_models import envelope as env_math
from tasks._options import cache_key, file_identity, keyed_by_file, pipeline_task, sonorize_version
from tasks.engines import create_envelope_engine_from_config
from tasks.media_tasks import audio_envelope


def _predict_key(context, parameters: dict) -> str | None:
    """Content cache key of an envelope: the video's sha256, the engine and everything that configures it.

    No key (no caching) without a content hash. The engine's own description
    (checkpoint paths, settings) is keyed with the identity of every file it
    names, and the Video2RMS checkpoint ``auto`` may use (configured or shipped, with
    its sidecar) with the package version, so a retrained checkpoint or new code never
    reuses an envelope.
    """
    sha = parameters.get("video_sha256")
    if not sha:
        return None
    from data_catalog.checkpoints import sidecar_path
    from tasks.engines.video2rms import default_video2rms_checkpoint

    description = create_envelope_engine_from_config(parameters["engine"]).describe()
    named = [v for v in description.values() if isinstance(v, str) and os.path.isfile(v)]
    # a checkpoint's sidecar holds what decodes it (level map, confidence floor): its rewrite is a new model
    files = sorted(file_identity(f) for f in named + [str(sidecar_path(f)) for f in named if f.endswith(".safetensors")])
    checkpoint = default_video2rms_checkpoint()  # the configured one, else the shipped one (auto may run it)
    return cache_key(context.task.name, video_sha256=sha, engine=description, files=files,
                     video2rms_checkpoint=[file_identity(checkpoint), file_identity(sidecar_path(checkpoint))]
                     if checkpoint else None,
                     version=sonorize_version())


@pipeline_task(name="predict-envelope", tags=("envelope",), cache_key_fn=_predict_key)
def predict_envelope_task(info: VideoInfo, engine: str, video_sha256: str | None = None,
                          features: np.ndarray | None = None) -> tuple[np.ndarray, float, dict]:
    """Predict the video's envelope with the named engine, exactly covering its duration.

    ``features``: the frame features an engine that ``needs_features`` reads (the flow runs the
    cached ``frame-features`` task first); None lets the engine compute them itself.

    Returns ``(envelope, frame_rate, details)``: ``details`` is what the engine decided for this
    video (``auto``: the engine it chose and why; ``steps``: where the steps came from).
    """
    model = create_envelope_engine_from_config(engine)
    envelope, rate = model.predict(info, video_sha256=video_sha256, features=features)
    n = env_math.n_envelope_frames_for_seconds(info.duration_s)
    envelope = np.clip(np.asarray(envelope, dtype=np.float32), 0.0, 1.0)
    if len(envelope) != n:
        envelope = env_math.interpolate_envelope(envelope, rate, n_target=n).astype(np.float32)
    return envelope, rate, dict(model.details)


def event_kind(details: dict) -> dict:
    """Sidecar metadata naming the envelope's events (``{"events": "steps"}``) when an engine placed steps."""
    steps = details.get("steps", details)
    return {"events": "steps"} if steps.get("events") == "steps" else {}


def envelope_from_audio(path: str, smoothing: str = "none") -> tuple[np.ndarray, float]:
    """Envelope of any recording (a vocal imitation, a clap track).

    Unsmoothed by default: both papers' smoothings move attacks earlier (tens of ms),
    which a synchronized re-synthesis should not.
    """
    env = env_math.smooth_envelope(audio_envelope(path), method=smoothing)
    return np.clip(env, 0.0, 1.0).astype(np.float32), env_math.envelope_frame_rate()


@pipeline_task(name="envelope-from-audio", tags=("envelope",),
               cache_key_fn=keyed_by_file("path", "smoothing"))
def envelope_from_audio_task(path: str, smoothing: str = "none") -> tuple[np.ndarray, float]:
    """Task wrapper of :func:`envelope_from_audio`."""
    return envelope_from_audio(path, smoothing)


@pipeline_task(name="envelope-target", tags=("envelope", "dataset"))  # content cache: the TargetCache
def envelope_target_task(audio_path: str, video_sha256: str, n_frames: int, duration_s: float, targets,
                         label: str | None = None) -> tuple[float, bool]:
    """A training target: the RMS envelope of ``audio_path`` (the video's own audio, or its separated
    sound), read from ``targets`` (a ``data_catalog.targets.TargetCache``) when it holds one of
    ``n_frames`` frames for this content, else measured and stored there.

    Returns ``(covered_s, cached)``: the seconds of audio the target covers, and whether it was read.
    Raises SonorizeInputError naming ``label`` (default ``audio_path``) when the audio cannot make one.
    """
    from data_catalog.errors import SonorizeInputError
    from tasks.media_tasks import reference_envelope

    target = targets.get(video_sha256)
    if target is not None and len(target.envelope) == n_frames:
        return target.covered_s, True
    try:
        envelope, covered = reference_envelope(str(audio_path), n_frames)
    except ValueError as exc:  # e.g. an audio track too short for one RMS frame
        raise SonorizeInputError(label or audio_path, f"audio unusable as a target ({exc})") from None
    targets.put(video_sha256, envelope, covered, source_duration_s=duration_s)
    return covered, False

