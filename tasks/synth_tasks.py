"""Tasks that render audio from an envelope."""

from __future__ import annotations

import librosa
import numpy as np
from prefect import task

from data_catalog.media.audio import ENVELOPE_AUDIO_RATE, SYNTH_AUDIO_RATE
from folai_models import envelope as env_math
from tasks._options import TASK_DEFAULTS
from tasks.engines import get_synth_engine


@task(name="synthesize", tags=["synth"], **TASK_DEFAULTS)
def synthesize_task(
    envelope: np.ndarray,
    frame_rate: float,
    duration_s: float,
    engine: str,
    prompt: str | None = None,
    audio_prompt: np.ndarray | None = None,
    audio_prompt_rate: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, dict]:
    """Render 44.1 kHz stereo audio of exactly ``duration_s`` following ``envelope``."""
    n_samples = int(round(duration_s * SYNTH_AUDIO_RATE))
    return get_synth_engine(engine).render(
        envelope, frame_rate, n_samples=n_samples, sample_rate=SYNTH_AUDIO_RATE, prompt=prompt,
        audio_prompt=audio_prompt, audio_prompt_rate=audio_prompt_rate, seed=seed,
    )


def rendered_envelope(audio: np.ndarray, sample_rate: int = SYNTH_AUDIO_RATE) -> np.ndarray:
    """The RMS envelope (16 kHz mono, 125 frames/s) of rendered audio, to check it follows."""
    mono = librosa.resample(np.mean(audio, axis=0), orig_sr=sample_rate, target_sr=ENVELOPE_AUDIO_RATE)
    return env_math.rms_envelope(mono)
