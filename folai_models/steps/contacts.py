"""Ground contacts of the feet from pose landmark trajectories.

A foot lands where its downward motion stops near its lowest level (image
``y`` grows downwards): the heel stops first, the toe a few frames later.
:func:`contact_novelty` turns BlazePose heel, toe and ankle tracks (and the
hips, whose drop at loading response marks the same instant when the feet
are hidden) into one per-frame "a foot lands here" curve that
:func:`folai_models.steps.gait.place_steps` turns into step times.
Landmarks below MIN_VISIBILITY are treated as missing; gaps up to MAX_GAP_S
are bridged, longer ones (occlusion, the person leaving the frame) give no
contacts. Positions are divided by the body's own leg length, so camera
distance does not matter; only vertical motion is used, so turning and
walking in any direction look alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.ndimage
import scipy.signal

from folai_models.steps.gait import normalised
from folai_models.steps.pose import LANDMARK

__all__ = ["FootTracks", "foot_tracks", "contact_novelty", "heel_toe_delay", "landing_speed"]

MIN_VISIBILITY = 0.5  # BlazePose visibility under which a landmark is guessed, not seen
MAX_GAP_S = 0.3  # occlusions up to ~a swing phase are interpolated; longer ones give nothing
SMOOTH_S = 0.2  # Savitzky-Golay span (quadratic): landmark jitter is frame-to-frame, a step lasts ~0.5 s
LOW_LEVEL_WINDOW_S = 1.0  # a gait cycle: the span over which a foot's lowest level is measured
HIP_WEIGHT = 1.0  # share of the hips' cue beside the feet's (dev: the hips alone scored as well as the feet)
DEFAULT_HEEL_TOE_S = 0.06  # heel strike to foot flat in walking (Perry & Burnfield, Gait Analysis: ~0-12 % of 1 s)
HEEL_TOE_RANGE_S = (0.02, 0.15)  # plausible heel-to-toe delays; outside it, the default
FEET = ("left", "right")


@dataclass(frozen=True)
class FootTracks:
    """Vertical tracks in leg lengths (y down), NaN where unseen; one row per frame."""

    heel: np.ndarray  # (T, 2): left, right
    toe: np.ndarray  # (T, 2)
    ankle: np.ndarray  # (T, 2)
    hip: np.ndarray  # (T,): the hips' centre
    seen: np.ndarray  # (T,) bool: a body was found with its lower body visible


def _track(landmarks: np.ndarray, name: str) -> np.ndarray:
    point = landmarks[:, LANDMARK[name]]
    y = point[:, 1].astype(np.float64).copy()
    y[~(point[:, 3] >= MIN_VISIBILITY)] = np.nan  # NaN visibility (no body) is unseen too
    return y


def foot_tracks(landmarks) -> FootTracks:
    """Heel, toe, ankle and hip heights from BlazePose image landmarks, in leg lengths.

    Parameters
    ----------
    landmarks : np.ndarray, shape (T, 33, 4)
        ``x, y, z, visibility`` per frame and landmark (NaN rows: no body),
        as :func:`folai_models.steps.pose.pose_landmarks` returns.

    Returns
    -------
    FootTracks
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[1:] != (33, 4):
        raise ValueError(f"landmarks must be (T, 33, 4), got {lm.shape}")
    tracks = {part: np.stack([_track(lm, f"{side}_{part}") for side in FEET], axis=1)
              for part in ("heel", "toe", "ankle", "hip")}
    leg = np.abs(tracks["ankle"] - tracks["hip"])  # vertical hip-to-ankle span: the body's own scale
    scale = float(np.nanmedian(leg)) if np.isfinite(leg).any() else np.nan
    if not np.isfinite(scale) or scale <= 1e-3:
        scale = 1.0
    n_hips = np.isfinite(tracks["hip"]).sum(axis=1)
    hip = np.where(n_hips > 0, np.nansum(tracks["hip"], axis=1) / np.maximum(n_hips, 1), np.nan)
    seen = np.isfinite(tracks["ankle"]).any(axis=1) | np.isfinite(tracks["heel"]).any(axis=1)
    return FootTracks(heel=tracks["heel"] / scale, toe=tracks["toe"] / scale, ankle=tracks["ankle"] / scale,
                      hip=hip / scale, seen=seen)


def _bridge(y: np.ndarray, max_gap: int) -> np.ndarray:
    """Linear interpolation over NaN runs up to ``max_gap`` frames; longer runs stay NaN."""
    y = y.copy()
    ok = np.isfinite(y)
    if ok.sum() < 2:
        return np.full_like(y, np.nan)
    idx = np.arange(len(y))
    filled = np.interp(idx, idx[ok], y[ok])
    run_start = None
    for i in range(len(y) + 1):
        missing = i < len(y) and not ok[i]
        if missing and run_start is None:
            run_start = i
        elif not missing and run_start is not None:
            inner = run_start > 0 and i < len(y)  # edges are never bridged
            if inner and i - run_start <= max_gap:
                y[run_start:i] = filled[run_start:i]
            run_start = None
    return y


def _smooth(y: np.ndarray, frame_rate: float) -> np.ndarray:
    n = int(round(SMOOTH_S * frame_rate)) | 1
    out = np.full_like(y, np.nan)
    ok = np.isfinite(y)
    if n < 5:
        return y
    # smooth each finite run on its own
    edges = np.flatnonzero(np.diff(np.concatenate([[0], ok.astype(int), [0]])))
    for start, stop in zip(edges[::2], edges[1::2]):
        if stop - start >= n:
            out[start:stop] = scipy.signal.savgol_filter(y[start:stop], n, 2)
        else:
            out[start:stop] = y[start:stop]
    return out


def _landing_cue(y: np.ndarray, frame_rate: float) -> np.ndarray:
    """Per frame: how much downward speed stops there, weighted by nearness to the lowest level."""
    y = _smooth(_bridge(y, int(round(MAX_GAP_S * frame_rate))), frame_rate)
    down = np.maximum(np.gradient(y) * frame_rate, 0.0) if len(y) > 1 else np.zeros_like(y)  # leg lengths/s
    stop = np.maximum(down - np.concatenate([down[1:], down[-1:]]), 0.0)
    window = max(3, int(round(LOW_LEVEL_WINDOW_S * frame_rate)))
    lowest = scipy.ndimage.maximum_filter1d(np.where(np.isfinite(y), y, -np.inf), window)
    highest = scipy.ndimage.minimum_filter1d(np.where(np.isfinite(y), y, np.inf), window)
    span = np.maximum(lowest - highest, 1e-6)
    nearness = np.clip(1.0 - (lowest - y) / span, 0.0, 1.0)  # 1 at the lowest level of the gait cycle
    return np.nan_to_num(stop * nearness, nan=0.0, posinf=0.0, neginf=0.0)


def contact_novelty(tracks: FootTracks, frame_rate: float) -> np.ndarray:
    """Per-frame evidence that a foot lands (>= 0; about 1 at a clear contact).

    The heels' and ankles' landing cues (downward speed stopping near the
    foot's lowest level over a gait cycle) of both feet, plus the hips' with
    HIP_WEIGHT, each scaled by its own 95th percentile.

    Parameters
    ----------
    tracks : FootTracks
    frame_rate : float
        Frames per second.

    Returns
    -------
    np.ndarray, shape (T,), float64
    """
    feet = sum(_landing_cue(getattr(tracks, part)[:, side], frame_rate)
               for part in ("heel", "ankle") for side in range(2))
    novelty = normalised(np.asarray(feet, dtype=np.float64))
    if HIP_WEIGHT:
        novelty = novelty + HIP_WEIGHT * normalised(_landing_cue(tracks.hip, frame_rate))
    return novelty


def heel_toe_delay(tracks: FootTracks, frame_rate: float) -> float:
    """Median delay (s) from a heel's landing to its toe's, within HEEL_TOE_RANGE_S, else the default.

    For each heel landing (a local maximum of its cue), the toe's landing
    is the toe cue's maximum in the following HEEL_TOE_RANGE_S.
    """
    delays = []
    lo, hi = (int(round(s * frame_rate)) for s in HEEL_TOE_RANGE_S)
    for side in range(2):
        heel = _landing_cue(tracks.heel[:, side], frame_rate)
        toe = _landing_cue(tracks.toe[:, side], frame_rate)
        if heel.max() <= 0 or toe.max() <= 0:
            continue
        peaks, _ = scipy.signal.find_peaks(heel, height=0.3 * heel.max())
        for p in peaks:
            part = toe[p + lo: p + hi + 1]
            if part.size and part.max() > 0.3 * toe.max():
                delays.append((lo + int(np.argmax(part))) / frame_rate)
    return float(np.median(delays)) if len(delays) >= 2 else DEFAULT_HEEL_TOE_S


def landing_speed(tracks: FootTracks, frame_rate: float, frames: np.ndarray) -> np.ndarray:
    """Fastest downward heel or ankle speed (leg lengths/s) in the ~0.1 s before each frame, 0 if unseen."""
    speeds = []
    look = max(1, int(round(0.1 * frame_rate)))  # the last tenth of a second of the swing
    for part in ("heel", "ankle"):
        for side in range(2):
            y = _smooth(_bridge(getattr(tracks, part)[:, side], int(round(MAX_GAP_S * frame_rate))), frame_rate)
            speeds.append(np.maximum(np.nan_to_num(np.gradient(y) * frame_rate if len(y) > 1 else y), 0.0))
    speed = np.max(speeds, axis=0)
    return np.array([speed[max(0, f - look): f + 1].max() if len(speed) else 0.0 for f in np.asarray(frames, int)])
