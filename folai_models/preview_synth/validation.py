"""Validation of the preview engine's inputs: the envelope, rates, channels, audio prompt."""

from __future__ import annotations

from numbers import Real

import numpy as np

from folai_models.preview_synth.voices import PROMPT_MAX_CHANNELS, PROMPT_SILENCE_PEAK


def _is_real(x) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool) and bool(np.isfinite(x))


def check_inputs(envelope, frame_rate, sample_rate, n_channels) -> np.ndarray:
    """Validated float64 copy of the envelope; checks the rates and channel count."""
    env = np.asarray(envelope)
    if env.ndim != 1:
        raise ValueError(f"envelope must be 1-D (n_frames,), got shape {env.shape}")
    if env.size == 0:
        raise ValueError("envelope is empty")
    if not np.issubdtype(env.dtype, np.number) or np.iscomplexobj(env):
        raise ValueError(f"envelope must be real numbers, got dtype {env.dtype}")
    env = env.astype(np.float64)
    if not np.all(np.isfinite(env)):
        raise ValueError("envelope contains NaN or infinite values")
    if np.any(env < 0):
        raise ValueError("envelope contains negative values; RMS must be >= 0")
    if not _is_real(frame_rate) or frame_rate <= 0:
        raise ValueError(f"frame_rate must be a positive number, got {frame_rate!r}")
    if not _is_real(sample_rate) or int(sample_rate) != sample_rate or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    if n_channels not in (1, 2):
        raise ValueError(f"n_channels must be 1 or 2, got {n_channels!r}")
    return env


def check_prompt(audio_prompt, audio_prompt_sample_rate) -> np.ndarray:
    """Validated mono (channel mean) float64 copy of an audio prompt."""
    y = np.asarray(audio_prompt)
    if y.ndim not in (1, 2):
        raise ValueError(
            f"audio prompt must be 1-D (n,) or 2-D (channels, n), got shape {y.shape}"
        )
    if y.size == 0:
        raise ValueError("audio prompt is empty")
    if y.ndim == 2 and y.shape[0] > PROMPT_MAX_CHANNELS:
        raise ValueError(
            f"audio prompt must be (channels, n) with at most {PROMPT_MAX_CHANNELS} channels, "
            f"got shape {y.shape}; transpose an (n, channels) array"
        )
    if not np.issubdtype(y.dtype, np.number) or np.iscomplexobj(y):
        raise ValueError(f"audio prompt must be real numbers, got dtype {y.dtype}")
    y = y.astype(np.float64)
    if not np.all(np.isfinite(y)):
        raise ValueError("audio prompt contains NaN or infinite values")
    if audio_prompt_sample_rate is None:
        raise ValueError("audio_prompt_sample_rate is required with audio_prompt")
    if not _is_real(audio_prompt_sample_rate) or audio_prompt_sample_rate <= 0:
        raise ValueError(
            f"audio_prompt_sample_rate must be positive, got {audio_prompt_sample_rate!r}"
        )
    if np.max(np.abs(y)) < PROMPT_SILENCE_PEAK:
        raise ValueError("audio prompt is silent")
    return y if y.ndim == 1 else y.mean(axis=0)
