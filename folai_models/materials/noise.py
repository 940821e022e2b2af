"""Shaped-noise materials: grass / leaves, cloth, paper.

Grains are filtered noise bursts (with crackle for grass and paper); textures
are filtered noise under slow random modulation.
"""

from __future__ import annotations

import numpy as np

from folai_models.materials import dsp

NOISE_GRAIN_TAUS = 3.5  # noise grains last this many decay times (-30 dB; the gain shapes the rest)

GRASS_BAND_HZ = (1500.0, 7500.0)  # crackly, high-passed foliage noise
GRASS_ATTACK_S = 0.006
GRASS_DECAY_S = (0.04, 0.10)
GRASS_CRACKLE_RATE_HZ = 500.0  # leaf crackles per second
GRASS_CRACKLE_TAU_S = 0.004
GRASS_CRACKLE_FLOOR = 0.4  # hiss between crackles
GRASS_MOD_HZ = 6.0  # sway of the foliage
GRASS_MOD_FLOOR = 0.4

CLOTH_CUTOFF_HZ = (700.0, 1800.0)  # soft, low-passed (soft hits: down to 60 %)
CLOTH_LOW_HZ = 60.0  # no sub-bass rumble
CLOTH_ATTACK_S = 0.012
CLOTH_DECAY_S = (0.05, 0.12)
CLOTH_TEXTURE_BAND_HZ = (80.0, 1250.0)
CLOTH_MOD_HZ = 8.0  # rustle modulation rate
CLOTH_MOD_FLOOR = 0.3

PAPER_BAND_HZ = (900.0, 7000.0)  # crinkly band-passed noise (soft hits: top down to 60 %)
PAPER_ATTACK_S = 0.003
PAPER_DECAY_S = (0.04, 0.09)
PAPER_CRINKLE_RATE_HZ = 400.0  # crinkle clicks per second
PAPER_CRINKLE_TAU_S = 0.003
PAPER_CRINKLE_FLOOR = 0.5
PAPER_MOD_HZ = 5.0  # handling gestures
PAPER_MOD_FLOOR = 0.4



def _burst_length(sample_rate, rng, decay_range_s, max_duration_s):
    """Random decay time of a noise grain, its natural length (NOISE_GRAIN_TAUS decay
    times, in seconds) and its length in samples (capped by ``max_duration_s``)."""
    decay = rng.uniform(*decay_range_s)
    natural = decay * NOISE_GRAIN_TAUS
    return decay, natural, dsp.grain_length(sample_rate, natural, max_duration_s)


def _finish_burst(x, sample_rate, decay, natural, attack_s) -> np.ndarray:
    """Apply the grain's attack/decay envelope to noise ``x``, then fade and normalize (peak 1)."""
    return dsp.finish_grain(x * dsp.exp_decay(x.size, sample_rate, decay, attack_s), sample_rate,
                            natural)


def grass_grain(sample_rate, rng, *, intensity=1.0, max_duration_s=None) -> np.ndarray:
    """Brushing grass / leaves: crackly high-passed noise burst (peak 1)."""
    decay, natural, n = _burst_length(sample_rate, rng, GRASS_DECAY_S, max_duration_s)
    crackle = dsp.crackle_envelope(n, sample_rate, rng, GRASS_CRACKLE_RATE_HZ,
                                   GRASS_CRACKLE_TAU_S, GRASS_CRACKLE_FLOOR)
    low = GRASS_BAND_HZ[0] * (1.3 - 0.3 * intensity)  # soft brushes are thinner
    x = dsp.band_limit(dsp.white_noise(n, rng) * crackle, sample_rate, low, GRASS_BAND_HZ[1])
    return _finish_burst(x, sample_rate, decay, natural, GRASS_ATTACK_S)


def grass_texture(n_samples, sample_rate, rng) -> np.ndarray:
    """Moving through grass / foliage: continuous crackle over soft hiss (unit RMS)."""
    n = n_samples
    crackle = dsp.crackle_envelope(n, sample_rate, rng, GRASS_CRACKLE_RATE_HZ,
                                   GRASS_CRACKLE_TAU_S, GRASS_CRACKLE_FLOOR)
    x = dsp.band_limit(dsp.white_noise(n, rng) * crackle, sample_rate, *GRASS_BAND_HZ)
    mod = dsp.slow_modulator(n, sample_rate, rng, GRASS_MOD_HZ, GRASS_MOD_FLOOR)
    return dsp.finish_texture(x * mod)


def cloth_grain(sample_rate, rng, *, intensity=1.0, max_duration_s=None) -> np.ndarray:
    """Hit on cloth / carpet / cushion: soft low-passed noise thump (peak 1)."""
    decay, natural, n = _burst_length(sample_rate, rng, CLOTH_DECAY_S, max_duration_s)
    cutoff = rng.uniform(*CLOTH_CUTOFF_HZ) * (0.6 + 0.4 * intensity)
    x = dsp.band_limit(dsp.white_noise(n, rng), sample_rate, CLOTH_LOW_HZ, cutoff)
    return _finish_burst(x, sample_rate, decay, natural, CLOTH_ATTACK_S)


def cloth_texture(n_samples, sample_rate, rng) -> np.ndarray:
    """Fabric rustle: low-passed noise with slow random modulation (unit RMS)."""
    x = dsp.band_limit(dsp.white_noise(n_samples, rng), sample_rate, *CLOTH_TEXTURE_BAND_HZ)
    mod = dsp.slow_modulator(n_samples, sample_rate, rng, CLOTH_MOD_HZ, CLOTH_MOD_FLOOR)
    return dsp.finish_texture(x * mod)


def paper_grain(sample_rate, rng, *, intensity=1.0, max_duration_s=None) -> np.ndarray:
    """Paper / cardboard: crinkly band-passed noise burst with random clicks (peak 1)."""
    decay, natural, n = _burst_length(sample_rate, rng, PAPER_DECAY_S, max_duration_s)
    crinkle = dsp.crackle_envelope(n, sample_rate, rng, PAPER_CRINKLE_RATE_HZ,
                                   PAPER_CRINKLE_TAU_S, PAPER_CRINKLE_FLOOR)
    high = PAPER_BAND_HZ[1] * (0.6 + 0.4 * intensity)
    x = dsp.band_limit(dsp.white_noise(n, rng) * crinkle, sample_rate, PAPER_BAND_HZ[0], high)
    return _finish_burst(x, sample_rate, decay, natural, PAPER_ATTACK_S)


def paper_texture(n_samples, sample_rate, rng) -> np.ndarray:
    """Handling paper: crinkle-modulated band-passed noise (unit RMS)."""
    crinkle = dsp.crackle_envelope(n_samples, sample_rate, rng, PAPER_CRINKLE_RATE_HZ,
                                   PAPER_CRINKLE_TAU_S, PAPER_CRINKLE_FLOOR)
    x = dsp.band_limit(dsp.white_noise(n_samples, rng) * crinkle, sample_rate, *PAPER_BAND_HZ)
    mod = dsp.slow_modulator(n_samples, sample_rate, rng, PAPER_MOD_HZ, PAPER_MOD_FLOOR)
    return dsp.finish_texture(x * mod)
