"""Preview envelope: a weight-free RMS envelope estimated from visible motion.

What users without pretrained weights get. Dense optical flow (OpenCV DIS) on
the grey analysis frames (30 fps, longer side 256 px) gives a few numbers per
frame (:class:`MotionFeatureExtractor`); :func:`envelope_from_motion` turns
them into an RMS-like envelope at 125 frames/s (the grid of
:mod:`folai_models.envelope`): visible impacts (a moving object stopping or
reversing abruptly) become sharp attacks with an exponential release, sustained
motion (scratching, rubbing) a sustained low level, and a still scene
near-silence. Pure numpy/OpenCV, CPU only, no file I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

__all__ = [
    "FEATURE_NAMES",
    "MotionFeatureExtractor",
    "envelope_from_motion",
    "estimate_envelope",
]

# --- feature extraction -------------------------------------------------------
FLOW_PRESET = cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST  # measured ~2000 frames/s at 256x144 on 1 core
DUPLICATE_DIFF = 0.5  # mean |frame difference| (grey levels) under which a frame repeats the last one
TOP_FRACTION = 0.01  # share of pixels whose mean makes the "top" statistics (a drumstick is ~1% of the frame)

FEATURE_NAMES = (
    "frame_diff",  # mean |I_t - I_(t-1)| / 255
    "flow_mean",  # mean flow magnitude, camera motion removed (px/frame)
    "flow_top",  # mean magnitude of the fastest TOP_FRACTION of pixels (px/frame)
    "accel_mean",  # mean |v_t - v_(t-1)| of the compensated flow fields (px/frame^2)
    "accel_top",  # mean of the largest TOP_FRACTION of |v_t - v_(t-1)|
    "top_vx",  # mean x velocity of the fastest pixels (px/frame)
    "top_vy",  # mean y velocity of the fastest pixels (px/frame)
    "new_frame",  # 1 when the frame differs from the previous one, 0 for a repeated frame
)
N_FEATURES = len(FEATURE_NAMES)
COL = {name: i for i, name in enumerate(FEATURE_NAMES)}


def _top_mean(values: np.ndarray, fraction: float) -> float:
    """Mean of the largest ``fraction`` of a flat array."""
    k = max(1, int(round(values.size * fraction)))
    return float(np.partition(values, values.size - k)[values.size - k :].mean())


class MotionFeatureExtractor:
    """Per-frame motion features from streamed grey frames.

    Feed consecutive windows of frames with :meth:`update`; the last frame and
    flow field are carried across calls, so how the video is cut into windows
    changes nothing. :meth:`features` returns one row per frame fed so far.

    Row ``t`` describes the motion from frame ``t - 1`` to frame ``t``
    (velocities) and the change between the flow fields into frames ``t - 1``
    and ``t`` (acceleration: the change of velocity at frame ``t - 1``). Row 0
    is all zeros. A frame that repeats the previous one (frame-rate
    up-conversion duplicates, e.g. 25 -> 30 fps) copies the previous row's
    velocities, has zero acceleration and ``new_frame = 0``; the next new frame
    measures flow over the whole gap, per frame.

    Parameters
    ----------
    flow_preset : int
        OpenCV DIS optical-flow preset.
    """

    def __init__(self, *, flow_preset: int = FLOW_PRESET) -> None:
        self._flow = cv2.DISOpticalFlow_create(flow_preset)
        self._last: np.ndarray | None = None  # last new frame
        self._last_flow: np.ndarray | None = None  # compensated flow into it, px/frame
        self._gap = 0  # frames since the last new frame
        self._rows: list[np.ndarray] = []

    def update(self, frames: np.ndarray) -> None:
        """Add consecutive frames.

        Parameters
        ----------
        frames : np.ndarray, shape (n, H, W), uint8
            Grey frames, in order, following those already fed.
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
            self._last, self._gap = frame, 0
            return row
        if frame.shape != self._last.shape:
            raise ValueError(f"frame size changed from {self._last.shape} to {frame.shape}")
        self._gap += 1
        diff = float(cv2.absdiff(frame, self._last).mean())
        if diff < DUPLICATE_DIFF:
            # a repeated frame: motion goes on as before, nothing new to measure
            prev = self._rows[-1]
            row[:] = prev
            row[COL["frame_diff"]] = 0.0
            row[COL["accel_mean"]] = row[COL["accel_top"]] = 0.0
            row[COL["new_frame"]] = 0.0
            return row
        flow = self._flow.calc(self._last, frame, None) / float(self._gap)
        # remove camera motion: the median flow is the background's
        flow -= np.median(flow.reshape(-1, 2), axis=0)
        mag = np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2).ravel()
        k = max(1, int(round(mag.size * TOP_FRACTION)))
        top = np.argpartition(mag, mag.size - k)[mag.size - k :]
        row[COL["frame_diff"]] = diff / (255.0 * self._gap)
        row[COL["flow_mean"]] = mag.mean()
        row[COL["flow_top"]] = mag[top].mean()
        row[COL["top_vx"]] = flow[..., 0].ravel()[top].mean()
        row[COL["top_vy"]] = flow[..., 1].ravel()[top].mean()
        if self._last_flow is not None:
            dv = flow - self._last_flow
            acc = np.sqrt(dv[..., 0] ** 2 + dv[..., 1] ** 2).ravel()
            row[COL["accel_mean"]] = acc.mean()
            row[COL["accel_top"]] = _top_mean(acc, TOP_FRACTION)
        row[COL["new_frame"]] = 1.0
        self._last, self._last_flow, self._gap = frame, flow, 0
        return row

    def features(self) -> np.ndarray:
        """Features of all frames fed so far.

        Returns
        -------
        np.ndarray, shape (T, len(FEATURE_NAMES)), float32
            One row per frame, row 0 for the first frame; columns as
            :data:`FEATURE_NAMES`.
        """
        if not self._rows:
            return np.zeros((0, N_FEATURES), dtype=np.float32)
        return np.stack(self._rows).astype(np.float32, copy=False)
