"""Water: chirping Minnaert bubbles (van den Doel 2005) over splash or flow noise."""

from __future__ import annotations

import numpy as np

from folai_models.materials import dsp

WATER_GRAIN_S = 0.15  # length of a splash grain
WATER_BUBBLES = (1, 4)  # bubbles per splash grain
WATER_BUBBLE_SPREAD_S = 0.04  # later bubbles of a splash start within this time
WATER_BUBBLE_GAIN = (0.5, 1.0)  # random loudness of a splash's bubbles
WATER_BUBBLE_RADIUS_MM = (1.0, 6.0)  # Minnaert: f0 = 3.26 kHz mm / radius
WATER_MINNAERT_HZ_MM = 3260.0
WATER_DAMPING = (0.13, 0.0072)  # van den Doel 2005: d = 0.13 f0 + 0.0072 f0**1.5 (1/s)
WATER_CHIRP_XI = 0.1  # van den Doel 2005: rising pitch f(t) = f0 (1 + xi d t)
WATER_SPLASH_BAND_HZ = (200.0, 4000.0)
WATER_SPLASH_TAU_S = 0.03
WATER_SPLASH_ATTACK_S = 0.001
WATER_SPLASH_LEVEL = 0.5  # splash noise relative to the bubbles (scaled by intensity)
WATER_TEXTURE_BUBBLE_RATE_HZ = 150.0  # bubbles per second in a stream
WATER_BUBBLE_POOL = 48  # distinct bubbles per texture call, reused at random (cost)
WATER_BUBBLE_AMP_SIGMA = 0.5  # log-normal spread of bubble loudness in a stream
WATER_TEXTURE_FLOW_BAND_HZ = (100.0, 1200.0)
WATER_TEXTURE_FLOW_LEVEL = 0.5  # flow noise relative to the bubbles
WATER_FLOW_MOD_HZ = 4.0
WATER_FLOW_MOD_FLOOR = 0.5


def _bubble(sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """One bubble (van den Doel 2005): Minnaert frequency, rising chirp, fast decay."""
    f0 = WATER_MINNAERT_HZ_MM / rng.uniform(*WATER_BUBBLE_RADIUS_MM)
    d = WATER_DAMPING[0] * f0 + WATER_DAMPING[1] * f0**1.5  # damping grows with frequency
    n = max(1, int(dsp.MODE_LENGTH_TAUS / d * sample_rate))
    t = (np.arange(n) / sample_rate).astype(np.float32)
    # phase = integral of f(t); float32 for SIMD speed
    phase = np.float32(2 * np.pi * f0) * (t + np.float32(0.5 * WATER_CHIRP_XI * d) * t * t)
    return np.exp(np.float32(-d) * t) * np.sin(phase)


def water_grain(sample_rate, rng, *, intensity=1.0, max_duration_s=None) -> np.ndarray:
    """Splash / drip: a few chirping bubbles over a short splash of noise (peak 1)."""
    n = dsp.grain_length(sample_rate, WATER_GRAIN_S, max_duration_s)
    x = np.zeros(n)
    count = int(rng.integers(WATER_BUBBLES[0], WATER_BUBBLES[1] + 1))
    for i in range(count):
        start = 0 if i == 0 else int(rng.uniform(0, WATER_BUBBLE_SPREAD_S) * sample_rate)
        dsp.place(x, _bubble(sample_rate, rng), min(start, n - 1), rng.uniform(*WATER_BUBBLE_GAIN))
    splash = dsp.white_noise(n, rng)
    splash = splash * dsp.exp_decay(n, sample_rate, WATER_SPLASH_TAU_S, WATER_SPLASH_ATTACK_S)
    splash = dsp.band_limit(splash, sample_rate, *WATER_SPLASH_BAND_HZ)
    x = dsp.peak1(x) + WATER_SPLASH_LEVEL * intensity * dsp.peak1(splash)
    return dsp.finish_grain(x, sample_rate, WATER_GRAIN_S)


def water_texture(n_samples, sample_rate, rng) -> np.ndarray:
    """Stream / pouring: a Poisson cloud of bubbles over low flow noise (unit RMS)."""
    n = n_samples
    x = np.zeros(n)
    count = rng.poisson(WATER_TEXTURE_BUBBLE_RATE_HZ * n / sample_rate)
    pool = [_bubble(sample_rate, rng) for _ in range(min(count, WATER_BUBBLE_POOL))]
    starts = rng.integers(0, max(n, 1), count)
    which = rng.integers(0, max(len(pool), 1), count)
    gains = rng.lognormal(0.0, WATER_BUBBLE_AMP_SIGMA, count)
    for start, k, gain in zip(starts, which, gains):
        dsp.place(x, pool[k], int(start), gain)
    flow = dsp.band_limit(dsp.white_noise(n, rng), sample_rate, *WATER_TEXTURE_FLOW_BAND_HZ)
    flow = dsp.normalize_rms(flow)
    flow = flow * dsp.slow_modulator(n, sample_rate, rng, WATER_FLOW_MOD_HZ, WATER_FLOW_MOD_FLOOR)
    return dsp.finish_texture(dsp.normalize_rms(x) + WATER_TEXTURE_FLOW_LEVEL * flow)
