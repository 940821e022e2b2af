"""Stone / concrete: a short noisy click over a damped thud; grit-cloud scrapes."""

from __future__ import annotations

import numpy as np

from folai_models.materials import dsp

STONE_CLICK_TAU_S = (0.004, 0.010)  # short noisy click, random per hit
STONE_BAND_HZ = (400.0, 6000.0)  # click band at full intensity (soft hits: half the top)
STONE_THUD_HZ = (120.0, 320.0)  # heavily damped low body mode
STONE_THUD_RATIOS = (1.0, 2.3)
STONE_THUD_TAU_S = (0.012, 0.006)
STONE_THUD_AMPS = (1.0, 0.5)
STONE_THUD_LEVEL = 0.5  # thud peak relative to the click's
STONE_GRIT_RATE_HZ = 350.0  # grit clicks per second when scraping concrete
STONE_GRIT_HZ = (2000.0, 4000.0)  # grit click resonance
STONE_GRIT_TAU_S = 0.001
STONE_GRIT_LEVEL = 0.6  # grit relative to the scrape noise
STONE_MOD_HZ = 40.0  # fast roughness of the scraped surface
STONE_MOD_FLOOR = 0.3


def stone_grain(sample_rate, rng, *, intensity=1.0, max_duration_s=None) -> np.ndarray:
    """Hit on stone / concrete: short broadband noisy click plus a damped thud (peak 1)."""
    tau = rng.uniform(*STONE_CLICK_TAU_S)
    natural = max(tau, max(STONE_THUD_TAU_S)) * dsp.MODE_LENGTH_TAUS
    n = dsp.grain_length(sample_rate, natural, max_duration_s)
    high = STONE_BAND_HZ[1] * (0.5 + 0.5 * intensity)
    x = dsp.peak1(dsp.contact_click(n, sample_rate, rng, tau, STONE_BAND_HZ[0], high))
    base = rng.uniform(*STONE_THUD_HZ)
    thud = dsp.modal_sum(n, sample_rate, rng, base, STONE_THUD_RATIOS, STONE_THUD_TAU_S,
                         STONE_THUD_AMPS, intensity)
    x += STONE_THUD_LEVEL * dsp.peak1(thud)
    return dsp.finish_grain(x, sample_rate, natural)


def stone_texture(n_samples, sample_rate, rng) -> np.ndarray:
    """Scrape on concrete: grainy band-passed noise plus a grit click cloud (unit RMS)."""
    n = n_samples
    noise = dsp.normalize_rms(dsp.band_limit(dsp.white_noise(n, rng), sample_rate, *STONE_BAND_HZ))
    noise = noise * dsp.slow_modulator(n, sample_rate, rng, STONE_MOD_HZ, STONE_MOD_FLOOR)
    impulses = dsp.poisson_impulses(n, sample_rate, rng, STONE_GRIT_RATE_HZ)
    grit = dsp.resonator(impulses, sample_rate, rng.uniform(*STONE_GRIT_HZ), STONE_GRIT_TAU_S)
    return dsp.finish_texture(noise + STONE_GRIT_LEVEL * dsp.normalize_rms(grit))
