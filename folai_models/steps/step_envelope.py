"""Steps as events, and the RMS envelope they make (heel strike, then the toe).

Each step is one event: a heel attack with a fast-then-slow decay, held up
at TOE_SHARE of its peak until the toe (foot flat) lands ``heel_toe_s``
later, then decaying; never a second rise, so one step is one onset. On the envelope grid
of :mod:`folai_models.envelope` (frame ``i`` centred at ``(i + 0.5) / rate``).
Loudness follows intensity (landing speed relative to the clip's own).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["StepEvent", "step_events", "steps_envelope"]

STEP_RMS_REF = 0.06  # RMS of a step at the clip's median intensity (dev step onsets: median peak ~0.05-0.07)
STEP_RMS_MIN = 0.02  # quietest step peak (kept above the 0.01 silence class)
STEP_RMS_MAX = 0.25  # loudest step peak
TOE_SHARE = 0.3  # level the toe (foot flat) holds relative to the heel's peak: the roll onto the sole
DECAY_FAST_S = 0.03  # heel transient half-life scale (as the preview's impacts)
DECAY_SLOW_S = 0.12  # scuff and surface tail
SLOW_SHARE = 0.2  # share of the peak that decays slowly
NOISE_FLOOR_RMS = 0.002  # as the preview estimator's floor


@dataclass(frozen=True)
class StepEvent:
    """One step: heel strike time (s), intensity (1 = the clip's median), heel-to-toe delay (s), confidence."""

    time_s: float
    intensity: float
    heel_toe_s: float
    confidence: float


def step_events(frames: np.ndarray, frame_rate: float, *, speed: np.ndarray | None, heel_toe_s: float,
                confidence: float) -> list[StepEvent]:
    """Steps at ``frames`` with intensity from landing ``speed`` (relative to its median; 1 without it)."""
    frames = np.asarray(frames, dtype=np.int64)
    if speed is None or len(speed) != len(frames) or not np.any(np.asarray(speed) > 0):
        intensity = np.ones(len(frames))
    else:
        speed = np.asarray(speed, dtype=np.float64)
        intensity = np.clip(speed / max(float(np.median(speed[speed > 0])), 1e-9), 0.3, 3.0)
    return [StepEvent(float(f / frame_rate), float(i), float(heel_toe_s), float(confidence))
            for f, i in zip(frames, intensity)]


def steps_envelope(events: list[StepEvent], n_frames: int, envelope_rate: float,
                   noise_floor: float = NOISE_FLOOR_RMS) -> np.ndarray:
    """RMS envelope of step events.

    Parameters
    ----------
    events : list of StepEvent
    n_frames : int
        Envelope length.
    envelope_rate : float
        Envelope frames per second.
    noise_floor : float
        Level between steps.

    Returns
    -------
    np.ndarray, shape (n_frames,), float32, in [0, 1]
    """
    t = (np.arange(n_frames) + 0.5) / envelope_rate
    level = np.zeros(n_frames)
    for event in events:
        peak = float(np.clip(STEP_RMS_REF * event.intensity, STEP_RMS_MIN, STEP_RMS_MAX))
        first = max(0, int(np.ceil(event.time_s * envelope_rate - 0.5)))  # no pre-echo before the strike
        if first >= n_frames:
            continue
        dt = np.maximum(t[first:] - event.time_s, 0.0)
        heel = (1 - SLOW_SHARE) * np.exp(-dt / DECAY_FAST_S) + SLOW_SHARE * np.exp(-dt / DECAY_SLOW_S)
        # the toe holds the level up until it lands, then decays: one event (one onset), a heel-toe shape
        toe = TOE_SHARE * np.exp(-np.maximum(dt - event.heel_toe_s, 0.0) / DECAY_SLOW_S)
        level[first:] = np.maximum(level[first:], peak * np.maximum(heel, toe))
    return np.clip(np.sqrt(level**2 + noise_floor**2), 0.0, 1.0).astype(np.float32)
