"""aiSFX input features: the paper's Essentia mel spectrogram, normalized and cut into blocks.

Ma & Lerch, "Representation Learning for the Automatic Indexing of Sound Effects
Libraries", ISMIR 2022 (model CC-BY 4.0). Their released extractor (the ``aisfx``
wheel, ``spectrogram_essentia.py`` + ``preprocessing.py``) computes, on 44.1 kHz mono:
Essentia ``FrameCutter`` (2048 / 1024, first frame centred on sample 0) ->
``Windowing`` (symmetric Hann, not normalized) -> ``Spectrum`` (magnitude) ->
``MelBands`` (96 HTK-mel bands 0-22050 Hz, triangles linear in mel, unit-sum, power)
-> ``log10(1e4 x + 1)`` -> division by the paper's maximum -> blocks of 100 frames,
hop 50, a trailing partial block dropped, anything shorter zero-padded to one block.
This module re-implements that in numpy (no Essentia): the only difference is that
Essentia adds -100 dB noise to digitally silent frames, which changes a feature by
about 1e-5.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from folai_models.rates import AISFX_SAMPLE_RATE

FRAME_SIZE = 2048  # aisfx inference.SPEC_BLOCK_LENGTH (Essentia FrameCutter frameSize)
FRAME_HOP = 1024  # aisfx inference.SPEC_HOP_LENGTH
N_MELS = 96  # aisfx inference.MEL_BINS
F_MIN, F_MAX = 0.0, 22050.0  # aisfx inference.F_MIN / F_MAX
LOG_SCALE = 1e4  # Essentia UnaryOperator 'shift_scale_log': log10(1e4 x + 1)
SPEC_MAX = 9.457798957824707  # aisfx preprocessing.spectrogram_normalize 'original' (paper's min 0 / max)
BLOCK_FRAMES = 100  # aisfx inference.EMB_BLOCK_LENGTH (~2.3 s)
BLOCK_HOP = 50  # emb_hop_size 0.5 of the block, the paper's setting
_FFT_CHUNK = 4096  # frames transformed at once: bounds the memory of long clips


def _hz_to_htk_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _htk_mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=4)
def mel_filterbank(n_mels: int = N_MELS, frame_size: int = FRAME_SIZE, sample_rate: int = AISFX_SAMPLE_RATE,
                   f_min: float = F_MIN, f_max: float = F_MAX) -> np.ndarray:
    """Essentia's ``MelBands`` weights (htkMel warping, 'warping' weighting, unit_sum).

    Band edges are equally spaced in HTK mel; each triangle is linear in mel
    (not in Hz, unlike librosa's) over the bins from ``ceil(f_lo / df)`` to
    ``floor(f_hi / df)`` inclusive (Essentia 2.1b6 ``TriangularBands``), and sums to one.

    Returns
    -------
    np.ndarray, shape (frame_size // 2 + 1, n_mels), float32
        Multiply a power spectrum (frames, bins) by it.
    """
    n_bins = frame_size // 2 + 1
    mel_edges = np.linspace(_hz_to_htk_mel(f_min), _hz_to_htk_mel(f_max), n_mels + 2)
    edges = _htk_mel_to_hz(mel_edges)
    bin_hz = (sample_rate / 2.0) / (n_bins - 1)
    weights = np.zeros((n_mels, n_bins), dtype=np.float64)
    for band in range(n_mels):
        first, last = int(np.ceil(edges[band] / bin_hz)), min(int(np.floor(edges[band + 2] / bin_hz)), n_bins - 1)
        mel = _hz_to_htk_mel(np.arange(first, last + 1) * bin_hz)
        rising = mel < mel_edges[band + 1]
        weights[band, first:last + 1] = np.maximum(0.0, np.where(
            rising, (mel - mel_edges[band]) / (mel_edges[band + 1] - mel_edges[band]),
            (mel_edges[band + 2] - mel) / (mel_edges[band + 2] - mel_edges[band + 1])))
        if weights[band].sum() <= 0:
            raise ValueError(f"{n_mels} mel bands need more than {n_bins} spectrum bins (band {band} is empty)")
    sums = weights.sum(axis=1, keepdims=True)
    weights = np.divide(weights, sums, out=weights, where=sums > 0)
    return np.ascontiguousarray(weights.T, dtype=np.float32)


@lru_cache(maxsize=4)
def _symmetric_hann(size: int) -> np.ndarray:
    # Essentia's Windowing 'hann': 0.5 - 0.5 cos(2 pi i / (size - 1)), i.e. symmetric
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(size) / (size - 1))).astype(np.float32)


def n_frames(n_samples: int, hop: int = FRAME_HOP) -> int:
    """Frames Essentia's FrameCutter (startFromZero false) cuts from ``n_samples``: centres at
    0, hop, 2 hop, ... up to and including the first centre at or past the end."""
    return -(-int(n_samples) // hop) + 1


def log_mel_spectrogram(audio: np.ndarray) -> np.ndarray:
    """The normalized log-mel spectrogram aiSFX reads.

    Parameters
    ----------
    audio : np.ndarray, shape (n,)
        Mono audio at :data:`AISFX_SAMPLE_RATE`, n >= 1.

    Returns
    -------
    np.ndarray, shape (n_frames(n), N_MELS), float32
        ``log10(1e4 * mel_power + 1) / SPEC_MAX``.
    """
    audio = np.asarray(audio, dtype=np.float32)
    total = n_frames(audio.size)
    left = (FRAME_SIZE + 1) // 2  # FrameCutter: the first frame is centred on sample 0
    padded = np.zeros(FRAME_HOP * (total - 1) + FRAME_SIZE, dtype=np.float32)
    padded[left:left + audio.size] = audio
    frames = np.lib.stride_tricks.sliding_window_view(padded, FRAME_SIZE)[::FRAME_HOP]
    window, bank = _symmetric_hann(FRAME_SIZE), mel_filterbank()
    out = np.empty((total, N_MELS), dtype=np.float32)
    for start in range(0, total, _FFT_CHUNK):
        spectrum = np.fft.rfft(frames[start:start + _FFT_CHUNK] * window, axis=-1)
        power = spectrum.real ** 2 + spectrum.imag ** 2
        out[start:start + _FFT_CHUNK] = power @ bank
    np.log10(LOG_SCALE * out + 1.0, out=out)
    out /= np.float32(SPEC_MAX)
    return out


def n_blocks(frames: int, block: int = BLOCK_FRAMES, hop: int = BLOCK_HOP) -> int:
    """Blocks aisfx cuts from ``frames`` frames: full blocks only, at least one."""
    return (frames - block) // hop + 1 if frames >= block else 1


def spectrogram_blocks(spectrogram: np.ndarray, block: int = BLOCK_FRAMES, hop: int = BLOCK_HOP) -> np.ndarray:
    """Cut a spectrogram into the network's input blocks (aisfx ``blocking``, drop_partial_block).

    Parameters
    ----------
    spectrogram : np.ndarray, shape (frames, bands)
    block, hop : int
        Block length and hop in frames.

    Returns
    -------
    np.ndarray, shape (n_blocks(frames), block, bands), float32
        A spectrogram shorter than one block is zero-padded to one.
    """
    frames, bands = spectrogram.shape
    if frames < block:
        padded = np.zeros((block, bands), dtype=np.float32)
        padded[:frames] = spectrogram
        return padded[None]
    count = n_blocks(frames, block, hop)
    view = np.lib.stride_tricks.sliding_window_view(spectrogram, block, axis=0)[::hop][:count]
    return np.array(view.transpose(0, 2, 1), dtype=np.float32, order="C", copy=True)  # a writable copy
