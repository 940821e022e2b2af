"""Tasks that make envelopes: from video (an engine) or from any audio."""

from __future__ import annotations

import numpy as np
from prefect import task

from data_catalog.media import VideoInfo
from folai_models import envelope as env_math
from tasks._options import TASK_DEFAULTS
from tasks.engines import create_envelope_engine_from_config
from tasks.media_tasks import audio_envelope


@task(name="predict-envelope", tags=["envelope"], **TASK_DEFAULTS)
def predict_envelope_task(info: VideoInfo, engine: str, video_sha256: str | None = None
                          ) -> tuple[np.ndarray, float, dict]:
    """Predict the video's envelope with the named engine, exactly covering its duration.

    Returns ``(envelope, frame_rate, details)``: ``details`` is what the engine decided for this
    video (``auto``: the engine it chose and why; ``steps``: where the steps came from).
    """
    model = create_envelope_engine_from_config(engine)
    envelope, rate = model.predict(info, video_sha256=video_sha256)
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


@task(name="envelope-from-audio", **TASK_DEFAULTS)
def envelope_from_audio_task(path: str, smoothing: str = "none") -> tuple[np.ndarray, float]:
    """Task wrapper of :func:`envelope_from_audio`."""
    return envelope_from_audio(path, smoothing)
