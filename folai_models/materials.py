"""Procedural materials for the preview engine.

Each material is two cheap, physically-motivated renderers:

- an **impact grain** (one hit): modal synthesis for resonant solids
  (sums of exponentially damped sinusoids with material-typical mode ratios,
  inharmonicity and decay times) plus a short contact click, or shaped
  noise bursts / micro-grain clouds for granular and soft materials;
- a **sustained texture** (scraping, rubbing, continuous motion): the same
  resonators driven by friction noise and stick-slip pulses, or filtered
  noise modulated by random crackle.

Conventions
-----------
- Grains are float32, 1-D, start at index 0 (the contact instant) and are
  normalized to **peak 1**.
- Textures are float32, 1-D, exactly ``n_samples`` long and normalized to
  **unit RMS** (crest factor softly capped near :data:`TEXTURE_MAX_CREST`).
- All randomness comes from the ``numpy.random.Generator`` passed in, so a
  seeded generator gives identical output; successive calls give varied
  hits (random detuning, mode amplitudes, decay times, noise).

Pure numpy/scipy: no file I/O, no global state besides filter-design caches.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.signal

__all__ = [
    "DEFAULT_MATERIAL",
    "MATERIALS",
    "MATERIAL_SYNONYMS",
    "TEXTURE_MAX_CREST",
    "Material",
    "get_material",
    "material_from_prompt",
    "render_grain",
    "render_texture",
    "resolve_material",
]

# ---------------------------------------------------------------------------
# Shared tunables
# ---------------------------------------------------------------------------

DEFAULT_MATERIAL = "wood"  # returned when a prompt names no known material
MAX_GRAIN_S = 1.5  # longest impact grain; longer ringing is cut (with a fade)
GRAIN_FADE_OUT_S = 0.005  # fade applied where a grain is truncated, avoids a click
MODE_LENGTH_TAUS = 7.0  # a mode is computed for this many decay times (-60 dB)
NYQUIST_GUARD = 0.45  # modes and filter edges above this fraction of sample_rate are dropped
DETUNE_SPREAD = 0.03  # +-3 % random pitch per hit: repeated hits differ
MODE_JITTER = 0.02  # +-2 % per-mode frequency jitter: inharmonicity varies per hit
DECAY_JITTER = 0.25  # +-25 % random decay time per mode
MODE_AMP_RANGE = (0.5, 1.0)  # random per-mode amplitude factor (strike position varies)
BRIGHTNESS_ROLLOFF = 1.5  # soft hits excite high modes less: amp *= ratio**(-1.5 * (1 - intensity))
IMPULSE_AMP_SIGMA = 0.6  # log-normal spread of the amplitudes of random impulses (crackles, grit)
CONTROL_RATE_HZ = 400.0  # rate of slow random modulators, upsampled by interpolation
TEXTURE_MAX_CREST = 4.0  # textures are soft-saturated (tanh) near this peak/RMS; renormalized after
EPS = 1e-12  # guards divisions by zero in normalizations


# ---------------------------------------------------------------------------
# Small DSP helpers
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _band_sos(low_hz: float | None, high_hz: float | None, sample_rate: int, order: int):
    """Butterworth band/low/high-pass second-order sections (cached)."""
    nyq = 0.5 * sample_rate
    top = NYQUIST_GUARD * sample_rate
    hi = None if high_hz is None else min(high_hz, top)
    if low_hz is not None:  # at low sample rates a band may not fit: keep an octave of it
        low_hz = min(low_hz, 0.5 * (hi if hi is not None else top))
    if low_hz is not None and hi is not None:
        return scipy.signal.butter(order, [low_hz / nyq, hi / nyq], btype="bandpass", output="sos")
    if low_hz is not None:
        return scipy.signal.butter(order, low_hz / nyq, btype="highpass", output="sos")
    return scipy.signal.butter(order, hi / nyq, btype="lowpass", output="sos")


def _filter(x, sample_rate: int, low_hz=None, high_hz=None, order: int = 2) -> np.ndarray:
    """Band-limit ``x`` (causal Butterworth); either edge may be ``None``."""
    if low_hz is None and high_hz is None:
        return x
    return scipy.signal.sosfilt(_band_sos(low_hz, high_hz, int(sample_rate), order), x)


def _noise(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(n)


def _decay(n: int, sample_rate: int, tau_s: float, attack_s: float = 0.0) -> np.ndarray:
    """Exponential decay with an optional linear attack (both in seconds)."""
    t = np.arange(n) / sample_rate
    env = np.exp(-t / max(tau_s, EPS))
    if attack_s > 0:
        env *= np.minimum(1.0, t / attack_s)
    return env


def _normalize_peak(x: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return (x / peak if peak > EPS else x).astype(np.float32)


def _normalize_rms(x: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0
    return (x / rms if rms > EPS else x).astype(np.float32)


def _peak1(x: np.ndarray) -> np.ndarray:
    """``x / max|x|`` in float64 (for mixing components before the final normalization)."""
    return x / (np.max(np.abs(x)) + EPS)


def _finish_texture(x: np.ndarray) -> np.ndarray:
    """Unit RMS with a soft crest-factor cap: ``c * tanh(x / c)``, ``c = TEXTURE_MAX_CREST``.

    Sparse crackle and stick-slip pulses can reach 20-40x their RMS, which
    would force the output limiter to pull loud sustained sections down; the
    tanh is linear for ordinary values and only rounds the rare spikes.
    """
    x = _normalize_rms(x).astype(np.float64)
    return _normalize_rms(TEXTURE_MAX_CREST * np.tanh(x / TEXTURE_MAX_CREST))


def _grain_length(sample_rate: int, natural_s: float, max_duration_s: float | None) -> int:
    cap = MAX_GRAIN_S if max_duration_s is None else max(max_duration_s, 1.0 / sample_rate)
    return max(1, int(round(min(natural_s, cap) * sample_rate)))


def _finish_grain(x: np.ndarray, sample_rate: int, natural_s: float) -> np.ndarray:
    """Fade out a truncated tail (shorter than ``natural_s``), then normalize to peak 1."""
    if x.size < int(natural_s * sample_rate):
        n_fade = min(x.size, max(1, int(GRAIN_FADE_OUT_S * sample_rate)))
        x[-n_fade:] *= np.linspace(1.0, 0.0, n_fade)
    return _normalize_peak(x)


def _modes(n, sample_rate, rng, base_hz, ratios, decays_s, amps, intensity) -> np.ndarray:
    """Sum of exponentially damped sinusoids (modal synthesis).

    Each mode starts at phase 0 (no step at the contact instant) and is
    evaluated only over its own audible length, which keeps short-decay
    materials cheap.
    """
    out = np.zeros(n)
    k = len(ratios)
    ratios = np.asarray(ratios, dtype=np.float64)
    freqs = base_hz * ratios * (1.0 + rng.uniform(-MODE_JITTER, MODE_JITTER, k))
    taus = np.asarray(decays_s) * (1.0 + rng.uniform(-DECAY_JITTER, DECAY_JITTER, k))
    gains = np.asarray(amps) * rng.uniform(*MODE_AMP_RANGE, k)
    gains *= ratios ** (-BRIGHTNESS_ROLLOFF * (1.0 - intensity))
    # float32 exp/sin are several times faster (SIMD); 24-bit precision is plenty here.
    t = (np.arange(n) / sample_rate).astype(np.float32)
    for f, tau, g in zip(freqs, taus, gains):
        if f >= NYQUIST_GUARD * sample_rate:
            continue
        m = min(n, int(tau * MODE_LENGTH_TAUS * sample_rate) + 1)
        tm = t[:m]
        out[:m] += g * np.exp(tm * np.float32(-1.0 / tau)) * np.sin(tm * np.float32(2 * np.pi * f))
    return out


def _click(n, sample_rate, rng, tau_s, low_hz, high_hz) -> np.ndarray:
    """Contact transient: a few ms of band-limited, exponentially decaying noise."""
    m = min(n, max(1, int(tau_s * MODE_LENGTH_TAUS * sample_rate)))
    out = np.zeros(n)
    out[:m] = _filter(_noise(m, rng) * _decay(m, sample_rate, tau_s), sample_rate, low_hz, high_hz)
    return out


def _poisson_impulses(n: int, sample_rate: int, rng: np.random.Generator, rate_hz: float):
    """Sparse impulse train: Poisson times, log-normal amplitudes, random sign."""
    x = np.zeros(n)
    count = rng.poisson(rate_hz * n / sample_rate)
    if count:
        pos = rng.integers(0, n, count)
        amp = rng.lognormal(0.0, IMPULSE_AMP_SIGMA, count) * rng.choice([-1.0, 1.0], count)
        np.add.at(x, pos, amp)
    return x


def _resonator(x: np.ndarray, sample_rate: int, freq_hz: float, tau_s: float) -> np.ndarray:
    """Two-pole resonator: its impulse response is one damped sinusoid."""
    r = np.exp(-1.0 / (tau_s * sample_rate))
    w = 2.0 * np.pi * freq_hz / sample_rate
    return scipy.signal.lfilter([np.sin(w)], [1.0, -2.0 * r * np.cos(w), r * r], x)


def _slow_modulator(n, sample_rate, rng, cutoff_hz: float, floor: float) -> np.ndarray:
    """Positive random modulator, ``floor + |low-passed noise|`` (unit std).

    Cheap: built at CONTROL_RATE_HZ and linearly interpolated to the sample rate.
    """
    warmup = 64  # control samples discarded while the filter settles
    n_ctrl = max(2, int(np.ceil(n / sample_rate * CONTROL_RATE_HZ)) + 2)
    cutoff = min(cutoff_hz, 0.4 * CONTROL_RATE_HZ)
    ctrl = _filter(_noise(n_ctrl + warmup, rng), int(CONTROL_RATE_HZ), None, cutoff)[warmup:]
    ctrl = np.abs(ctrl) / (np.std(ctrl) + EPS)
    t = np.arange(n) / sample_rate * CONTROL_RATE_HZ
    return floor + np.interp(t, np.arange(n_ctrl), ctrl)


def _crackle_envelope(n, sample_rate, rng, rate_hz: float, tau_s: float, floor: float):
    """Amplitude envelope made of random, exponentially decaying spikes (mean 1 + floor)."""
    spikes = np.abs(_poisson_impulses(n, sample_rate, rng, rate_hz))
    r = np.exp(-1.0 / (tau_s * sample_rate))
    env = scipy.signal.lfilter([1.0 - r], [1.0, -r], spikes)
    return floor + env / (np.mean(env) + EPS)


def _place(out: np.ndarray, grain: np.ndarray, start: int, gain: float) -> None:
    m = min(grain.size, out.size - start)
    if m > 0:
        out[start : start + m] += gain * grain[:m]


# ---------------------------------------------------------------------------
# Modal solids: wood, metal, glass, plastic
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _ModalSpec:
    """Modes of a struck solid, its contact click and its scrape noise."""

    base_hz: tuple[float, float]  # range of the fundamental, drawn per hit
    ratios: tuple[float, ...]  # mode frequencies / fundamental
    decays_s: tuple[float, ...]  # decay time constant of each mode
    amps: tuple[float, ...]  # relative amplitude of each mode
    click_tau_s: float  # contact click decay (harder material: shorter)
    click_band_hz: tuple[float, float]  # contact click band
    click_level: float  # click peak relative to the modes' peak
    scrape_band_hz: tuple[float, float]  # friction noise band in the texture


WOOD = _ModalSpec(  # free-free wooden bar (Euler-Bernoulli ratios): few low modes, short decays
    base_hz=(160.0, 420.0),
    ratios=(1.0, 2.76, 5.40, 8.93),
    decays_s=(0.060, 0.030, 0.016, 0.009),  # wood damps its high modes fast
    amps=(1.0, 0.6, 0.35, 0.2),
    click_tau_s=0.0015,  # soft-ish contact
    click_band_hz=(200.0, 3500.0),
    click_level=0.5,
    scrape_band_hz=(300.0, 3000.0),
)
METAL = _ModalSpec(  # struck plate / pot: many inharmonic modes, long bright ringing
    base_hz=(280.0, 800.0),
    ratios=(1.0, 1.59, 2.14, 2.30, 2.65, 2.92, 3.16, 3.50, 4.06, 5.12),
    decays_s=(1.00, 0.85, 0.70, 0.65, 0.55, 0.50, 0.45, 0.40, 0.32, 0.25),
    amps=(1.0, 0.8, 0.7, 0.6, 0.6, 0.5, 0.45, 0.4, 0.35, 0.3),
    click_tau_s=0.0007,  # hard, bright contact
    click_band_hz=(1500.0, 12000.0),
    click_level=0.35,
    scrape_band_hz=(2000.0, 7500.0),
)
GLASS = _ModalSpec(  # glass / ceramic: few high, very inharmonic modes, long clear ring
    base_hz=(1100.0, 2400.0),
    ratios=(1.0, 2.32, 4.25, 6.63),
    decays_s=(0.60, 0.35, 0.20, 0.12),
    amps=(1.0, 0.7, 0.4, 0.25),
    click_tau_s=0.0005,
    click_band_hz=(2500.0, 14000.0),
    click_level=0.3,
    scrape_band_hz=(2500.0, 7500.0),
)
PLASTIC = _ModalSpec(  # hollow plastic: mid modes, medium-short decay, dull
    base_hz=(350.0, 900.0),
    ratios=(1.0, 1.8, 2.9, 4.3),
    decays_s=(0.045, 0.030, 0.020, 0.012),
    amps=(1.0, 0.7, 0.45, 0.3),
    click_tau_s=0.001,
    click_band_hz=(600.0, 6000.0),
    click_level=0.5,
    scrape_band_hz=(600.0, 5000.0),
)
CLICK_SOFT_LEVEL = 0.3  # click level at intensity 0 (relative to intensity 1)
TEXTURE_STICK_SLIP_HZ = 160.0  # friction pulse rate that drives resonant scrapes
TEXTURE_FRICTION_NOISE = 0.3  # broadband friction noise in the excitation, relative to the pulses
TEXTURE_MAX_MODES = 4  # scrapes use the lowest modes only (one IIR filter per mode: cost)
TEXTURE_DECAY_SCALE = 0.5  # resonators ring shorter under continuous contact (the scraper damps)
TEXTURE_SCRAPE_LEVEL = 0.5  # band noise of the scrape, relative to the resonant part
TEXTURE_MOD_HZ = 12.0  # speed variations of the scraping hand
TEXTURE_MOD_FLOOR = 0.5  # ... never stopping it


def _modal_grain(spec: _ModalSpec, sample_rate, rng, intensity, max_duration_s) -> np.ndarray:
    natural = max(spec.decays_s) * (1.0 + DECAY_JITTER) * MODE_LENGTH_TAUS
    n = _grain_length(sample_rate, natural, max_duration_s)
    base = rng.uniform(*spec.base_hz) * (1.0 + rng.uniform(-DETUNE_SPREAD, DETUNE_SPREAD))
    x = _peak1(_modes(n, sample_rate, rng, base, spec.ratios, spec.decays_s, spec.amps, intensity))
    click = _peak1(_click(n, sample_rate, rng, spec.click_tau_s, *spec.click_band_hz))
    x += spec.click_level * (CLICK_SOFT_LEVEL + (1.0 - CLICK_SOFT_LEVEL) * intensity) * click
    return _finish_grain(x, sample_rate, natural)


def _modal_texture(spec: _ModalSpec, n: int, sample_rate: int, rng) -> np.ndarray:
    excitation = _poisson_impulses(n, sample_rate, rng, TEXTURE_STICK_SLIP_HZ)
    excitation += TEXTURE_FRICTION_NOISE * _noise(n, rng)
    k = min(len(spec.ratios), TEXTURE_MAX_MODES)
    base = rng.uniform(*spec.base_hz)
    freqs = base * np.asarray(spec.ratios[:k]) * (1.0 + rng.uniform(-MODE_JITTER, MODE_JITTER, k))
    resonant = np.zeros(n)
    for f, tau, a in zip(freqs, spec.decays_s[:k], spec.amps[:k]):
        if f < NYQUIST_GUARD * sample_rate:
            resonant += a * _resonator(excitation, sample_rate, f, tau * TEXTURE_DECAY_SCALE)
    scrape = _filter(_noise(n, rng), sample_rate, *spec.scrape_band_hz)
    x = _normalize_rms(resonant) + TEXTURE_SCRAPE_LEVEL * _normalize_rms(scrape)
    mod = _slow_modulator(n, sample_rate, rng, TEXTURE_MOD_HZ, TEXTURE_MOD_FLOOR)
    return _finish_texture(x * mod)


def wood_grain(sample_rate, rng, *, intensity=1.0, max_duration_s=None) -> np.ndarray:
    """Knock on wood: few low free-bar modes, short decays, soft click (peak 1)."""
    return _modal_grain(WOOD, sample_rate, rng, intensity, max_duration_s)


def wood_texture(n_samples, sample_rate, rng) -> np.ndarray:
    """Wood scrape: stick-slip pulses through wood modes plus mid-band noise (unit RMS)."""
    return _modal_texture(WOOD, n_samples, sample_rate, rng)


def metal_grain(sample_rate, rng, *, intensity=1.0, max_duration_s=None) -> np.ndarray:
    """Struck metal: many inharmonic, long-ringing bright modes (peak 1)."""
    return _modal_grain(METAL, sample_rate, rng, intensity, max_duration_s)


def metal_texture(n_samples, sample_rate, rng) -> np.ndarray:
    """Metal scrape: friction pulses through ringing metal modes plus bright noise (unit RMS)."""
    return _modal_texture(METAL, n_samples, sample_rate, rng)


def glass_grain(sample_rate, rng, *, intensity=1.0, max_duration_s=None) -> np.ndarray:
    """Glass / ceramic tap: few high inharmonic modes, clear long ring (peak 1)."""
    return _modal_grain(GLASS, sample_rate, rng, intensity, max_duration_s)


def glass_texture(n_samples, sample_rate, rng) -> np.ndarray:
    """Glass rub: friction pulses through glass modes plus high noise (unit RMS)."""
    return _modal_texture(GLASS, n_samples, sample_rate, rng)


def plastic_grain(sample_rate, rng, *, intensity=1.0, max_duration_s=None) -> np.ndarray:
    """Hollow plastic knock: mid modes, short decay (peak 1)."""
    return _modal_grain(PLASTIC, sample_rate, rng, intensity, max_duration_s)


def plastic_texture(n_samples, sample_rate, rng) -> np.ndarray:
    """Plastic rub (unit RMS)."""
    return _modal_texture(PLASTIC, n_samples, sample_rate, rng)


# ---------------------------------------------------------------------------
# Stone / concrete: short noisy click
# ---------------------------------------------------------------------------

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
    natural = max(tau, max(STONE_THUD_TAU_S)) * MODE_LENGTH_TAUS
    n = _grain_length(sample_rate, natural, max_duration_s)
    high = STONE_BAND_HZ[1] * (0.5 + 0.5 * intensity)
    x = _peak1(_click(n, sample_rate, rng, tau, STONE_BAND_HZ[0], high))
    base = rng.uniform(*STONE_THUD_HZ)
    thud = _modes(n, sample_rate, rng, base, STONE_THUD_RATIOS, STONE_THUD_TAU_S, STONE_THUD_AMPS,
                  intensity)
    x += STONE_THUD_LEVEL * _peak1(thud)
    return _finish_grain(x, sample_rate, natural)


def stone_texture(n_samples, sample_rate, rng) -> np.ndarray:
    """Scrape on concrete: grainy band-passed noise plus a grit click cloud (unit RMS)."""
    n = n_samples
    noise = _normalize_rms(_filter(_noise(n, rng), sample_rate, *STONE_BAND_HZ))
    noise = noise * _slow_modulator(n, sample_rate, rng, STONE_MOD_HZ, STONE_MOD_FLOOR)
    impulses = _poisson_impulses(n, sample_rate, rng, STONE_GRIT_RATE_HZ)
    grit = _resonator(impulses, sample_rate, rng.uniform(*STONE_GRIT_HZ), STONE_GRIT_TAU_S)
    return _finish_texture(noise + STONE_GRIT_LEVEL * _normalize_rms(grit))


# ---------------------------------------------------------------------------
# Gravel: many micro-grains
# ---------------------------------------------------------------------------

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
    natural = spread + GRAVEL_PEBBLE_TAU_S[1] * MODE_LENGTH_TAUS
    n = _grain_length(sample_rate, natural, max_duration_s)
    x = np.zeros(n)
    count = int(rng.integers(GRAVEL_GRAIN_COUNT[0], GRAVEL_GRAIN_COUNT[1] + 1))
    delays = rng.gamma(GRAVEL_ONSET_SHAPE, spread / (2 * GRAVEL_ONSET_SHAPE), count)
    onsets = np.minimum((delays * sample_rate).astype(int), n - 1)
    onsets[0] = 0  # the first pebble marks the contact instant
    for start in onsets:
        tau = rng.uniform(*GRAVEL_PEBBLE_TAU_S)
        m = min(n - start, int(tau * MODE_LENGTH_TAUS * sample_rate) + 1)
        t = np.arange(m) / sample_rate
        f = rng.uniform(*GRAVEL_PEBBLE_HZ) * (0.6 + 0.4 * intensity)
        amp = rng.lognormal(0.0, GRAVEL_PEBBLE_AMP_SIGMA)
        x[start : start + m] += amp * np.exp(-t / tau) * np.sin(2 * np.pi * f * t)
    crunch = _noise(n, rng) * _decay(n, sample_rate, spread / 2, GRAVEL_CRUNCH_ATTACK_S)
    crunch = _filter(crunch, sample_rate, *GRAVEL_CRUNCH_BAND_HZ)
    x = _peak1(x) + GRAVEL_CRUNCH_LEVEL * _peak1(crunch)
    return _finish_grain(x, sample_rate, natural)


def gravel_texture(n_samples, sample_rate, rng) -> np.ndarray:
    """Rolling / shuffling gravel: a dense pebble-click cloud over a low rumble (unit RMS)."""
    n = n_samples
    x = np.zeros(n)
    rate = GRAVEL_TEXTURE_RATE_HZ / len(GRAVEL_TEXTURE_BANDS_HZ)
    for f in GRAVEL_TEXTURE_BANDS_HZ:
        f = f * (1.0 + rng.uniform(-GRAVEL_TEXTURE_BAND_JITTER, GRAVEL_TEXTURE_BAND_JITTER))
        impulses = _poisson_impulses(n, sample_rate, rng, rate)
        x += _resonator(impulses, sample_rate, f, rng.uniform(*GRAVEL_PEBBLE_TAU_S))
    rumble = _normalize_rms(_filter(_noise(n, rng), sample_rate, *GRAVEL_CRUNCH_BAND_HZ))
    rumble = rumble * _slow_modulator(n, sample_rate, rng, GRAVEL_RUMBLE_MOD_HZ,
                                      GRAVEL_RUMBLE_MOD_FLOOR)
    return _finish_texture(_normalize_rms(x) + GRAVEL_CRUNCH_LEVEL * rumble)


# ---------------------------------------------------------------------------
# Grass / leaves, cloth, paper: shaped noise
# ---------------------------------------------------------------------------

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


def grass_grain(sample_rate, rng, *, intensity=1.0, max_duration_s=None) -> np.ndarray:
    """Brushing grass / leaves: crackly high-passed noise burst (peak 1)."""
    decay = rng.uniform(*GRASS_DECAY_S)
    natural = decay * NOISE_GRAIN_TAUS
    n = _grain_length(sample_rate, natural, max_duration_s)
    crackle = _crackle_envelope(n, sample_rate, rng, GRASS_CRACKLE_RATE_HZ, GRASS_CRACKLE_TAU_S,
                                GRASS_CRACKLE_FLOOR)
    low = GRASS_BAND_HZ[0] * (1.3 - 0.3 * intensity)  # soft brushes are thinner
    x = _filter(_noise(n, rng) * crackle, sample_rate, low, GRASS_BAND_HZ[1])
    return _finish_grain(x * _decay(n, sample_rate, decay, GRASS_ATTACK_S), sample_rate, natural)


def grass_texture(n_samples, sample_rate, rng) -> np.ndarray:
    """Moving through grass / foliage: continuous crackle over soft hiss (unit RMS)."""
    n = n_samples
    crackle = _crackle_envelope(n, sample_rate, rng, GRASS_CRACKLE_RATE_HZ, GRASS_CRACKLE_TAU_S,
                                GRASS_CRACKLE_FLOOR)
    x = _filter(_noise(n, rng) * crackle, sample_rate, *GRASS_BAND_HZ)
    return _finish_texture(x * _slow_modulator(n, sample_rate, rng, GRASS_MOD_HZ, GRASS_MOD_FLOOR))


def cloth_grain(sample_rate, rng, *, intensity=1.0, max_duration_s=None) -> np.ndarray:
    """Hit on cloth / carpet / cushion: soft low-passed noise thump (peak 1)."""
    decay = rng.uniform(*CLOTH_DECAY_S)
    natural = decay * NOISE_GRAIN_TAUS
    n = _grain_length(sample_rate, natural, max_duration_s)
    cutoff = rng.uniform(*CLOTH_CUTOFF_HZ) * (0.6 + 0.4 * intensity)
    x = _filter(_noise(n, rng), sample_rate, CLOTH_LOW_HZ, cutoff)
    return _finish_grain(x * _decay(n, sample_rate, decay, CLOTH_ATTACK_S), sample_rate, natural)


def cloth_texture(n_samples, sample_rate, rng) -> np.ndarray:
    """Fabric rustle: low-passed noise with slow random modulation (unit RMS)."""
    x = _filter(_noise(n_samples, rng), sample_rate, *CLOTH_TEXTURE_BAND_HZ)
    mod = _slow_modulator(n_samples, sample_rate, rng, CLOTH_MOD_HZ, CLOTH_MOD_FLOOR)
    return _finish_texture(x * mod)


def paper_grain(sample_rate, rng, *, intensity=1.0, max_duration_s=None) -> np.ndarray:
    """Paper / cardboard: crinkly band-passed noise burst with random clicks (peak 1)."""
    decay = rng.uniform(*PAPER_DECAY_S)
    natural = decay * NOISE_GRAIN_TAUS
    n = _grain_length(sample_rate, natural, max_duration_s)
    crinkle = _crackle_envelope(n, sample_rate, rng, PAPER_CRINKLE_RATE_HZ, PAPER_CRINKLE_TAU_S,
                                PAPER_CRINKLE_FLOOR)
    high = PAPER_BAND_HZ[1] * (0.6 + 0.4 * intensity)
    x = _filter(_noise(n, rng) * crinkle, sample_rate, PAPER_BAND_HZ[0], high)
    return _finish_grain(x * _decay(n, sample_rate, decay, PAPER_ATTACK_S), sample_rate, natural)


def paper_texture(n_samples, sample_rate, rng) -> np.ndarray:
    """Handling paper: crinkle-modulated band-passed noise (unit RMS)."""
    crinkle = _crackle_envelope(n_samples, sample_rate, rng, PAPER_CRINKLE_RATE_HZ,
                                PAPER_CRINKLE_TAU_S, PAPER_CRINKLE_FLOOR)
    x = _filter(_noise(n_samples, rng) * crinkle, sample_rate, *PAPER_BAND_HZ)
    mod = _slow_modulator(n_samples, sample_rate, rng, PAPER_MOD_HZ, PAPER_MOD_FLOOR)
    return _finish_texture(x * mod)


# ---------------------------------------------------------------------------
# Water: bubbles
# ---------------------------------------------------------------------------

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
    n = max(1, int(MODE_LENGTH_TAUS / d * sample_rate))
    t = (np.arange(n) / sample_rate).astype(np.float32)
    # phase = integral of f(t); float32 for SIMD speed
    phase = np.float32(2 * np.pi * f0) * (t + np.float32(0.5 * WATER_CHIRP_XI * d) * t * t)
    return np.exp(np.float32(-d) * t) * np.sin(phase)


def water_grain(sample_rate, rng, *, intensity=1.0, max_duration_s=None) -> np.ndarray:
    """Splash / drip: a few chirping bubbles over a short splash of noise (peak 1)."""
    n = _grain_length(sample_rate, WATER_GRAIN_S, max_duration_s)
    x = np.zeros(n)
    count = int(rng.integers(WATER_BUBBLES[0], WATER_BUBBLES[1] + 1))
    for i in range(count):
        start = 0 if i == 0 else int(rng.uniform(0, WATER_BUBBLE_SPREAD_S) * sample_rate)
        _place(x, _bubble(sample_rate, rng), min(start, n - 1), rng.uniform(*WATER_BUBBLE_GAIN))
    splash = _noise(n, rng) * _decay(n, sample_rate, WATER_SPLASH_TAU_S, WATER_SPLASH_ATTACK_S)
    splash = _filter(splash, sample_rate, *WATER_SPLASH_BAND_HZ)
    x = _peak1(x) + WATER_SPLASH_LEVEL * intensity * _peak1(splash)
    return _finish_grain(x, sample_rate, WATER_GRAIN_S)


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
        _place(x, pool[k], int(start), gain)
    flow = _normalize_rms(_filter(_noise(n, rng), sample_rate, *WATER_TEXTURE_FLOW_BAND_HZ))
    flow = flow * _slow_modulator(n, sample_rate, rng, WATER_FLOW_MOD_HZ, WATER_FLOW_MOD_FLOOR)
    return _finish_texture(_normalize_rms(x) + WATER_TEXTURE_FLOW_LEVEL * flow)


# ---------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------

GrainFn = Callable[..., np.ndarray]
TextureFn = Callable[[int, int, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Material:
    """A procedural material: one impact-grain and one sustained-texture renderer.

    Attributes
    ----------
    name : str
        Registry key.
    grain : callable
        ``grain(sample_rate, rng, *, intensity=1.0, max_duration_s=None)`` ->
        float32 1-D array, peak 1, starting at the contact instant.
        ``intensity`` in [0, 1] sets brightness (harder hits excite higher
        modes); ``max_duration_s`` truncates the tail (with a short fade).
    texture : callable
        ``texture(n_samples, sample_rate, rng)`` -> float32 1-D array of
        exactly ``n_samples``, unit RMS.
    description : str
        One line for humans.
    """

    name: str
    grain: GrainFn
    texture: TextureFn
    description: str


MATERIALS: dict[str, Material] = {
    m.name: m
    for m in (
        Material("wood", wood_grain, wood_texture, "short, few low modes; resonant scrape"),
        Material("metal", metal_grain, metal_texture, "long, bright, inharmonic ringing"),
        Material("glass", glass_grain, glass_texture, "high, clear, long ring (also ceramic)"),
        Material("stone", stone_grain, stone_texture, "short noisy click and thud (also concrete)"),
        Material("gravel", gravel_grain, gravel_texture, "clusters of pebble micro-grains"),
        Material("grass", grass_grain, grass_texture, "crackly high-passed noise (also leaves)"),
        Material("water", water_grain, water_texture, "chirping Minnaert bubbles and splash"),
        Material("cloth", cloth_grain, cloth_texture, "soft low-passed noise (also carpet)"),
        Material("paper", paper_grain, paper_texture, "crinkly band-passed noise (also cardboard)"),
        Material("plastic", plastic_grain, plastic_texture, "hollow mid modes, short decay"),
    )
}

# Words (case-insensitive, whole words, optional plural -s/-es) that select a material.
MATERIAL_SYNONYMS: dict[str, tuple[str, ...]] = {
    "wood": ("wood", "wooden", "plank", "table", "door", "timber", "log", "stick", "branch"),
    "metal": ("metal", "metallic", "steel", "iron", "pot", "pan", "tin", "aluminum", "aluminium",
              "brass", "copper", "bell", "chain"),
    "glass": ("glass", "bottle", "window", "ceramic", "porcelain", "mug", "jar", "cup"),
    "stone": ("stone", "rock", "concrete", "brick", "tile", "asphalt", "pavement", "marble",
              "drywall", "plaster"),
    "gravel": ("gravel", "pebble", "dirt", "sand", "soil"),
    "grass": ("grass", "leaf", "leaves", "bush", "plant", "foliage", "hay", "straw"),
    "water": ("water", "splash", "puddle", "liquid", "river", "stream", "rain", "pour"),
    "cloth": ("cloth", "fabric", "shirt", "carpet", "cushion", "pillow", "rug", "towel", "jacket",
              "clothes", "clothing"),
    "paper": ("paper", "cardboard", "book", "newspaper", "envelope", "card"),
    "plastic": ("plastic",),
}

# "can" is also a modal verb, so it selects metal only after a determiner or a
# container word ("a can", "the can", "tin can", "soda can"); "cans" always does.
_CAN_PATTERN = re.compile(
    r"\b(?:a|an|the|this|that|tin|soda|beer|paint|trash|garbage|metal|empty)\s+(can)\b|\b(cans)\b",
    re.IGNORECASE,
)
_WORD_TO_MATERIAL: dict[str, str] = {
    word: material for material, words in MATERIAL_SYNONYMS.items() for word in words
}
_PROMPT_PATTERN = re.compile(
    r"\b("
    + "|".join(sorted((re.escape(w) for w in _WORD_TO_MATERIAL), key=len, reverse=True))
    + r")(?:s|es)?\b",
    re.IGNORECASE,
)


def material_from_prompt(text: str | None) -> str:
    """Pick a material name from the words of a text prompt.

    Matching is case-insensitive and on whole words (plural ``-s``/``-es``
    accepted), with the synonyms of :data:`MATERIAL_SYNONYMS`. **The first
    material word in the prompt wins**: "A person hit multiple times on metal
    with a wooden stick" gives ``"metal"``.

    Parameters
    ----------
    text : str or None
        Free text, e.g. a Greatest Hits caption.

    Returns
    -------
    str
        A key of :data:`MATERIALS`; :data:`DEFAULT_MATERIAL` (``"wood"``) when
        ``text`` is ``None``, empty or names no material.
    """
    if not text:
        return DEFAULT_MATERIAL
    candidates: list[tuple[int, str]] = []
    word = _PROMPT_PATTERN.search(text)
    if word:
        candidates.append((word.start(1), _WORD_TO_MATERIAL[word.group(1).lower()]))
    can = _CAN_PATTERN.search(text)
    if can:
        candidates.append((can.start(1) if can.group(1) else can.start(2), "metal"))
    return min(candidates)[1] if candidates else DEFAULT_MATERIAL


def resolve_material(name: str) -> str:
    """Normalize an explicit material name (registry key or synonym, any case).

    Raises
    ------
    ValueError
        If ``name`` is neither a material nor one of its synonyms; the message
        lists the valid names.
    """
    key = str(name).strip().lower()
    if key in MATERIALS:
        return key
    if key in _WORD_TO_MATERIAL:
        return _WORD_TO_MATERIAL[key]
    raise ValueError(f"unknown material {name!r}; valid materials: {', '.join(sorted(MATERIALS))}")


def get_material(name: str) -> Material:
    """The :class:`Material` for a name or synonym (see :func:`resolve_material`)."""
    return MATERIALS[resolve_material(name)]


def _generator(seed: int | np.random.Generator) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def render_grain(
    material: str,
    sample_rate: int = 44100,
    *,
    seed: int | np.random.Generator = 0,
    intensity: float = 1.0,
    max_duration_s: float | None = None,
) -> np.ndarray:
    """Render one impact grain of ``material`` (float32, 1-D, peak 1).

    ``intensity`` in [0, 1] (clipped): harder hits are brighter.
    """
    grain = get_material(material).grain
    intensity = float(np.clip(intensity, 0.0, 1.0))
    return grain(int(sample_rate), _generator(seed), intensity=intensity,
                 max_duration_s=max_duration_s)


def render_texture(
    material: str,
    n_samples: int,
    sample_rate: int = 44100,
    *,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """Render ``n_samples`` of ``material``'s sustained texture (float32, unit RMS)."""
    texture = get_material(material).texture
    if n_samples <= 0:
        return np.zeros(0, dtype=np.float32)
    return texture(int(n_samples), int(sample_rate), _generator(seed))
