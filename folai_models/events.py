"""Sound events from an RMS envelope: onsets and segments.

Works on an RMS envelope (values in [0, 1]) sampled at ``frame_rate`` frames
per second, frame ``i`` centred at ``(i + 0.5) / frame_rate`` seconds (the grid
of :mod:`folai_models.envelope`).

Onsets feed the evaluation (onset precision / recall / F1, Video-Foley IV-D);
events feed the Audacity label track and the grain synthesizer.
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np

from folai_models.envelope import check_envelope, check_positive
from folai_models.quantize import MU, RMS_MIN

__all__ = [
    "ONSET_NMS_WINDOW_S",
    "ONSET_DELTA",
    "ONSET_AVERAGE_WINDOW_S",
    "ONSET_MU",
    "SILENCE_RMS",
    "EVENT_RELEASE_RATIO",
    "EVENT_MIN_GAP_S",
    "EnvelopeEvent",
    "onset_strength",
    "detect_onsets",
    "envelope_events",
]

ONSET_NMS_WINDOW_S = 0.05  # Video-Foley IV-D: non-maximum suppression window of 50 ms
SILENCE_RMS = RMS_MIN  # spec stage 7: class 0 (silence) is RMS below 0.01
ONSET_MU = MU  # ours: compress like the class grid (Video-Foley eq. 2, mu = 63)
ONSET_DELTA = 0.02  # ours: min per-frame rise in mu-law units above the local mean
ONSET_AVERAGE_WINDOW_S = 0.1  # ours: local-mean span, librosa.onset.onset_detect's default
EVENT_RELEASE_RATIO = 0.1  # ours: an event ends 20 dB below its peak (or below silence)
EVENT_MIN_GAP_S = 0.05  # ours: silent dips shorter than the 50 ms NMS window are bridged


@dataclass(frozen=True)
class EnvelopeEvent:
    """One sound event of an envelope; times in seconds on the frame-centre grid."""

    start_s: float
    end_s: float
    peak_s: float
    peak_rms: float


def _check_envelope(envelope, frame_rate: float) -> np.ndarray:
    """Validated 1-D float64 envelope (the envelope stage's checks) and a positive frame rate."""
    env = check_envelope(envelope, allow_nd=False)
    check_positive(frame_rate, "frame_rate")
    return env


def _frames(seconds: float, frame_rate: float) -> int:
    return int(round(seconds * frame_rate))


def onset_strength(envelope, *, mu: float = ONSET_MU) -> np.ndarray:
    """Positive first difference of the mu-law-compressed envelope.

    Compression makes a rise from silence to a quiet hit as visible as a loud
    one. ``strength[i] = max(0, f(env[i]) - f(env[i - 1]))`` with
    ``strength[0] = 0``: nothing is known before the first frame, so a clip that
    starts loud has no onset at 0 (:func:`envelope_events` still starts an
    event there). Values above 1 are clipped to 1 before compression.

    Parameters
    ----------
    envelope : np.ndarray, shape (n_frames,)
        Non-negative RMS envelope.
    mu : float
        Mu-law parameter.

    Returns
    -------
    np.ndarray
        Shape ``(n_frames,)``, float64, >= 0.
    """
    env = _check_envelope(envelope, 1.0)
    compressed = librosa.mu_compress(np.minimum(env, 1.0), mu=mu, quantize=False)
    return np.maximum(np.diff(compressed, prepend=compressed[0]), 0.0)


def _onset_frames(
    env: np.ndarray,
    frame_rate: float,
    *,
    wait_s: float,
    delta: float,
    silence_rms: float,
    average_window_s: float,
    mu: float,
) -> np.ndarray:
    if env.size < 2:
        return np.zeros(0, dtype=np.int64)
    if wait_s < 0 or average_window_s < 0 or delta < 0 or silence_rms < 0:
        raise ValueError("wait_s, average_window_s, delta and silence_rms must be >= 0")
    strength = onset_strength(env, mu=mu)
    half_window = max(1, _frames(wait_s / 2.0, frame_rate))  # NMS over +-25 ms
    average = max(1, _frames(average_window_s, frame_rate))
    peaks = librosa.util.peak_pick(
        strength,
        pre_max=half_window,
        post_max=half_window + 1,
        pre_avg=average,
        post_avg=average + 1,
        delta=delta,
        wait=max(0, _frames(wait_s, frame_rate)),
    )
    peaks = np.asarray(peaks, dtype=np.int64)
    # strength 0 is never a rise (peak_pick's ">= mean + delta" holds at delta 0)
    peaks = peaks[strength[peaks] > 0]
    if peaks.size == 0:
        return peaks
    # Silence gate: the peak the rise leads to (end of the run of rising
    # frames) must reach silence_rms; small ripples in silence, such as an
    # elliptic filter's pre-ringing, are dropped.
    falling = np.flatnonzero(strength <= 0)
    keep = []
    for start in peaks:
        after = falling[np.searchsorted(falling, start, side="right") :]
        stop = int(after[0]) if after.size else env.size
        keep.append(env[start:stop].max() >= silence_rms)
    return peaks[np.asarray(keep, dtype=bool)]


def detect_onsets(
    envelope,
    frame_rate: float,
    *,
    wait_s: float = ONSET_NMS_WINDOW_S,
    delta: float = ONSET_DELTA,
    silence_rms: float = SILENCE_RMS,
    average_window_s: float = ONSET_AVERAGE_WINDOW_S,
    mu: float = ONSET_MU,
) -> np.ndarray:
    """Onset times (seconds) of an RMS envelope.

    Onset strength is :func:`onset_strength` (positive first difference of the
    mu-law-compressed envelope); onsets are its peaks found by
    ``librosa.util.peak_pick`` with non-maximum suppression over ``wait_s``
    (50 ms, Video-Foley IV-D), at least ``wait_s`` apart, and at least ``delta``
    above the local mean over ``average_window_s`` on each side. An onset whose
    rise (up to the next local maximum) stays below ``silence_rms`` is dropped.

    The time reported is the rising frame (the frame of steepest rise, on the
    grid ``(i + 0.5) / frame_rate``), not the peak of the event. On raw RMS
    (frame 512 at 16 kHz) that is up to half a window (16 ms) before the
    sound; smoothing spreads rises earlier, by up to half the kernel (about
    60 ms for the 15-frame kernel), so compare onsets of envelopes smoothed
    the same way (metrics use unsmoothed RMS). On "ellip"-smoothed envelopes
    the filter's pre-ringing before a loud hit can add an early onset.

    Parameters
    ----------
    envelope : np.ndarray, shape (n_frames,)
        Non-negative RMS envelope (values in [0, 1]).
    frame_rate : float
        Envelope frames per second (125 for hop 128 at 16 kHz).
    wait_s : float
        Non-maximum suppression window and minimum spacing of onsets.
    delta : float
        Threshold on the per-frame rise in mu-law units (0..1) above the local
        mean. 0.02 is tuned for raw RMS, where a rise from silence to 0.01
        takes a frame or two (a per-frame rise of about 0.1). Kernel-smoothed
        envelopes spread a rise over 15 frames: a step to below ~0.05 RMS then
        needs ``delta=0.005``. Raise it for noisy envelopes.
    silence_rms : float
        Events that never reach this RMS are silence (class 0).
    average_window_s : float
        Span of the local mean on each side of a candidate.
    mu : float
        Mu-law parameter of the compression.

    Returns
    -------
    np.ndarray
        Onset times in seconds, increasing, float64. Empty for silence or a
        constant envelope.
    """
    env = _check_envelope(envelope, frame_rate)
    frames = _onset_frames(
        env,
        frame_rate,
        wait_s=wait_s,
        delta=delta,
        silence_rms=silence_rms,
        average_window_s=average_window_s,
        mu=mu,
    )
    return (frames + 0.5) / float(frame_rate)


def _active_regions(active: np.ndarray, min_gap: int) -> list[tuple[int, int]]:
    """Runs of True as [start, stop) frame pairs, bridging gaps shorter than min_gap."""
    padded = np.concatenate([[False], active, [False]])
    changes = np.flatnonzero(padded[1:] != padded[:-1])
    regions: list[tuple[int, int]] = []
    for start, stop in zip(changes[::2], changes[1::2]):
        if regions and start - regions[-1][1] < min_gap:
            regions[-1] = (regions[-1][0], int(stop))
        else:
            regions.append((int(start), int(stop)))
    return regions


def envelope_events(
    envelope,
    frame_rate: float,
    *,
    silence_rms: float = SILENCE_RMS,
    min_gap_s: float = EVENT_MIN_GAP_S,
    release_ratio: float = EVENT_RELEASE_RATIO,
    onsets=None,
    wait_s: float = ONSET_NMS_WINDOW_S,
    delta: float = ONSET_DELTA,
) -> list[EnvelopeEvent]:
    """Segment an RMS envelope into sound events.

    The envelope is active where it is ``>= silence_rms``; active runs closer
    than ``min_gap_s`` are merged. Each active region is split at the onsets
    inside it (:func:`detect_onsets`, or ``onsets`` if given, e.g. edited by a
    user); an onset's rising frame may sit just before its region (still below
    ``silence_rms``) and then starts the event. Each event lasts from its start
    until the envelope falls below ``max(silence_rms, release_ratio * peak)``
    after its peak (for longer than ``min_gap_s``), or until the next onset /
    the region's end.

    A sound that is already on at frame 0, or that fades in without an onset,
    still gives an event, starting where it crosses ``silence_rms``.

    Times use the frame-centre grid: ``start_s = (a + 0.5) / frame_rate`` for
    the first frame ``a`` (equal to the onset time when an onset starts it),
    ``end_s = (b + 0.5) / frame_rate`` for the first frame ``b`` after it
    (clipped to the envelope's duration), so back-to-back events share a
    boundary.

    Parameters
    ----------
    envelope : np.ndarray, shape (n_frames,)
        Non-negative RMS envelope.
    frame_rate : float
        Envelope frames per second.
    silence_rms : float
        Below this RMS the envelope is silent.
    min_gap_s : float
        Dips shorter than this (below silence, or below the release level) do
        not end a region or an event.
    release_ratio : float
        Fraction of the event's peak RMS under which the event is over.
    onsets : array_like, optional
        Onset times in seconds; detected with ``wait_s`` and ``delta`` if None.
    wait_s, delta : float
        Passed to :func:`detect_onsets` when ``onsets`` is None.

    Returns
    -------
    list of EnvelopeEvent
        In time order, non-overlapping.
    """
    env = _check_envelope(envelope, frame_rate)
    if min_gap_s < 0 or not (0.0 <= release_ratio < 1.0):
        raise ValueError("min_gap_s must be >= 0 and release_ratio in [0, 1)")
    n = env.size
    if onsets is None:
        onset_frames = _onset_frames(
            env,
            frame_rate,
            wait_s=wait_s,
            delta=delta,
            silence_rms=silence_rms,
            average_window_s=ONSET_AVERAGE_WINDOW_S,
            mu=ONSET_MU,
        )
    else:
        times = np.asarray(onsets, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(times)):
            raise ValueError("onsets contain NaN or infinite values")
        onset_frames = np.unique(np.clip(np.round(times * frame_rate - 0.5), 0, n - 1).astype(np.int64))

    min_gap = max(0, _frames(min_gap_s, frame_rate))
    regions = _active_regions(env >= silence_rms, min_gap)
    lead = max(1, _frames(wait_s, frame_rate))  # how early a rising frame may sit
    duration = n / float(frame_rate)
    events: list[EnvelopeEvent] = []
    previous_stop = 0
    for start, stop in regions:
        inside = onset_frames[(onset_frames >= max(previous_stop, start - lead)) & (onset_frames < stop)]
        if inside.size and inside[0] < start:
            start = int(inside[0])
        cuts = [start, *[int(f) for f in inside if f > start], stop]
        for a, b in zip(cuts[:-1], cuts[1:]):
            peak = a + int(np.argmax(env[a:b]))
            peak_rms = float(env[peak])
            if peak_rms < silence_rms:
                continue  # an onset inside a bridged gap; nothing audible follows
            release = max(silence_rms, release_ratio * peak_rms)
            # the first region above release that holds the peak, dips bridged
            end = peak + _active_regions(env[peak:b] >= release, min_gap)[0][1]
            events.append(
                EnvelopeEvent(
                    start_s=(a + 0.5) / frame_rate,
                    end_s=min((end + 0.5) / frame_rate, duration),
                    peak_s=(peak + 0.5) / frame_rate,
                    peak_rms=peak_rms,
                )
            )
        previous_stop = stop
    return events
