"""Weight-free "motion" frame encoder: hand-made motion statistics per frame.

It lets the envelope model be trained and run with no pretrained weights at
all. Input: the uint8 flow images every flow-using encoder gets (RAFT or the
OpenCV estimator, decoded with :func:`image_to_flow`, px/frame) and the RGB
frames (for frame differences). Flow image ``t`` is the motion from frame
``t - 1`` to ``t``. Feature blocks (columns :data:`FEATURE_NAMES`, float32):

* speed (6): mean, std, 50/90/99th percentile of the flow magnitude (px/frame)
  and the fraction of pixels moving faster than MOVING_PX.
* camera (3): median flow x, y (camera pan/shake) and the mean magnitude of
  the flow with it removed (object motion).
* directions (8): mean magnitude per direction bin, image axes (y down):
  right, down-right, down, down-left, left, up-left, up, up-right; they sum to
  the mean speed.
* cells (48): for each cell of a 4x4 grid (row-major), the motion-weighted
  mean velocity x, y (``sum(v |v|) / sum(|v|)``, camera removed) and mean speed.
* frame difference (3): mean ``|I_t - I_(t-1)|`` of the grey frames / 255,
  fraction of pixels changed by more than DIFF_LEVEL, and ``new_frame`` (0
  for a repeated frame, e.g. frame-rate up-conversion, and for the first).
* derivatives (5): change of the mean and 99th-percentile speed since the
  previous frame, and over cells the largest speed drop (deceleration), drop
  of downward speed (something coming down and stopping: an impact) and
  speed rise (onset).

The previous frame and feature row are carried across calls, so features do
not depend on how the video is cut into windows; :meth:`MotionEncoder.reset`
starts a new video. Frames are the whole frame squashed to 224x224 (version 2;
version 1 took the centre square). :func:`mirror_motion_features` gives the
features of the left-right mirrored video without re-encoding (training
augmentation). Ideas from :mod:`folai_models.preview_envelope`.
"""

from __future__ import annotations

import cv2
import numpy as np

from folai_models.encoders.base import FrameEncoder, register_encoder
from folai_models.optical_flow.flow_images import image_to_flow

__all__ = ["FEATURE_NAMES", "MotionEncoder", "mirror_motion_features"]

INPUT_SIZE = (224, 224)  # the BN-Inception / TC-CLIP size: flow in px/frame at a fixed scale across videos
MOVING_PX = 1.0  # px/frame counted as moving (~6 flow-image levels of 0.157 px: quantisation noise stays below)
PERCENTILES = (50.0, 90.0, 99.0)  # speed percentiles per frame
ANALYSIS_STRIDE = 2  # every 2nd pixel each way: 112x112 of 224x224 (4x cheaper; a ~1% object keeps ~125 px)
MEDIAN_STRIDE = 2  # further subsampling for the camera-motion median (stride 4 overall, as preview_envelope)
N_DIRECTIONS = 8  # direction bins of 45 degrees, bin 0 centred on +x
GRID_ROWS = 4  # cell grid rows (preview_envelope: 4x4 beat 2x2 and 8x8 on dev onset F1)
GRID_COLS = 4  # cell grid columns
WEIGHT_EPS = 1e-3  # px/frame added to a cell's weight so a still cell has velocity ~0 (preview_envelope.WEIGHT_EPS)
DIFF_LEVEL = 8  # grey levels of |I_t - I_(t-1)| above which a pixel counts as changed (above compression noise)
DUPLICATE_DIFF = 0.5  # mean |frame difference| (grey levels) below which a frame is a repeat (preview_envelope)
CHUNK = 32  # frames processed at once (bounds memory for 300-frame windows)
FEATURE_VERSION = 2  # bump when the feature definition changes: it is part of the cache key (v2: whole frame, no crop)

SPEED = ("speed_mean", "speed_std", "speed_p50", "speed_p90", "speed_p99", "moving_fraction")
CAMERA = ("camera_vx", "camera_vy", "object_speed_mean")
DIRECTIONS = tuple(
    f"dir_{d}" for d in ("right", "down_right", "down", "down_left", "left", "up_left", "up", "up_right")
)
CELLS = tuple(f"cell{r}{c}_{q}" for r in range(GRID_ROWS) for c in range(GRID_COLS) for q in ("vx", "vy", "speed"))
FRAME_DIFF = ("diff_mean", "diff_fraction", "new_frame")
DERIVATIVES = ("d_speed_mean", "d_speed_p99", "cell_decel_max", "cell_down_stop_max", "cell_accel_max")
FEATURE_NAMES = SPEED + CAMERA + DIRECTIONS + CELLS + FRAME_DIFF + DERIVATIVES
COL = {name: i for i, name in enumerate(FEATURE_NAMES)}
N_CELLS = GRID_ROWS * GRID_COLS


def _mirror_tables() -> tuple[np.ndarray, np.ndarray]:
    """Column each mirrored feature comes from, and its sign (x velocities change sign)."""
    x_swap = {"right": "left", "left": "right", "down_right": "down_left", "down_left": "down_right",
              "up_right": "up_left", "up_left": "up_right"}
    source, sign = np.arange(len(FEATURE_NAMES)), np.ones(len(FEATURE_NAMES), dtype=np.float32)
    for name in DIRECTIONS:
        direction = name[len("dir_"):]
        source[COL[name]] = COL["dir_" + x_swap.get(direction, direction)]
    for r in range(GRID_ROWS):
        for c in range(GRID_COLS):
            for q in ("vx", "vy", "speed"):
                source[COL[f"cell{r}{c}_{q}"]] = COL[f"cell{r}{GRID_COLS - 1 - c}_{q}"]
            sign[COL[f"cell{r}{c}_vx"]] = -1.0
    sign[COL["camera_vx"]] = -1.0
    return source, sign


MIRROR_SOURCE, MIRROR_SIGN = _mirror_tables()


def mirror_motion_features(features: np.ndarray) -> np.ndarray:
    """Motion features of the horizontally mirrored video, from the video's own features.

    Cells swap columns, direction bins swap left and right, x velocities change
    sign; everything else (speeds, frame differences, the per-frame maxima over
    cells) is unchanged. Gravity makes no such vertical symmetry, so there is
    no vertical mirror.

    Parameters
    ----------
    features : np.ndarray, shape (T, len(FEATURE_NAMES))

    Returns
    -------
    np.ndarray, float32, same shape
    """
    feats = np.asarray(features, dtype=np.float32)
    if feats.ndim != 2 or feats.shape[1] != len(FEATURE_NAMES):
        raise ValueError(f"motion features must be [T, {len(FEATURE_NAMES)}], got {feats.shape}")
    return feats[:, MIRROR_SOURCE] * MIRROR_SIGN


def _grid_means(values: np.ndarray) -> np.ndarray:
    """Area means over the cell grid: [n, k, H, W] -> [n, k, GRID_ROWS, GRID_COLS]."""
    h, w = values.shape[-2:]
    rows = np.linspace(0, h, GRID_ROWS + 1).astype(int)
    cols = np.linspace(0, w, GRID_COLS + 1).astype(int)
    sums = np.add.reduceat(np.add.reduceat(values, rows[:-1], axis=-2), cols[:-1], axis=-1)
    return sums / np.outer(np.diff(rows), np.diff(cols))


@register_encoder("motion")
class MotionEncoder(FrameEncoder):
    """Per-frame motion statistics from flow images and frames; no weights.

    Parameters
    ----------
    input_size : (height, width) frames and flow images must have; None = any
        (flow is in px/frame at that size, so keep it fixed across videos).
    """

    feature_dim = len(FEATURE_NAMES)
    uses_flow = True
    input_size = INPUT_SIZE
    weights_name = None
    mirrorable = True
    # the whole frame, squashed: a centre crop cuts 43 % of a 16:9 frame's width, and hits happen anywhere
    # (as the preview envelope, which sees the whole frame)
    center_crop = False

    @classmethod
    def mirror_features(cls, features: np.ndarray) -> np.ndarray:
        """See :func:`mirror_motion_features`."""
        return mirror_motion_features(features)

    def revision(self) -> str:
        """No weights: the feature definition's version and input size key the cache."""
        return f"motion-v{FEATURE_VERSION}-{self.input_size[0] if self.input_size else 'any'}"

    def __init__(self, *, input_size: tuple[int, int] | None = INPUT_SIZE) -> None:
        self.input_size = None if input_size is None else (int(input_size[0]), int(input_size[1]))
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame: the next call starts a new video."""
        self._prev_grey: np.ndarray | None = None
        self._prev_row = np.zeros(self.feature_dim, dtype=np.float32)

    def encode(self, frames: np.ndarray, flow_images: np.ndarray | None = None) -> np.ndarray:
        """[n, H, W, 3] uint8 frames and flow images -> float32 [n, feature_dim] (columns FEATURE_NAMES)."""
        frames = np.asarray(frames)
        if flow_images is None:
            raise ValueError("the motion encoder needs flow images (uses_flow=True)")
        flow_images = np.asarray(flow_images)
        for what, images in (("frames", frames), ("flow_images", flow_images)):
            if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
                raise ValueError(f"{what} must be [n, H, W, 3] uint8, got {images.shape} {images.dtype}")
            if self.input_size is not None and tuple(images.shape[1:3]) != self.input_size:
                raise ValueError(f"{what} must be {self.input_size[0]}x{self.input_size[1]}, got {images.shape[1:3]}")
            if min(images.shape[1:3]) < max(GRID_ROWS, GRID_COLS):
                raise ValueError(f"{what} must be at least {GRID_ROWS}x{GRID_COLS} pixels, got {images.shape[1:3]}")
        if len(frames) != len(flow_images):
            raise ValueError(f"{len(frames)} frames but {len(flow_images)} flow images")
        out = np.empty((len(frames), self.feature_dim), dtype=np.float32)
        for start in range(0, len(frames), CHUNK):
            stop = start + CHUNK
            out[start:stop] = self._chunk(frames[start:stop], flow_images[start:stop])
        return out

    def _chunk(self, frames: np.ndarray, flow_images: np.ndarray) -> np.ndarray:
        n = len(frames)
        rows = np.zeros((n, self.feature_dim), dtype=np.float32)
        flow = image_to_flow(flow_images[:, ::ANALYSIS_STRIDE, ::ANALYSIS_STRIDE])  # [n, 2, h, w] px/frame
        h, w = flow.shape[-2:]
        vx2d, vy2d = flow[:, 0].reshape(n * h, w), flow[:, 1].reshape(n * h, w)
        speed, angle = cv2.cartToPolar(vx2d, vy2d)  # angle in radians, 0..2pi, y down
        speed, angle = speed.reshape(n, h, w), angle.reshape(n, h, w)

        # speed statistics
        flat = speed.reshape(n, -1)
        rows[:, COL["speed_mean"]] = flat.mean(axis=1)
        rows[:, COL["speed_std"]] = flat.std(axis=1)
        ranks = [int(round(p / 100.0 * (flat.shape[1] - 1))) for p in PERCENTILES]
        part = np.partition(flat, ranks, axis=1)
        for name, rank in zip(("speed_p50", "speed_p90", "speed_p99"), ranks):
            rows[:, COL[name]] = part[:, rank]
        rows[:, COL["moving_fraction"]] = (flat > MOVING_PX).mean(axis=1)

        # camera motion and object motion
        camera = np.median(flow[:, :, ::MEDIAN_STRIDE, ::MEDIAN_STRIDE].reshape(n, 2, -1), axis=2)
        rel = flow - camera[:, :, None, None]
        rel_speed = np.sqrt(rel[:, 0] ** 2 + rel[:, 1] ** 2)
        rows[:, COL["camera_vx"]], rows[:, COL["camera_vy"]] = camera[:, 0], camera[:, 1]
        rows[:, COL["object_speed_mean"]] = rel_speed.reshape(n, -1).mean(axis=1)

        # direction histogram weighted by speed, per pixel of the frame
        bins = ((angle + np.pi / N_DIRECTIONS) // (2 * np.pi / N_DIRECTIONS)).astype(np.int64) % N_DIRECTIONS
        index = bins + N_DIRECTIONS * np.arange(n)[:, None, None]
        hist = np.bincount(index.ravel(), weights=speed.ravel(), minlength=n * N_DIRECTIONS)
        d0 = COL[DIRECTIONS[0]]
        rows[:, d0 : d0 + N_DIRECTIONS] = hist.reshape(n, N_DIRECTIONS) / (h * w)

        # cells: motion-weighted velocity and mean speed of the object motion
        cells = _grid_means(np.stack([rel[:, 0] * rel_speed, rel[:, 1] * rel_speed, rel_speed], axis=1))
        weight = cells[:, 2]
        cell_rows = np.stack([cells[:, 0] / (weight + WEIGHT_EPS), cells[:, 1] / (weight + WEIGHT_EPS), weight], -1)
        c0 = COL[CELLS[0]]
        rows[:, c0 : c0 + 3 * N_CELLS] = cell_rows.reshape(n, -1)

        # frame differences against the previous frame (carried across windows)
        grey = np.stack([cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames])
        grey = grey[:, ::ANALYSIS_STRIDE, ::ANALYSIS_STRIDE]
        if self._prev_grey is not None and self._prev_grey.shape != grey.shape[1:]:
            raise ValueError(f"frame size changed from {self._prev_grey.shape} to {grey.shape[1:]}")
        previous = np.concatenate([grey[:1] if self._prev_grey is None else self._prev_grey[None], grey[:-1]])
        diff = np.abs(grey.astype(np.int16) - previous.astype(np.int16)).reshape(n, -1)
        diff_mean = diff.mean(axis=1)
        rows[:, COL["diff_mean"]] = diff_mean / 255.0
        rows[:, COL["diff_fraction"]] = (diff > DIFF_LEVEL).mean(axis=1)
        rows[:, COL["new_frame"]] = diff_mean >= DUPLICATE_DIFF
        if self._prev_grey is None:
            rows[0, COL["new_frame"]] = 0.0  # the video's first frame (diff with itself is 0 anyway)
        self._prev_grey = grey[-1].copy()

        # changes since the previous frame (its row carried across windows)
        before = np.concatenate([self._prev_row[None], rows[:-1]])
        for name, source in (("d_speed_mean", "speed_mean"), ("d_speed_p99", "speed_p99")):
            rows[:, COL[name]] = rows[:, COL[source]] - before[:, COL[source]]
        cell_now = rows[:, c0 : c0 + 3 * N_CELLS].reshape(n, N_CELLS, 3)
        cell_before = before[:, c0 : c0 + 3 * N_CELLS].reshape(n, N_CELLS, 3)
        speed_change = cell_now[..., 2] - cell_before[..., 2]
        down_change = np.maximum(cell_now[..., 1], 0.0) - np.maximum(cell_before[..., 1], 0.0)
        rows[:, COL["cell_decel_max"]] = np.maximum(-speed_change, 0.0).max(axis=1)
        rows[:, COL["cell_down_stop_max"]] = np.maximum(-down_change, 0.0).max(axis=1)
        rows[:, COL["cell_accel_max"]] = np.maximum(speed_change, 0.0).max(axis=1)
        self._prev_row = rows[-1].copy()
        return rows
