"""Voices: where grains and textures come from (a procedural material or an audio prompt).

A :class:`Voice` is a grain source and a texture source bound to an output
sample rate. A material voice calls :mod:`folai_models.materials`; a prompt
voice cuts the user's sample into grains at its onsets (played as recorded)
and granulates it for textures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from folai_models import materials as _materials
from folai_models.preview_synth.measure import EPS, resample

# Audio prompt.
PROMPT_SILENCE_PEAK = 1e-4  # a prompt whose peak is below this is silent
PROMPT_MAX_CHANNELS = 8  # a 2-D prompt with more rows than this is (n, channels): refused
PROMPT_ONSET_MIN_SAMPLES = 2048  # shorter prompts skip onset detection (one STFT frame)
PROMPT_MAX_GRAIN_S = 1.0  # longest grain cut from a prompt
PROMPT_MIN_GRAIN_S = 0.02  # shorter onset segments are dropped
PROMPT_FIXED_GRAIN_S = 0.25  # fallback grain size when the prompt has no usable onsets
PROMPT_GRAIN_MIN_PEAK = 0.05  # grains quieter than this (relative to the prompt peak) are dropped
PROMPT_FADE_IN_S = 0.001  # fades on cut grains avoid clicks ...
PROMPT_FADE_OUT_S = 0.01  # ... at both ends
GRANULAR_GRAIN_S = 0.06  # granulation: grain length for sustained sections
GRANULAR_OVERLAP = 4.0  # mean number of overlapping grains (hop = length / overlap)
GRANULAR_HOP_JITTER = 0.25  # +-25 % random hop: no periodic comb
GRANULAR_SOURCE_MIN_RMS = 0.1  # grains are read only where the prompt is this loud (relative)

GrainSource = Callable[[np.random.Generator, float, float], np.ndarray]
TextureSource = Callable[[int, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Voice:
    """A grain source and a texture source, bound to the output sample rate."""

    grain: GrainSource  # (rng, intensity, max_duration_s) -> 1-D grain
    texture: TextureSource  # (n_samples, rng) -> 1-D unit-RMS texture



def material_voice(name: str, sample_rate: int) -> Voice:
    mat = _materials.get_material(name)

    def grain(rng, intensity, max_s):
        return mat.grain(sample_rate, rng, intensity=intensity, max_duration_s=max_s)

    return Voice(grain=grain, texture=lambda n, rng: mat.texture(n, sample_rate, rng))


def _fade(x: np.ndarray, sample_rate: int, fade_in_s: float, fade_out_s: float) -> np.ndarray:
    x = x.copy()
    n_in = min(x.size, int(fade_in_s * sample_rate))
    n_out = min(x.size, max(1, int(fade_out_s * sample_rate)))
    if n_in > 1:
        x[:n_in] *= np.linspace(0.0, 1.0, n_in, endpoint=False)
    x[-n_out:] *= np.linspace(1.0, 0.0, n_out)
    return x


def _prompt_grains(y: np.ndarray, sample_rate: int) -> list[np.ndarray]:
    """Cut a (peak-normalized) prompt into grains at its onsets; fixed-size fallback."""
    import librosa  # onset detection only; imported lazily (slow first import)

    max_len = int(PROMPT_MAX_GRAIN_S * sample_rate)
    min_len = int(PROMPT_MIN_GRAIN_S * sample_rate)
    grains: list[np.ndarray] = []
    if y.size >= PROMPT_ONSET_MIN_SAMPLES:
        onsets = librosa.onset.onset_detect(
            y=y.astype(np.float32), sr=sample_rate, units="samples", backtrack=True
        )
        bounds = [*np.unique(np.asarray(onsets, dtype=np.int64)), y.size]
        for a, b in zip(bounds[:-1], bounds[1:]):
            seg = y[a : min(b, a + max_len)]
            if seg.size >= min_len and np.max(np.abs(seg)) >= PROMPT_GRAIN_MIN_PEAK:
                grains.append(seg)
    if not grains:
        step = max(1, int(PROMPT_FIXED_GRAIN_S * sample_rate))
        for a in range(0, y.size, step):
            seg = y[a : a + step]
            if np.max(np.abs(seg)) >= PROMPT_GRAIN_MIN_PEAK:
                grains.append(seg)
    if not grains:  # only sound below the grain threshold
        grains.append(y[:max_len])
    out = []
    for g in grains:
        g = _fade(g, sample_rate, PROMPT_FADE_IN_S, PROMPT_FADE_OUT_S)
        out.append((g / (np.max(np.abs(g)) + EPS)).astype(np.float32))
    return out


def _granulate(source, positions, n: int, sample_rate: int, rng) -> np.ndarray:
    """Overlap-add Hann-windowed grains read at random ``positions`` of ``source`` (unit RMS)."""
    length = max(2, min(int(GRANULAR_GRAIN_S * sample_rate), source.size))
    window = np.hanning(length)
    hop = length / GRANULAR_OVERLAP
    out = np.zeros(n + length)
    t = -rng.uniform(0, hop)
    while t < n:
        src = min(int(positions[rng.integers(positions.size)]), source.size - length)
        grain = window * source[src : src + length] * rng.choice([-1.0, 1.0])
        start = int(t)
        if start >= 0:
            out[start : start + length] += grain
        else:  # the first grain may start before the output does
            out[: start + length] += grain[-start:]
        t += hop * (1.0 + rng.uniform(-GRANULAR_HOP_JITTER, GRANULAR_HOP_JITTER))
    out = out[:n]
    rms = np.sqrt(np.mean(np.square(out))) if n else 0.0
    return (out / rms if rms > EPS else out).astype(np.float32)


def prompt_voice(mono: np.ndarray, prompt_rate: float, sample_rate: int) -> Voice:
    y = resample(mono, float(prompt_rate), float(sample_rate))
    peak = np.max(np.abs(y)) if y.size else 0.0
    if peak < PROMPT_SILENCE_PEAK:  # resampling a lone click can leave ~nothing
        raise ValueError("audio prompt is silent")
    y = y / peak
    grains = _prompt_grains(y, sample_rate)
    # Granulation reads only where the prompt is audible.
    length = max(2, min(int(GRANULAR_GRAIN_S * sample_rate), y.size))
    starts = np.arange(0, max(1, y.size - length + 1), max(1, length // 2))
    energy = np.array([np.sqrt(np.mean(np.square(y[s : s + length]))) for s in starts])
    positions = starts[energy >= GRANULAR_SOURCE_MIN_RMS * energy.max()]

    def grain(rng: np.random.Generator, intensity: float, max_s: float) -> np.ndarray:
        g = grains[int(rng.integers(len(grains)))]  # played as recorded: intensity unused
        m = max(1, int(max_s * sample_rate))
        return g if g.size <= m else _fade(g[:m], sample_rate, 0.0, PROMPT_FADE_OUT_S)

    def texture(n: int, rng: np.random.Generator) -> np.ndarray:
        return _granulate(y, positions, n, sample_rate, rng)

    return Voice(grain=grain, texture=texture)
