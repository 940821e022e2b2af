"""Measurement on the envelope grid: RMS as the envelope stage computes it.

Frame ``i`` of an envelope is centred at ``(i + 0.5) / frame_rate`` seconds
and is the RMS of 512 samples of 16 kHz mono audio around that centre
(spec stage 7). This module holds that grid: the frame windows, the
resampling to 16 kHz, :func:`envelope_rms`, and the interpolation of
per-frame values to samples.
"""

from __future__ import annotations

import numpy as np
import soxr

from folai_models.rates import ENVELOPE_FRAME_RATE, ENVELOPE_SAMPLE_RATE, OUTPUT_SAMPLE_RATE


# Measurement: the envelope stage's RMS (spec stage 7).
ANALYSIS_FRAME_LENGTH = 512  # samples at ENVELOPE_SAMPLE_RATE (32 ms window)
RESAMPLE_QUALITY = "HQ"  # soxr quality, as librosa's default res_type "soxr_hq"

EPS = 1e-12  # guards divisions by zero


def frame_windows(n_signal: int, n_frames: int, frame_rate: float):
    """Window starts (in a padded signal) and the reflect padding, for frames centred at
    ``(i + 0.5) / frame_rate`` on a 16 kHz signal of ``n_signal`` samples."""
    length = ANALYSIS_FRAME_LENGTH
    centres = (np.arange(n_frames) + 0.5) * (ENVELOPE_SAMPLE_RATE / frame_rate)
    starts = np.round(centres - length / 2).astype(np.int64)
    pad_left = max(0, -int(starts.min()))
    pad_right = max(0, int(starts.max()) + length - n_signal)
    return centres, starts + pad_left, pad_left, pad_right


def reflect_pad(y16: np.ndarray, pad_left: int, pad_right: int) -> np.ndarray:
    mode = "reflect" if y16.size > 1 else "edge"
    return np.pad(y16, (pad_left, pad_right), mode=mode)


def frame_rms_16k(y16: np.ndarray, n_frames: int, frame_rate: float) -> np.ndarray:
    """RMS of 16 kHz audio on the envelope grid (frame i centred at (i + 0.5) / frame_rate).

    With frame_rate 125 this is exactly spec stage 7 (frame 512, hop 128,
    reflect padding 192, center=False); other frame rates use the same
    512-sample window around each frame centre.
    """
    _, starts, pad_left, pad_right = frame_windows(y16.size, n_frames, frame_rate)
    padded = reflect_pad(y16, pad_left, pad_right)
    energy = np.concatenate([[0.0], np.cumsum(np.square(padded, dtype=np.float64))])
    total = energy[starts + ANALYSIS_FRAME_LENGTH] - energy[starts]
    return np.sqrt(np.maximum(total, 0.0) / ANALYSIS_FRAME_LENGTH)


def resample(y: np.ndarray, from_rate: float, to_rate: float) -> np.ndarray:
    if from_rate == to_rate:
        return np.asarray(y, dtype=np.float64)
    y32 = np.asarray(y, dtype=np.float32)
    return soxr.resample(y32, from_rate, to_rate, quality=RESAMPLE_QUALITY).astype(np.float64)


def envelope_rms(
    audio: np.ndarray,
    sample_rate: int = OUTPUT_SAMPLE_RATE,
    frame_rate: float = ENVELOPE_FRAME_RATE,
    n_frames: int | None = None,
) -> np.ndarray:
    """RMS envelope of audio as the envelope stage measures it.

    Mono downmix (mean of channels), resampled to 16 kHz (soxr HQ), RMS over
    512 samples around each frame centre ``(i + 0.5) / frame_rate``: at 125
    frames/s, :func:`folai_models.envelope.rms_envelope` of the 16 kHz audio.

    Parameters
    ----------
    audio : np.ndarray, shape (n,) or (channels, n)
    sample_rate : int
    frame_rate : float
    n_frames : int, optional
        Defaults to ``round(duration * frame_rate)``.

    Returns
    -------
    np.ndarray, shape (n_frames,), float64
    """
    audio = np.asarray(audio, dtype=np.float64)
    mono = audio if audio.ndim == 1 else audio.mean(axis=0)
    if n_frames is None:
        n_frames = int(round(mono.size / sample_rate * frame_rate))
    y16 = resample(mono, int(sample_rate), ENVELOPE_SAMPLE_RATE)
    return frame_rms_16k(y16, n_frames, float(frame_rate))



def frames_to_samples(values, frame_rate: float, sample_rate: int, n_samples: int, start: int = 0):
    """Per-frame values (at frame centres) linearly interpolated to samples
    ``[start, start + n_samples)``; held constant beyond the first and last centre."""
    t = np.arange(start, start + n_samples, dtype=np.float64) * (frame_rate / sample_rate) - 0.5
    return np.interp(t, np.arange(values.size, dtype=np.float64), values)

