"""Synthetic training material for the control experiment: stereo noise or tone bursts following envelopes.

Greatest-Hits-like: a few hits at random times, each an instant attack and
an exponential decay; the carrier (white noise or a sine) is shaped so that
its frame RMS follows the envelope.
"""

from __future__ import annotations

import numpy as np

from folai_models.envelope import interpolate_envelope

HIT_DECAY_S = (0.03, 0.15)  # range of hit decay time constants (s): short strikes, like Greatest Hits' drumstick
HITS_PER_S = (1.0, 6.0)  # range of hit rates
HIT_LEVEL = (0.1, 0.6)  # range of hit peak RMS


def random_envelope(n_frames: int, frame_rate: float, rng: np.random.Generator) -> np.ndarray:
    """A hit envelope ``(n_frames,)``: random onsets, levels and decays, silence between them."""
    duration = n_frames / frame_rate
    n_hits = max(1, rng.poisson(rng.uniform(*HITS_PER_S) * duration))
    times = np.arange(n_frames) / frame_rate
    envelope = np.zeros(n_frames, np.float32)
    for onset in rng.uniform(0, duration * 0.9, n_hits):
        decay = rng.uniform(*HIT_DECAY_S)
        hit = np.where(times >= onset, np.exp(-(times - onset) / decay), 0.0)
        envelope = np.maximum(envelope, rng.uniform(*HIT_LEVEL) * hit)
    return envelope.astype(np.float32)


def audio_following(envelope: np.ndarray, frame_rate: float, n_samples: int, sample_rate: int,
                    rng: np.random.Generator, carrier: str = "noise", channels: int = 2) -> np.ndarray:
    """Stereo audio ``[channels, n_samples]`` whose RMS follows ``envelope``."""
    gain = interpolate_envelope(np.asarray(envelope, np.float32), frame_rate, n_target=n_samples)
    if carrier == "noise":
        wave = rng.standard_normal((channels, n_samples))
    elif carrier == "tone":
        freq = rng.uniform(200.0, min(2000.0, sample_rate / 4))
        phase = rng.uniform(0, 2 * np.pi, (channels, 1))
        wave = np.sqrt(2.0) * np.sin(2 * np.pi * freq * np.arange(n_samples) / sample_rate + phase)
    else:
        raise ValueError(f"carrier must be 'noise' or 'tone', got {carrier!r}")
    return np.clip(wave * gain, -1.0, 1.0).astype(np.float32)
