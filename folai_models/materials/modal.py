"""Modal solids: wood, metal, glass, plastic.

One spec per material (:class:`ModalSpec`) and two renderers shared by all
of them: :func:`modal_grain` (a struck solid: damped modes plus a contact
click) and :func:`modal_texture` (a scrape: stick-slip pulses and friction
noise through the lowest modes, plus band noise). The registry binds a spec
with ``functools.partial(modal_grain, WOOD)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from folai_models.materials import dsp


@dataclass(frozen=True)
class ModalSpec:
    """Modes of a struck solid, its contact click and its scrape noise."""

    base_hz: tuple[float, float]  # range of the fundamental, drawn per hit
    ratios: tuple[float, ...]  # mode frequencies / fundamental
    decays_s: tuple[float, ...]  # decay time constant of each mode
    amps: tuple[float, ...]  # relative amplitude of each mode
    click_tau_s: float  # contact click decay (harder material: shorter)
    click_band_hz: tuple[float, float]  # contact click band
    click_level: float  # click peak relative to the modes' peak
    scrape_band_hz: tuple[float, float]  # friction noise band in the texture


WOOD = ModalSpec(  # free-free wooden bar (Euler-Bernoulli ratios): few low modes, short decays
    base_hz=(160.0, 420.0),
    ratios=(1.0, 2.76, 5.40, 8.93),
    decays_s=(0.060, 0.030, 0.016, 0.009),  # wood damps its high modes fast
    amps=(1.0, 0.6, 0.35, 0.2),
    click_tau_s=0.0015,  # soft-ish contact
    click_band_hz=(200.0, 3500.0),
    click_level=0.5,
    scrape_band_hz=(300.0, 3000.0),
)
METAL = ModalSpec(  # struck plate / pot: many inharmonic modes, long bright ringing
    base_hz=(280.0, 800.0),
    ratios=(1.0, 1.59, 2.14, 2.30, 2.65, 2.92, 3.16, 3.50, 4.06, 5.12),
    decays_s=(1.00, 0.85, 0.70, 0.65, 0.55, 0.50, 0.45, 0.40, 0.32, 0.25),
    amps=(1.0, 0.8, 0.7, 0.6, 0.6, 0.5, 0.45, 0.4, 0.35, 0.3),
    click_tau_s=0.0007,  # hard, bright contact
    click_band_hz=(1500.0, 12000.0),
    click_level=0.35,
    scrape_band_hz=(2000.0, 7500.0),
)
GLASS = ModalSpec(  # glass / ceramic: few high, very inharmonic modes, long clear ring
    base_hz=(1100.0, 2400.0),
    ratios=(1.0, 2.32, 4.25, 6.63),
    decays_s=(0.60, 0.35, 0.20, 0.12),
    amps=(1.0, 0.7, 0.4, 0.25),
    click_tau_s=0.0005,
    click_band_hz=(2500.0, 14000.0),
    click_level=0.3,
    scrape_band_hz=(2500.0, 7500.0),
)
PLASTIC = ModalSpec(  # hollow plastic: mid modes, medium-short decay, dull
    base_hz=(350.0, 900.0),
    ratios=(1.0, 1.8, 2.9, 4.3),
    decays_s=(0.045, 0.030, 0.020, 0.012),
    amps=(1.0, 0.7, 0.45, 0.3),
    click_tau_s=0.001,
    click_band_hz=(600.0, 6000.0),
    click_level=0.5,
    scrape_band_hz=(600.0, 5000.0),
)
DETUNE_SPREAD = 0.03  # +-3 % random pitch per hit: repeated hits differ
CLICK_SOFT_LEVEL = 0.3  # click level at intensity 0 (relative to intensity 1)
TEXTURE_STICK_SLIP_HZ = 160.0  # friction pulse rate that drives resonant scrapes
TEXTURE_FRICTION_NOISE = 0.3  # broadband friction noise in the excitation, relative to the pulses
TEXTURE_MAX_MODES = 4  # scrapes use the lowest modes only (one IIR filter per mode: cost)
TEXTURE_DECAY_SCALE = 0.5  # resonators ring shorter under continuous contact (the scraper damps)
TEXTURE_SCRAPE_LEVEL = 0.5  # band noise of the scrape, relative to the resonant part
TEXTURE_MOD_HZ = 12.0  # speed variations of the scraping hand
TEXTURE_MOD_FLOOR = 0.5  # ... never stopping it


def modal_grain(
    spec: ModalSpec, sample_rate, rng, *, intensity=1.0, max_duration_s=None
) -> np.ndarray:
    """Hit on a modal solid: ``spec``'s damped modes plus its contact click (peak 1).

    Harder hits (``intensity`` near 1) excite the high modes more and click louder.
    """
    natural = max(spec.decays_s) * (1.0 + dsp.DECAY_JITTER) * dsp.MODE_LENGTH_TAUS
    n = dsp.grain_length(sample_rate, natural, max_duration_s)
    base = rng.uniform(*spec.base_hz) * (1.0 + rng.uniform(-DETUNE_SPREAD, DETUNE_SPREAD))
    modes = dsp.modal_sum(n, sample_rate, rng, base, spec.ratios, spec.decays_s, spec.amps,
                          intensity)
    x = dsp.peak1(modes)
    click = dsp.peak1(dsp.contact_click(n, sample_rate, rng, spec.click_tau_s, *spec.click_band_hz))
    x += spec.click_level * (CLICK_SOFT_LEVEL + (1.0 - CLICK_SOFT_LEVEL) * intensity) * click
    return dsp.finish_grain(x, sample_rate, natural)


def modal_texture(spec: ModalSpec, n_samples: int, sample_rate: int, rng) -> np.ndarray:
    """Scrape / rub on a modal solid: stick-slip pulses and friction noise through
    ``spec``'s lowest modes, plus noise in its scrape band (unit RMS)."""
    n = n_samples
    excitation = dsp.poisson_impulses(n, sample_rate, rng, TEXTURE_STICK_SLIP_HZ)
    excitation += TEXTURE_FRICTION_NOISE * dsp.white_noise(n, rng)
    k = min(len(spec.ratios), TEXTURE_MAX_MODES)
    base = rng.uniform(*spec.base_hz)
    jitter = 1.0 + rng.uniform(-dsp.MODE_JITTER, dsp.MODE_JITTER, k)
    freqs = base * np.asarray(spec.ratios[:k]) * jitter
    resonant = np.zeros(n)
    for f, tau, a in zip(freqs, spec.decays_s[:k], spec.amps[:k]):
        if f < dsp.NYQUIST_GUARD * sample_rate:
            resonant += a * dsp.resonator(excitation, sample_rate, f, tau * TEXTURE_DECAY_SCALE)
    scrape = dsp.band_limit(dsp.white_noise(n, rng), sample_rate, *spec.scrape_band_hz)
    x = dsp.normalize_rms(resonant) + TEXTURE_SCRAPE_LEVEL * dsp.normalize_rms(scrape)
    mod = dsp.slow_modulator(n, sample_rate, rng, TEXTURE_MOD_HZ, TEXTURE_MOD_FLOOR)
    return dsp.finish_texture(x * mod)
