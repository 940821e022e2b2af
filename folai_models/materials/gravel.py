"""Gravel: bursts of pebble micro-grains over a low crunch; dense click clouds."""

from __future__ import annotations

import numpy as np

from folai_models.materials import dsp

GRAVEL_GRAIN_COUNT = (8, 30)  # micro-grains (pebbles) per hit
GRAVEL_SPREAD_S = (0.02, 0.08)  # time over which the pebbles settle
GRAVEL_ONSET_SHAPE = 1.5  # gamma shape of pebble delays: most land right after the contact
GRAVEL_PEBBLE_HZ = (1200.0, 6000.0)  # pebble click resonance range (soft hits: down to 60 %)
GRAVEL_PEBBLE_TAU_S = (0.0008, 0.003)
GRAVEL_PEBBLE_AMP_SIGMA = 0.5  # log-normal spread of pebble loudness
GRAVEL_CRUNCH_BAND_HZ = (150.0, 1200.0)  # low crunch under the clicks
GRAVEL_CRUNCH_ATTACK_S = 0.002
GRAVEL_CRUNCH_LEVEL = 0.4  # crunch relative to the pebbles
GRAVEL_TEXTURE_RATE_HZ = 700.0  # pebble clicks per second while walking / rolling
GRAVEL_TEXTURE_BANDS_HZ = (1500.0, 2800.0, 4500.0)  # resonances of the pebble cloud
GRAVEL_TEXTURE_BAND_JITTER = 0.15  # +-15 % per call
GRAVEL_RUMBLE_MOD_HZ = 15.0
GRAVEL_RUMBLE_MOD_FLOOR = 0.3


def gravel_grain(sample_rate, rng, *, intensity=1.0, max_duration_s=None) -> np.ndarray:
    """Step / drop on gravel: a burst of pebble micro-grains over a low crunch (peak 1)."""
    spread = rng.uniform(*GRAVEL_SPREAD_S)
    natural = spread + GRAVEL_PEBBLE_TAU_S[1] * dsp.MODE_LENGTH_TAUS
    n = dsp.grain_length(sample_rate, natural, max_duration_s)
    x = np.zeros(n)
    count = int(rng.integers(GRAVEL_GRAIN_COUNT[0], GRAVEL_GRAIN_COUNT[1] + 1))
    delays = rng.gamma(GRAVEL_ONSET_SHAPE, spread / (2 * GRAVEL_ONSET_SHAPE), count)
    onsets = np.minimum((delays * sample_rate).astype(int), n - 1)
    onsets[0] = 0  # the first pebble marks the contact instant
    for start in onsets:
        tau = rng.uniform(*GRAVEL_PEBBLE_TAU_S)
        m = min(n - start, int(tau * dsp.MODE_LENGTH_TAUS * sample_rate) + 1)
        t = np.arange(m) / sample_rate
        f = rng.uniform(*GRAVEL_PEBBLE_HZ) * (0.6 + 0.4 * intensity)
        amp = rng.lognormal(0.0, GRAVEL_PEBBLE_AMP_SIGMA)
        x[start : start + m] += amp * np.exp(-t / tau) * np.sin(2 * np.pi * f * t)
    noise = dsp.white_noise(n, rng)
    crunch = noise * dsp.exp_decay(n, sample_rate, spread / 2, GRAVEL_CRUNCH_ATTACK_S)
    crunch = dsp.band_limit(crunch, sample_rate, *GRAVEL_CRUNCH_BAND_HZ)
    x = dsp.peak1(x) + GRAVEL_CRUNCH_LEVEL * dsp.peak1(crunch)
    return dsp.finish_grain(x, sample_rate, natural)


def gravel_texture(n_samples, sample_rate, rng) -> np.ndarray:
    """Rolling / shuffling gravel: a dense pebble-click cloud over a low rumble (unit RMS)."""
    n = n_samples
    x = np.zeros(n)
    rate = GRAVEL_TEXTURE_RATE_HZ / len(GRAVEL_TEXTURE_BANDS_HZ)
    for f in GRAVEL_TEXTURE_BANDS_HZ:
        f = f * (1.0 + rng.uniform(-GRAVEL_TEXTURE_BAND_JITTER, GRAVEL_TEXTURE_BAND_JITTER))
        impulses = dsp.poisson_impulses(n, sample_rate, rng, rate)
        x += dsp.resonator(impulses, sample_rate, f, rng.uniform(*GRAVEL_PEBBLE_TAU_S))
    rumble = dsp.band_limit(dsp.white_noise(n, rng), sample_rate, *GRAVEL_CRUNCH_BAND_HZ)
    mod = dsp.slow_modulator(n, sample_rate, rng, GRAVEL_RUMBLE_MOD_HZ, GRAVEL_RUMBLE_MOD_FLOOR)
    rumble = dsp.normalize_rms(rumble) * mod
    return dsp.finish_texture(dsp.normalize_rms(x) + GRAVEL_CRUNCH_LEVEL * rumble)
