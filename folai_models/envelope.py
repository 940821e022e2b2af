"""RMS envelope: extraction, smoothing and resampling (spec stage 7).

The envelope is the frame-wise RMS of 16 kHz mono audio with frame 512 and
hop 128, reflect-padded by ``(512 - 128) // 2 = 192`` samples on each side and
framed with ``center=False``: 10 s give exactly 1250 frames at 125 frames/s.
Frame ``i`` covers input samples ``[128 i - 192, 128 i + 320)``, so its centre
is at ``(i + 0.5) * hop_length`` samples, i.e. ``(i + 0.5) / frame_rate`` s;
every function here and in :mod:`folai_models.events` uses that time grid.
"""

from __future__ import annotations

import librosa
import numpy as np
import scipy.ndimage
import scipy.signal

from folai_models.rates import ENVELOPE_SAMPLE_RATE

__all__ = [
    "FRAME_LENGTH",
    "HOP_LENGTH",
    "SMOOTHING_KERNEL_SIZE",
    "ELLIP_ORDER",
    "ELLIP_PASSBAND_RIPPLE_DB",
    "ELLIP_STOPBAND_ATTENUATION_DB",
    "ELLIP_CUTOFF",
    "SMOOTHING_METHODS",
    "rms_envelope",
    "envelope_frame_rate",
    "envelope_frame_times",
    "n_envelope_frames_for_samples",
    "n_envelope_frames_for_seconds",
    "smooth_envelope",
    "interpolate_envelope",
]

FRAME_LENGTH = 512  # FolAI III-B / Video-Foley IV-B1: RMS window 512 (after T-Foley)
HOP_LENGTH = 128  # FolAI III-B / Video-Foley IV-B1: hop 128 -> 1250 frames per 10 s
SMOOTHING_KERNEL_SIZE = 15  # FolAI III-B: "a smoothing filter with a kernel size of 15"
ELLIP_ORDER = 4  # Video-Foley code: scipy.signal.ellip(4, 0.01, 120, 0.125)
ELLIP_PASSBAND_RIPPLE_DB = 0.01  # Video-Foley code: ellip passband ripple (dB)
ELLIP_STOPBAND_ATTENUATION_DB = 120  # Video-Foley code: ellip stopband attenuation (dB)
ELLIP_CUTOFF = 0.125  # Video-Foley code: cutoff / Nyquist (7.8 Hz at 125 frames/s)
SMOOTHING_METHODS = ("kernel", "ellip", "none")


def check_positive(value: float, name: str) -> float:
    """``value`` as a float; ValueError naming ``name`` unless finite and > 0."""
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def check_positive_int(value: int, name: str) -> int:
    """``value`` as an int; ValueError naming ``name`` unless a whole number >= 1."""
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_envelope(envelope, *, allow_nd: bool) -> np.ndarray:
    """Float64 copy of a non-empty, finite, non-negative RMS envelope (frames on the last axis).

    ``allow_nd=False`` requires 1-D ``(n_frames,)``; shared with :mod:`folai_models.events`.
    """
    env = np.asarray(envelope, dtype=np.float64)
    if env.ndim == 0 or (env.ndim > 1 and not allow_nd):
        raise ValueError(f"envelope must be 1-D (n_frames,), got shape {env.shape}")
    if env.shape[-1] == 0:
        raise ValueError("envelope is empty")
    if not np.all(np.isfinite(env)):
        raise ValueError("envelope contains NaN or infinite values")
    if np.any(env < 0):
        raise ValueError("envelope contains negative values; RMS must be >= 0")
    return env


def _padding(frame_length: int, hop_length: int) -> int:
    # (frame_length - hop_length) // 2 each side: 192 for 512 / 128 (Video-Foley IV-B1)
    return (frame_length - hop_length) // 2


def n_envelope_frames_for_samples(
    n_samples: int, hop_length: int = HOP_LENGTH, frame_length: int = FRAME_LENGTH
) -> int:
    """Number of frames :func:`rms_envelope` returns for ``n_samples`` samples.

    ``1 + (n_samples + 2 * pad - frame_length) // hop_length`` with
    ``pad = (frame_length - hop_length) // 2``; 160000 -> 1250.
    Returns 0 when the input is too short for one frame.
    """
    hop_length = check_positive_int(hop_length, "hop_length")
    frame_length = check_positive_int(frame_length, "frame_length")
    if int(n_samples) != n_samples or n_samples < 0:
        raise ValueError(f"n_samples must be a non-negative integer, got {n_samples!r}")
    padded = int(n_samples) + 2 * _padding(frame_length, hop_length)
    if n_samples == 0 or padded < frame_length:
        return 0
    return 1 + (padded - frame_length) // hop_length


def n_envelope_frames_for_seconds(duration_s: float) -> int:
    """Envelope frames covering ``duration_s`` seconds: its 16 kHz samples // hop (1250 for 10 s).

    What every envelope engine's output is fitted to, whatever rate the engine itself predicts at.
    """
    return int(round(duration_s * ENVELOPE_SAMPLE_RATE)) // HOP_LENGTH


def rms_envelope(
    audio, *, frame_length: int = FRAME_LENGTH, hop_length: int = HOP_LENGTH
) -> np.ndarray:
    """Frame-wise RMS envelope of mono audio (FolAI eq. 7, Video-Foley eq. 1).

    The audio is reflect-padded by ``(frame_length - hop_length) // 2`` samples
    on each side, then ``librosa.feature.rms(center=False)`` frames it.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples,)
        Mono floating-point audio, normally in [-1, 1] at 16 kHz. Multi-channel
        input is refused rather than guessed at (``[channels, n]`` and
        ``[n, channels]`` are both common): downmix first, e.g. with
        ``librosa.to_mono``.
    frame_length, hop_length : int
        Window and hop in samples.

    Returns
    -------
    np.ndarray
        Shape ``(n_envelope_frames_for_samples(len(audio)),)``, float32, >= 0.
    """
    frame_length = check_positive_int(frame_length, "frame_length")
    hop_length = check_positive_int(hop_length, "hop_length")
    if hop_length > frame_length:
        raise ValueError("hop_length must not exceed frame_length")
    y = np.asarray(audio)
    if y.ndim != 1:
        raise ValueError(
            f"audio must be mono, 1-D (n_samples,), got shape {y.shape}; "
            "downmix first (e.g. librosa.to_mono)"
        )
    if not np.issubdtype(y.dtype, np.floating):
        raise ValueError(f"audio must be floating point (got {y.dtype}); scale integer PCM to [-1, 1]")
    if y.size == 0:
        raise ValueError("audio is empty")
    if not np.all(np.isfinite(y)):
        raise ValueError("audio contains NaN or infinite values")
    if n_envelope_frames_for_samples(y.size, hop_length, frame_length) == 0 or y.size < 2:
        raise ValueError(
            f"audio is too short ({y.size} samples) for one frame of {frame_length} "
            f"with hop {hop_length}"
        )
    pad = _padding(frame_length, hop_length)
    padded = np.pad(y.astype(np.float32, copy=False), pad, mode="reflect")
    rms = librosa.feature.rms(
        y=padded, frame_length=frame_length, hop_length=hop_length, center=False
    )
    return rms[0].astype(np.float32, copy=False)


def envelope_frame_rate(
    sample_rate: float = ENVELOPE_SAMPLE_RATE, hop_length: int = HOP_LENGTH
) -> float:
    """Envelope frames per second, ``sample_rate / hop_length`` (125.0 by default)."""
    return check_positive(sample_rate, "sample_rate") / check_positive_int(hop_length, "hop_length")


def envelope_frame_times(n_frames: int, frame_rate: float) -> np.ndarray:
    """Centre time of each frame in seconds, ``(i + 0.5) / frame_rate``."""
    if int(n_frames) != n_frames or n_frames < 0:
        raise ValueError(f"n_frames must be a non-negative integer, got {n_frames!r}")
    frame_rate = check_positive(frame_rate, "frame_rate")
    return (np.arange(int(n_frames), dtype=np.float64) + 0.5) / frame_rate


def smooth_envelope(
    envelope,
    method: str = "kernel",
    *,
    kernel_size: int = SMOOTHING_KERNEL_SIZE,
    ellip_order: int = ELLIP_ORDER,
    passband_ripple_db: float = ELLIP_PASSBAND_RIPPLE_DB,
    stopband_attenuation_db: float = ELLIP_STOPBAND_ATTENUATION_DB,
    cutoff: float = ELLIP_CUTOFF,
) -> np.ndarray:
    """Smooth an RMS envelope along its last axis.

    ``"kernel"`` (FolAI): a centred moving average over ``kernel_size`` frames
    (``scipy.ndimage.uniform_filter1d``, edges held). FolAI only says "a
    smoothing filter with a kernel size of 15"; we read it as a box filter
    because it is linear and zero-phase (onsets do not move) and keeps every
    hit, while a median filter of 15 frames (120 ms) would erase impacts
    shorter than 8 frames. The size must be odd to stay centred.

    ``"ellip"`` (Video-Foley code): zero-phase elliptic low-pass,
    ``scipy.signal.ellip(ellip_order, passband_ripple_db,
    stopband_attenuation_db, cutoff)`` applied with
    ``scipy.signal.filtfilt(method="gust")``. Envelopes shorter than the
    filter's default pad length (``3 * max(len(a), len(b))`` = 15 frames for
    order 4) are too short to low-pass at this cutoff; they become their
    mean (the only component below the cutoff that they resolve).

    ``"none"``: a copy.

    Outputs are clipped to >= 0 (the elliptic filter rings below zero).

    Parameters
    ----------
    envelope : np.ndarray, shape (..., n_frames)
        Non-negative RMS envelope(s).
    method : {"kernel", "ellip", "none"}
    kernel_size : int
        Odd box length in frames, for ``"kernel"``.
    ellip_order, passband_ripple_db, stopband_attenuation_db, cutoff
        Elliptic design, ``cutoff`` relative to Nyquist, for ``"ellip"``.

    Returns
    -------
    np.ndarray
        Same shape, float32, >= 0.
    """
    env = check_envelope(envelope, allow_nd=True)
    if method == "none":
        out = env.copy()
    elif method == "kernel":
        kernel_size = check_positive_int(kernel_size, "kernel_size")
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd to stay centred, got {kernel_size}")
        out = scipy.ndimage.uniform_filter1d(env, size=kernel_size, axis=-1, mode="nearest")
    elif method == "ellip":
        if not (0.0 < cutoff < 1.0):
            raise ValueError(f"cutoff is relative to Nyquist and must lie in (0, 1), got {cutoff!r}")
        b, a = scipy.signal.ellip(
            check_positive_int(ellip_order, "ellip_order"),
            check_positive(passband_ripple_db, "passband_ripple_db"),
            check_positive(stopband_attenuation_db, "stopband_attenuation_db"),
            cutoff,
        )
        if env.shape[-1] <= 3 * max(len(a), len(b)):
            out = np.broadcast_to(env.mean(axis=-1, keepdims=True), env.shape).copy()
        else:
            out = scipy.signal.filtfilt(b, a, env, axis=-1, method="gust")
    else:
        raise ValueError(f"method must be one of {SMOOTHING_METHODS}, got {method!r}")
    return np.maximum(out, 0.0).astype(np.float32)


def interpolate_envelope(
    envelope,
    source_rate: float,
    target_rate: float | None = None,
    *,
    n_target: int | None = None,
) -> np.ndarray:
    """Resample an envelope to another frame or sample rate, linearly.

    Both grids are frame-centre grids, ``(i + 0.5) / rate``, over the same
    duration ``n / source_rate``; values between source frame centres are
    interpolated linearly and held flat beyond the first and last centre.
    Examples: 125 -> 44100 Hz for synthesis control (1250 -> 441000 values),
    125 -> 30 fps for plotting over video frames (1250 -> 300).

    Parameters
    ----------
    envelope : np.ndarray, shape (..., n_frames)
        Envelope(s) along the last axis.
    source_rate : float
        Frames per second of ``envelope``.
    target_rate : float, optional
        Target frames (or samples) per second; the output has
        ``round(n_frames * target_rate / source_rate)`` values.
    n_target : int, optional
        Output length; the target rate is ``n_target * source_rate / n_frames``.
        Give exactly one of ``target_rate`` and ``n_target``.

    Returns
    -------
    np.ndarray
        Shape ``(..., n_target)``, float32.
    """
    env = check_envelope(envelope, allow_nd=True)
    source_rate = check_positive(source_rate, "source_rate")
    if (target_rate is None) == (n_target is None):
        raise ValueError("give exactly one of target_rate and n_target")
    n_source = env.shape[-1]
    if target_rate is not None:
        target_rate = check_positive(target_rate, "target_rate")
        n_out = int(round(n_source * target_rate / source_rate))
        if n_out < 1:
            raise ValueError("target_rate is too low: the output would be empty")
    else:
        n_out = check_positive_int(n_target, "n_target")
        target_rate = n_out * source_rate / n_source
    source_times = envelope_frame_times(n_source, source_rate)
    target_times = envelope_frame_times(n_out, target_rate)
    flat = env.reshape(-1, n_source)
    out = np.stack([np.interp(target_times, source_times, row) for row in flat])
    return out.reshape(*env.shape[:-1], n_out).astype(np.float32)
