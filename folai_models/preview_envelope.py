"""Preview envelope: a weight-free RMS envelope estimated from visible motion.

What users without pretrained weights get. Dense optical flow (OpenCV DIS) on
the grey analysis frames (30 fps, longer side 256 px) gives a few numbers per
frame (:class:`MotionFeatureExtractor`): global motion statistics and the
motion-weighted mean velocity of each cell of a coarse grid.
:func:`envelope_from_motion` turns them into an RMS-like envelope at 125
frames/s (the grid of :mod:`folai_models.envelope`): a visible impact (something
moving down that stops or bounces: a stick on a surface, a foot on the floor)
becomes a sharp attack with a fast-then-slow release, sustained motion
(scratching, rubbing) a low sustained level, a still scene near-silence.

The impact cue is the drop of downward speed from one frame to the next in
any grid cell, picked as peaks above a threshold relative to the clip's own
motion (so camera distance matters little). Tuned on the Greatest Hits
development recordings (``benchmarks/preview_envelope_dev.py``); pure
numpy/OpenCV, CPU only, no file I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from folai_models.rates import ENVELOPE_FRAME_RATE

__all__ = [
    "FEATURE_NAMES",
    "GLOBAL_FEATURES",
    "MotionFeatureExtractor",
    "envelope_from_motion",
    "estimate_envelope",
    "impact_strength",
    "pick_impacts",
]

# --- feature extraction -------------------------------------------------------
FLOW_PRESET = cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST  # ~2000 flows/s at 256x144 on 1 core; finer presets gained no F1 on dev
DUPLICATE_DIFF = 0.5  # mean |frame difference| (grey levels) under which a frame repeats the previous one
TOP_FRACTION = 0.01  # share of pixels averaged for "flow_top" (a drumstick covers ~1% of the frame)
GRID_ROWS = 4  # rows of the cell grid for local velocities (4x4 beat 2x2 and 8x8 on dev onset F1)
GRID_COLS = 4  # columns of the cell grid
MEDIAN_STRIDE = 4  # subsampling of the flow field for the camera-motion median (16x cheaper, same value)
WEIGHT_EPS = 1e-3  # px/frame added to a cell's motion weight so a still cell has velocity ~0

GLOBAL_FEATURES = (
    "frame_diff",  # mean |I_t - I_(t-1)| / 255, per frame
    "flow_mean",  # mean flow magnitude, camera motion removed (px/frame)
    "flow_top",  # mean magnitude of the fastest TOP_FRACTION of pixels (px/frame)
    "new_frame",  # 1 when the frame differs from the previous one, 0 for a repeat (and for frame 0)
)
N_CELLS = GRID_ROWS * GRID_COLS
# per cell (row-major): motion-weighted mean velocity vx, vy (px/frame, y down) and mean speed
FEATURE_NAMES = GLOBAL_FEATURES + tuple(
    f"cell{r}{c}_{q}" for r in range(GRID_ROWS) for c in range(GRID_COLS) for q in ("vx", "vy", "speed")
)
N_FEATURES = len(FEATURE_NAMES)
COL = {name: i for i, name in enumerate(FEATURE_NAMES)}
CELL0 = len(GLOBAL_FEATURES)  # first per-cell column


class MotionFeatureExtractor:
    """Per-frame motion features from streamed grey frames.

    Feed consecutive windows of frames with :meth:`update`; the last frame is
    carried across calls, so how the video is cut into windows changes
    nothing. :meth:`features` returns one row per frame fed so far.

    Row ``t`` describes the motion from frame ``t - 1`` to frame ``t``
    (columns :data:`FEATURE_NAMES`); row 0 is all zeros. The background's
    motion (the median flow) is removed first, so a panning or shaking camera
    does not read as motion. A frame that repeats the previous one (frame-rate
    up-conversion duplicates, e.g. 25 -> 30 fps) copies the previous row's
    velocities with ``frame_diff = 0`` and ``new_frame = 0``; the next new
    frame measures the flow over the whole gap, per frame.

    Parameters
    ----------
    flow_preset : int
        OpenCV DIS optical-flow preset.
    """

    def __init__(self, *, flow_preset: int = FLOW_PRESET) -> None:
        self._flow = cv2.DISOpticalFlow_create(flow_preset)
        self._last: np.ndarray | None = None  # last new frame
        self._gap = 0  # frames since the last new frame
        self._rows: list[np.ndarray] = []

    def update(self, frames: np.ndarray) -> None:
        """Add consecutive frames.

        Parameters
        ----------
        frames : np.ndarray, shape (n, H, W), uint8
            Grey frames, in order, following those already fed. A single
            ``(H, W)`` frame is accepted too.
        """
        frames = np.asarray(frames)
        if frames.ndim == 2:
            frames = frames[None]
        if frames.ndim != 3:
            raise ValueError(f"frames must be [n, H, W] grey, got shape {frames.shape}")
        if frames.dtype != np.uint8:
            frames = np.clip(frames, 0, 255).astype(np.uint8)
        for frame in frames:
            self._rows.append(self._step(np.ascontiguousarray(frame)))

    def _step(self, frame: np.ndarray) -> np.ndarray:
        row = np.zeros(N_FEATURES, dtype=np.float32)
        if self._last is None:
            if min(frame.shape) < 2:
                raise ValueError(f"frames must be at least 2x2 pixels, got {frame.shape}")
            self._last, self._gap = frame, 0
            return row
        if frame.shape != self._last.shape:
            raise ValueError(f"frame size changed from {self._last.shape} to {frame.shape}")
        self._gap += 1
        diff = float(cv2.absdiff(frame, self._last).mean())
        if diff < DUPLICATE_DIFF:
            row[:] = self._rows[-1]  # a repeat: motion goes on as before, nothing new measured
            row[COL["frame_diff"]] = row[COL["new_frame"]] = 0.0
            return row
        flow = self._flow.calc(self._last, frame, None) / float(self._gap)
        flow -= np.median(flow[::MEDIAN_STRIDE, ::MEDIAN_STRIDE].reshape(-1, 2), axis=0)
        mag = cv2.magnitude(flow[..., 0], flow[..., 1])
        flat = mag.ravel()
        k = max(1, int(round(flat.size * TOP_FRACTION)))
        row[COL["frame_diff"]] = diff / (255.0 * self._gap)
        row[COL["flow_mean"]] = flat.mean()
        row[COL["flow_top"]] = np.partition(flat, flat.size - k)[flat.size - k :].mean()
        row[COL["new_frame"]] = 1.0
        # motion-weighted cell means: sum(v |v|) / sum(|v|) favours the moving pixels of a cell
        stacked = np.dstack([flow[..., 0] * mag, flow[..., 1] * mag, mag])
        cells = cv2.resize(stacked, (GRID_COLS, GRID_ROWS), interpolation=cv2.INTER_AREA)
        weight = cells[..., 2]
        cell_rows = np.stack(
            [cells[..., 0] / (weight + WEIGHT_EPS), cells[..., 1] / (weight + WEIGHT_EPS), weight], axis=-1
        )
        row[CELL0:] = cell_rows.reshape(-1)
        self._last, self._gap = frame, 0
        return row

    def features(self) -> np.ndarray:
        """Features of all frames fed so far.

        Returns
        -------
        np.ndarray, shape (T, len(FEATURE_NAMES)), float32
            One row per frame, row 0 for the first frame.
        """
        if not self._rows:
            return np.zeros((0, N_FEATURES), dtype=np.float32)
        return np.stack(self._rows).astype(np.float32, copy=False)


# --- envelope -----------------------------------------------------------------
NEIGHBOUR_COLS = (0,)  # column offsets of the cells below that continued motion may enter (dev F1: (0,) 0.547, (-1,0,1) 0.540, none 0.550 but fires on cell crossings)
IMPACT_REF_PERCENTILE = 95.0  # the clip's "strong motion" level that thresholds are relative to
IMPACT_REL_THRESHOLD = 0.25  # an impact's speed drop must reach this share of that level (dev sweep: 0.15-0.35 flat)
IMPACT_ABS_THRESHOLD = 0.3  # ... and this many px/frame at 256 px (dev: 0.5 missed keys, billiard balls, a knife)
IMPACT_MIN_STOP_SHARE = 0.3  # a stop loses at least this share of its downward speed (a cell crossing mid-fall loses less)
IMPACT_MIN_GAP_S = 0.13  # non-maximum suppression: impacts at least 4 frames at 30 fps apart (dev best)
IMPACT_OFFSET_S = 0.0  # impact time correction; dev median signed onset error +6 ms (< 1 envelope frame; -15..+10 ms shifts gained nothing)
IMPACT_RMS_REF = 0.065  # RMS of an impact at the reference drop (median GT onset peak on dev: 0.065)
IMPACT_RMS_GAMMA = 1.0  # peak RMS grows as (drop / reference)^gamma (dev: 1.0 beat 0.5 and 0 on correlation)
IMPACT_RMS_MIN = 0.02  # quietest impact peak (dev GT onset peaks: 10th percentile 0.017)
IMPACT_RMS_MAX = 0.3  # loudest impact peak (dev GT onset peaks: 90th percentile 0.2, max ~0.5)
RELEASE_FAST_S = 0.03  # fast part of the release (dev GT: half the peak after ~16 ms; a bit wider absorbs 1-frame timing jitter, +0.013 correlation)
RELEASE_SLOW_S = 0.15  # slow tail of the release (dev: 10% of the peak after ~100 ms)
RELEASE_SLOW_SHARE = 0.25  # share of the peak that decays slowly
SUSTAIN_SMOOTH_S = 0.3  # moving-average span of the sustained level (slow enough to make no onsets)
SUSTAIN_MOTION_FLOOR = 0.3  # mean flow (px/frame) below which motion makes no sustained sound
SUSTAIN_RMS_PER_PX = 0.01  # sustained RMS per px/frame of mean flow above the floor
SUSTAIN_RMS_MAX = 0.03  # cap of the sustained level (dev scratching sits ~0.01-0.05)
NOISE_FLOOR_RMS = 0.002  # background level everywhere (dev GT: median quiet-frame RMS ~0.002-0.005)


def _check_features(features) -> np.ndarray:
    feats = np.asarray(features, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[1] != N_FEATURES:
        raise ValueError(f"features must be [T, {N_FEATURES}] (MotionFeatureExtractor), got {feats.shape}")
    if not np.all(np.isfinite(feats)):
        raise ValueError("features contain NaN or infinite values")
    return feats


def impact_strength(features, *, min_stop_share: float = IMPACT_MIN_STOP_SHARE) -> np.ndarray:
    """Impact cue per frame: the largest drop of downward speed in any cell.

    ``strength[t] = max over cells of max(0, down[t] - down[t + 1])`` with
    ``down = max(vy, 0)`` the cell's downward velocity into frame ``t``: a
    stroke coming down and stopping or bouncing at frame ``t`` (px/frame).
    ``down[t + 1]`` is the largest of the cell and of its neighbours below
    (NEIGHBOUR_COLS), so motion that merely crosses into the next cell row
    is not a stop. A drop smaller than ``min_stop_share`` of the cell's
    downward speed is a slowing, not a stop, and counts as 0.

    Parameters
    ----------
    features : np.ndarray, shape (T, len(FEATURE_NAMES))
        From :meth:`MotionFeatureExtractor.features`.
    min_stop_share : float
        Share of its downward speed a drop must lose to count (0: every drop counts).

    Returns
    -------
    np.ndarray, shape (T,), float64, >= 0
    """
    feats = _check_features(features)
    if len(feats) == 0:
        return np.zeros(0)
    cells = feats[:, CELL0:].reshape(len(feats), GRID_ROWS, GRID_COLS, 3)
    down = np.maximum(cells[..., 1], 0.0)
    nxt = np.concatenate([down[1:], down[-1:]], axis=0)
    # where the motion may have gone: the cell itself and its neighbours below
    # (a falling object crossing into the next cell row is not a stop)
    padded = np.pad(nxt, ((0, 0), (0, 1), (1, 1)))
    onward = nxt.copy()
    for dc in NEIGHBOUR_COLS:
        onward = np.maximum(onward, padded[:, 1:, 1 + dc : 1 + dc + GRID_COLS])
    drop = np.maximum(down - onward, 0.0)
    if min_stop_share > 0:
        drop = np.where(drop >= min_stop_share * down, drop, 0.0)
    return drop.max(axis=(1, 2))


def pick_impacts(strength, *, frame_rate: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """Impact frames and their strength relative to the clip's motion level.

    Peaks of ``strength`` above ``max(IMPACT_REL_THRESHOLD * reference,
    IMPACT_ABS_THRESHOLD)`` (reference: its IMPACT_REF_PERCENTILE), greedily
    strongest first, at least IMPACT_MIN_GAP_S apart.

    Returns
    -------
    frames : np.ndarray of int
        Frame indices, increasing.
    relative : np.ndarray of float
        ``strength / reference`` at those frames.
    """
    s = np.asarray(strength, dtype=np.float64)
    if s.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    reference = max(float(np.percentile(s, IMPACT_REF_PERCENTILE)), 1e-9)
    threshold = max(IMPACT_REL_THRESHOLD * reference, IMPACT_ABS_THRESHOLD)
    gap = max(1, int(round(IMPACT_MIN_GAP_S * frame_rate)))
    candidates = np.flatnonzero(s >= threshold)
    taken = np.zeros(s.size, dtype=bool)  # frames within `gap` of a chosen impact
    chosen = []
    for i in candidates[np.argsort(-s[candidates], kind="stable")]:
        if taken[i]:
            continue
        chosen.append(i)
        taken[max(0, i - gap) : i + gap + 1] = True
    frames = np.sort(np.asarray(chosen, dtype=np.int64))
    return frames, s[frames] / reference


def _moving_average(x: np.ndarray, n: int) -> np.ndarray:
    if n <= 1 or x.size == 0:
        return x
    kernel = np.ones(n) / n
    padded = np.pad(x, (n // 2, n - 1 - n // 2), mode="edge")
    return np.convolve(padded, kernel, mode="valid")


def envelope_from_motion(
    features,
    *,
    frame_rate: float = 30.0,
    envelope_rate: float = ENVELOPE_FRAME_RATE,
    n_frames_out: int | None = None,
    impact_offset_s: float = IMPACT_OFFSET_S,
    noise_floor: float = NOISE_FLOOR_RMS,
) -> np.ndarray:
    """RMS-like envelope from motion features.

    Impacts (:func:`pick_impacts` on :func:`impact_strength`) become attacks
    at their frame's time with a two-stage exponential release
    (RELEASE_FAST_S, then RELEASE_SLOW_S); the smoothed mean flow above
    SUSTAIN_MOTION_FLOOR gives a sustained level; the two add as independent
    sources (root of the summed squares) over ``noise_floor``.

    Parameters
    ----------
    features : np.ndarray, shape (T, len(FEATURE_NAMES))
        From :meth:`MotionFeatureExtractor.features`, frame ``t`` at ``t / frame_rate`` s.
    frame_rate : float
        Frames per second of the features.
    envelope_rate : float
        Envelope frames per second; frame ``i`` is centred at ``(i + 0.5) / envelope_rate``.
    n_frames_out : int, optional
        Output length; default ``round(T * envelope_rate / frame_rate)``.
    impact_offset_s : float
        Shift of every impact in time (positive: later).
    noise_floor : float
        Level where nothing moves (kept below the 0.01 silence class).

    Returns
    -------
    np.ndarray, shape (n_frames_out,), float32
        Values in [0, 1].
    """
    feats = _check_features(features)
    if not np.isfinite(frame_rate) or frame_rate <= 0 or not np.isfinite(envelope_rate) or envelope_rate <= 0:
        raise ValueError("frame_rate and envelope_rate must be positive")
    n_in = len(feats)
    n_out = int(round(n_in * envelope_rate / frame_rate)) if n_frames_out is None else int(n_frames_out)
    if n_out < 0:
        raise ValueError(f"n_frames_out must be >= 0, got {n_frames_out}")
    out_t = (np.arange(n_out) + 0.5) / envelope_rate
    if n_in == 0:
        return np.full(n_out, np.clip(noise_floor, 0.0, 1.0), dtype=np.float32)

    # sustained level: smoothed mean motion above a floor
    motion = _moving_average(feats[:, COL["flow_mean"]], int(round(SUSTAIN_SMOOTH_S * frame_rate)))
    sustain = np.minimum(SUSTAIN_RMS_PER_PX * np.maximum(motion - SUSTAIN_MOTION_FLOOR, 0.0), SUSTAIN_RMS_MAX)
    frame_t = np.arange(n_in) / frame_rate
    sustain_out = np.interp(out_t, frame_t, sustain)

    # impacts: attack at the impact time, fast-then-slow exponential release
    frames, relative = pick_impacts(impact_strength(feats), frame_rate=frame_rate)
    peaks = np.clip(IMPACT_RMS_REF * relative**IMPACT_RMS_GAMMA, IMPACT_RMS_MIN, IMPACT_RMS_MAX)
    impacts = np.zeros(n_out)
    for frame, peak in zip(frames, peaks):
        t0 = frame / frame_rate + impact_offset_s
        first = max(0, int(np.ceil(t0 * envelope_rate - 0.5)))  # first envelope frame at or after t0
        if first >= n_out:
            continue
        dt = out_t[first:] - t0
        shape = (1 - RELEASE_SLOW_SHARE) * np.exp(-dt / RELEASE_FAST_S) + RELEASE_SLOW_SHARE * np.exp(
            -dt / RELEASE_SLOW_S
        )
        impacts[first:] = np.maximum(impacts[first:], peak * shape)

    env = np.sqrt(noise_floor**2 + sustain_out**2 + impacts**2)
    return np.clip(env, 0.0, 1.0).astype(np.float32)


def estimate_envelope(
    frame_windows: Iterable[np.ndarray],
    *,
    duration_s: float,
    frame_rate: float = 30.0,
    sample_rate: int = 16000,
    hop_length: int = 128,
    flow_preset: int = FLOW_PRESET,
) -> np.ndarray:
    """Preview envelope of a video from its streamed grey frames.

    Parameters
    ----------
    frame_windows : iterable of np.ndarray, each (n, H, W) uint8
        Consecutive frame windows at ``frame_rate`` (``data_catalog.media.iter_frame_windows``).
    duration_s : float
        Duration of the audio to predict; the envelope has
        ``int(round(duration_s * sample_rate)) // hop_length`` frames.
    frame_rate : float
        Frames per second of the windows.
    sample_rate, hop_length : int
        Envelope grid (16 kHz, hop 128 -> 125 frames/s).
    flow_preset : int
        OpenCV DIS optical-flow preset.

    Returns
    -------
    np.ndarray, float32, values in [0, 1]
    """
    if not np.isfinite(duration_s) or duration_s < 0:
        raise ValueError(f"duration_s must be >= 0, got {duration_s!r}")
    extractor = MotionFeatureExtractor(flow_preset=flow_preset)
    for window in frame_windows:
        extractor.update(window)
    n_out = int(round(duration_s * sample_rate)) // hop_length
    return envelope_from_motion(
        extractor.features(),
        frame_rate=frame_rate,
        envelope_rate=sample_rate / hop_length,
        n_frames_out=n_out,
    )
