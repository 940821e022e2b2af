"""A footstep reference from a recording: transient onsets of its percussive part.

Real walking footage carries music and ambience under the steps, so the
onsets of the full mix (:func:`folai_models.events.detect_onsets` on its RMS)
are a noisy reference. Here harmonic-percussive separation (median filtering,
Fitzgerald 2010, as ``librosa.decompose.hpss``) drops the tonal part (music,
hum), the percussive spectrogram is cut to the band where steps carry their
energy, and its spectral flux is peak-picked with a gait-sized minimum gap.
AudioSep (``sonorize separate --query "footstep sounds"``) would give a
cleaner source, but its weights are not in every install; this needs none.
"""

from __future__ import annotations

import librosa
import numpy as np

__all__ = ["step_reference_onsets", "percussive_flux"]

N_FFT = 1024  # 64 ms at 16 kHz: resolves a heel strike's ~20-50 ms transient (512 split noise bursts in two)
HOP = 128  # 8 ms: the envelope grid's hop
HPSS_MARGIN = 2.0  # a bin is percussive only when twice its harmonic estimate (Driedger et al. 2014 margins)
BAND_HZ = (60.0, 6000.0)  # steps: a low thump and the surface's crunch; below 60 Hz is rumble and wind
MIN_GAP_S = 0.18  # fastest steps (running ~3-4 steps/s) are further apart than this
DELTA = 0.15  # peak must rise this much above the local mean (of the max-normalised flux)
WINDOW_LEAD_S = 0.022  # centred 64 ms frames see a transient ~22 ms before it (measured on synthetic bursts): added back
AVERAGE_WINDOW_S = 0.5  # local mean span: a gait cycle, so steady ambience sets the bar


def percussive_flux(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, float]:
    """Spectral flux of the percussive part in the step band, max-normalised.

    Parameters
    ----------
    audio : np.ndarray, shape (n,)
        Mono samples.
    sample_rate : int

    Returns
    -------
    flux : np.ndarray, float64, in [0, 1]
        One value per hop, frame ``i`` at ``i * HOP / sample_rate`` s.
    rate : float
        Flux frames per second.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1 or audio.size < N_FFT:
        return np.zeros(max(1, audio.size // HOP)), sample_rate / HOP
    spec = np.abs(librosa.stft(audio, n_fft=N_FFT, hop_length=HOP))
    _, percussive = librosa.decompose.hpss(spec, margin=HPSS_MARGIN)
    freqs = librosa.fft_frequencies(sr=sample_rate, n_fft=N_FFT)
    band = (freqs >= BAND_HZ[0]) & (freqs <= BAND_HZ[1])
    log_p = np.log1p(100.0 * percussive[band])  # log compression: quiet steps count, loud ones do not dominate
    flux = np.maximum(np.diff(log_p, axis=1, prepend=log_p[:, :1]), 0.0).sum(axis=0)
    peak = flux.max()
    return (flux / peak if peak > 0 else flux), sample_rate / HOP


def step_reference_onsets(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Increasing times (s) of footstep-like transients in mono ``audio`` (peaks of :func:`percussive_flux`)."""
    flux, rate = percussive_flux(audio, sample_rate)
    if flux.size < 3 or flux.max() <= 0:
        return np.zeros(0)
    wait = max(1, int(round(MIN_GAP_S * rate)))
    avg = max(1, int(round(AVERAGE_WINDOW_S * rate / 2)))
    peaks = librosa.util.peak_pick(flux, pre_max=wait // 2, post_max=wait // 2 + 1, pre_avg=avg,
                                   post_avg=avg + 1, delta=DELTA, wait=wait)
    return np.asarray(peaks, dtype=np.float64) / rate + WINDOW_LEAD_S
