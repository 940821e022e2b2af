"""Shared tunables and small DSP helpers of the procedural materials.

Filters, noise, decays, normalizations, modal sums, impulse clouds and slow
modulators that every material family (:mod:`.modal`, :mod:`.noise`,
:mod:`.water`) builds on. Pure numpy/scipy; the only state is the cache of
filter designs.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.signal

MAX_GRAIN_S = 1.5  # longest impact grain; longer ringing is cut (with a fade)
GRAIN_FADE_OUT_S = 0.005  # fade applied where a grain is truncated, avoids a click
MODE_LENGTH_TAUS = 7.0  # a mode is computed for this many decay times (-60 dB)
NYQUIST_GUARD = 0.45  # modes and filter edges above this fraction of sample_rate are dropped
MODE_JITTER = 0.02  # +-2 % per-mode frequency jitter: inharmonicity varies per hit
DECAY_JITTER = 0.25  # +-25 % random decay time per mode
MODE_AMP_RANGE = (0.5, 1.0)  # random per-mode amplitude factor (strike position varies)
BRIGHTNESS_ROLLOFF = 1.5  # soft hits excite high modes less: amp *= ratio**(-1.5 * (1 - intensity))
IMPULSE_AMP_SIGMA = 0.6  # log-normal spread of the amplitudes of random impulses (crackles, grit)
CONTROL_RATE_HZ = 400.0  # rate of slow random modulators, upsampled by interpolation
TEXTURE_MAX_CREST = 4.0  # textures are soft-saturated (tanh) near this peak/RMS; renormalized after
EPS = 1e-12  # guards divisions by zero in normalizations


@functools.lru_cache(maxsize=256)
def band_sos(low_hz: float | None, high_hz: float | None, sample_rate: int, order: int):
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


def band_limit(x, sample_rate: int, low_hz=None, high_hz=None, order: int = 2) -> np.ndarray:
    """Band-limit ``x`` (causal Butterworth); either edge may be ``None``."""
    if low_hz is None and high_hz is None:
        return x
    return scipy.signal.sosfilt(band_sos(low_hz, high_hz, int(sample_rate), order), x)


def white_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(n)


def exp_decay(n: int, sample_rate: int, tau_s: float, attack_s: float = 0.0) -> np.ndarray:
    """Exponential decay with an optional linear attack (both in seconds)."""
    t = np.arange(n) / sample_rate
    env = np.exp(-t / max(tau_s, EPS))
    if attack_s > 0:
        env *= np.minimum(1.0, t / attack_s)
    return env


def normalize_peak(x: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return (x / peak if peak > EPS else x).astype(np.float32)


def normalize_rms(x: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0
    return (x / rms if rms > EPS else x).astype(np.float32)


def peak1(x: np.ndarray) -> np.ndarray:
    """``x / max|x|`` in float64 (for mixing components before the final normalization)."""
    return x / (np.max(np.abs(x)) + EPS)


def finish_texture(x: np.ndarray) -> np.ndarray:
    """Unit RMS with a soft crest-factor cap: ``c * tanh(x / c)``, ``c = TEXTURE_MAX_CREST``.

    Sparse crackle and stick-slip pulses can reach 20-40x their RMS, which
    would force the output limiter to pull loud sustained sections down; the
    tanh is linear for ordinary values and only rounds the rare spikes.
    """
    x = normalize_rms(x).astype(np.float64)
    return normalize_rms(TEXTURE_MAX_CREST * np.tanh(x / TEXTURE_MAX_CREST))


def grain_length(sample_rate: int, natural_s: float, max_duration_s: float | None) -> int:
    cap = MAX_GRAIN_S if max_duration_s is None else max(max_duration_s, 1.0 / sample_rate)
    return max(1, int(round(min(natural_s, cap) * sample_rate)))


def finish_grain(x: np.ndarray, sample_rate: int, natural_s: float) -> np.ndarray:
    """Fade out a truncated tail (shorter than ``natural_s``), then normalize to peak 1."""
    if x.size < int(natural_s * sample_rate):
        n_fade = min(x.size, max(1, int(GRAIN_FADE_OUT_S * sample_rate)))
        x[-n_fade:] *= np.linspace(1.0, 0.0, n_fade)
    return normalize_peak(x)


def modal_sum(n, sample_rate, rng, base_hz, ratios, decays_s, amps, intensity) -> np.ndarray:
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


def contact_click(n, sample_rate, rng, tau_s, low_hz, high_hz) -> np.ndarray:
    """Contact transient: a few ms of band-limited, exponentially decaying noise."""
    m = min(n, max(1, int(tau_s * MODE_LENGTH_TAUS * sample_rate)))
    out = np.zeros(n)
    burst = white_noise(m, rng) * exp_decay(m, sample_rate, tau_s)
    out[:m] = band_limit(burst, sample_rate, low_hz, high_hz)
    return out


def poisson_impulses(n: int, sample_rate: int, rng: np.random.Generator, rate_hz: float):
    """Sparse impulse train: Poisson times, log-normal amplitudes, random sign."""
    x = np.zeros(n)
    count = rng.poisson(rate_hz * n / sample_rate)
    if count:
        pos = rng.integers(0, n, count)
        amp = rng.lognormal(0.0, IMPULSE_AMP_SIGMA, count) * rng.choice([-1.0, 1.0], count)
        np.add.at(x, pos, amp)
    return x


def resonator(x: np.ndarray, sample_rate: int, freq_hz: float, tau_s: float) -> np.ndarray:
    """Two-pole resonator: its impulse response is one damped sinusoid."""
    r = np.exp(-1.0 / (tau_s * sample_rate))
    w = 2.0 * np.pi * freq_hz / sample_rate
    return scipy.signal.lfilter([np.sin(w)], [1.0, -2.0 * r * np.cos(w), r * r], x)


def slow_modulator(n, sample_rate, rng, cutoff_hz: float, floor: float) -> np.ndarray:
    """Positive random modulator, ``floor + |low-passed noise|`` (unit std).

    Cheap: built at CONTROL_RATE_HZ and linearly interpolated to the sample rate.
    """
    warmup = 64  # control samples discarded while the filter settles
    n_ctrl = max(2, int(np.ceil(n / sample_rate * CONTROL_RATE_HZ)) + 2)
    cutoff = min(cutoff_hz, 0.4 * CONTROL_RATE_HZ)
    ctrl = band_limit(white_noise(n_ctrl + warmup, rng), int(CONTROL_RATE_HZ), None, cutoff)
    ctrl = ctrl[warmup:]
    ctrl = np.abs(ctrl) / (np.std(ctrl) + EPS)
    t = np.arange(n) / sample_rate * CONTROL_RATE_HZ
    return floor + np.interp(t, np.arange(n_ctrl), ctrl)


def crackle_envelope(n, sample_rate, rng, rate_hz: float, tau_s: float, floor: float):
    """Amplitude envelope made of random, exponentially decaying spikes (mean 1 + floor)."""
    spikes = np.abs(poisson_impulses(n, sample_rate, rng, rate_hz))
    r = np.exp(-1.0 / (tau_s * sample_rate))
    env = scipy.signal.lfilter([1.0 - r], [1.0, -r], spikes)
    return floor + env / (np.mean(env) + EPS)


def place(out: np.ndarray, grain: np.ndarray, start: int, gain: float) -> None:
    """Add ``gain * grain`` into ``out`` from ``start`` on (cut at the end of ``out``)."""
    m = min(grain.size, out.size - start)
    if m > 0:
        out[start : start + m] += gain * grain[:m]
