"""Levels on the envelope's own scale, measured cheaply at the output rate.

The envelope is the RMS of 16 kHz mono audio over 32 ms windows
(:mod:`folai_models.preview_synth.measure`). Here the same quantity is
approximated at 44.1 kHz: the signal is low-passed at the 16 kHz Nyquist
frequency and its RMS taken over 32 ms windows, so a sound scaled by
``target / window_level(sound)`` peaks where the envelope says.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.signal

from folai_models.preview_synth.measure import ANALYSIS_FRAME_LENGTH, EPS
from folai_models.rates import ENVELOPE_SAMPLE_RATE

WINDOW_S = ANALYSIS_FRAME_LENGTH / ENVELOPE_SAMPLE_RATE  # 32 ms, the envelope's frame
LOWPASS_HZ = 0.5 * ENVELOPE_SAMPLE_RATE  # what the 16 kHz envelope measure can see
LOWPASS_ORDER = 6


@lru_cache(maxsize=8)
def _lowpass(sample_rate: int):
    if LOWPASS_HZ >= 0.5 * sample_rate:
        return None
    return scipy.signal.butter(LOWPASS_ORDER, LOWPASS_HZ, fs=sample_rate, output="sos")


def band_limited(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """``x`` low-passed at :data:`LOWPASS_HZ` (unchanged at or below 16 kHz)."""
    sos = _lowpass(int(sample_rate))
    return x if sos is None else scipy.signal.sosfilt(sos, x)


def window_level(x: np.ndarray, sample_rate: int) -> float:
    """Highest RMS over 32 ms windows of the band-limited signal (0 for silence)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return 0.0
    y = band_limited(x, sample_rate)
    n = max(1, int(round(WINDOW_S * sample_rate)))
    if y.size <= n:
        return float(np.sqrt(np.mean(np.square(y))))
    c = np.concatenate([[0.0], np.cumsum(np.square(y))])
    return float(np.sqrt(max(np.max(c[n:] - c[:-n]) / n, 0.0)))


def frame_levels(x: np.ndarray, sample_rate: int, frame_rate: float, n_frames: int, *, first_frame: int = 0,
                 start_sample: int = 0) -> np.ndarray:
    """RMS of the band-limited ``x`` over 32 ms windows centred on frame centres ``(i + 0.5) / frame_rate``.

    ``x`` starts at sample ``start_sample`` of the whole signal; levels are
    for frames ``first_frame .. first_frame + n_frames - 1`` (windows cut at
    the ends of ``x``).
    """
    y = band_limited(np.asarray(x, dtype=np.float64), sample_rate)
    c = np.concatenate([[0.0], np.cumsum(np.square(y))])
    half = WINDOW_S * sample_rate / 2
    centres = (np.arange(first_frame, first_frame + n_frames) + 0.5) / frame_rate * sample_rate - start_sample
    lo = np.clip(np.round(centres - half).astype(np.int64), 0, y.size)
    hi = np.clip(np.round(centres + half).astype(np.int64), 0, y.size)
    width = np.maximum(hi - lo, 1)
    return np.sqrt(np.maximum(c[hi] - c[lo], 0.0) / width) * (hi > lo)


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def gain_to_db(gain: float) -> float:
    return float(20.0 * np.log10(max(gain, EPS)))
