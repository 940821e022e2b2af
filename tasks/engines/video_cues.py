"""One pass over a video for the ``steps`` and ``auto`` envelope engines: motion, camera motion, pose.

Both engines read the video once through :func:`analysis_frames` (RGB at 30 fps,
analysis size): the preview estimator's motion features, the camera's global
motion and, where needed, BlazePose (:mod:`folai_models.steps`). The pose
pass runs only here: over every frame for ``steps``, over a sparse sample
for ``auto``'s evidence (and over every frame again only when a walking
person was found).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from data_catalog.errors import SonorizeInputError
from data_catalog.media import VideoInfo, iter_frame_windows
from data_catalog.media.frames import prefetched
from folai_models import envelope as env_math
from folai_models import preview_envelope
from folai_models.rates import VIDEO_FRAME_RATE
from folai_models.steps.detect import detect_steps
from folai_models.steps.gait import CameraMotion
from folai_models.steps.pose import MediaPipeMissing, PoseTracker, require_mediapipe
from folai_models.steps.step_envelope import steps_envelope

POSE_SAMPLE_EVERY = 15  # auto's evidence: pose on every 15th frame (2 per second at 30 fps; a walker is in view for seconds)


def analysis_frames(info: VideoInfo) -> Iterator[np.ndarray]:
    """RGB windows ``(n, H, W, 3)`` at 30 fps, analysis size: all these engines decode (one place to share)."""
    return iter_frame_windows(info, frame_rate=VIDEO_FRAME_RATE, pixel_format="rgb24")


@dataclass
class VideoCues:
    """One pass over a video: motion features, camera motion, pose (or why there is none)."""

    features: np.ndarray
    camera: np.ndarray
    landmarks: np.ndarray | None
    pose_note: str | None
    n_frames: int
    pose_s: float


def video_cues(info: VideoInfo, pose: str) -> VideoCues:
    """Read the video once; ``pose``: ``"track"`` (every frame), ``"sample"`` (every POSE_SAMPLE_EVERY-th,
    detected afresh) or ``"off"``. MediaPipe missing gives no landmarks and a note saying so."""
    extractor, camera, tracker, note = preview_envelope.MotionFeatureExtractor(), CameraMotion(), None, None
    if pose != "off":
        try:
            tracker = PoseTracker(static=pose == "sample")
        except MediaPipeMissing as error:
            note = f"no pose evidence: {error}"
    n, pose_s, pending = 0, 0.0, None
    # BlazePose runs in its own thread beside the flow (MediaPipe's graph and OpenCV release the GIL);
    # one window at a time, in order, so its memory stays one window and its results are the same
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pose") if tracker is not None else None

    def run_pose(frames: np.ndarray) -> float:
        start = time.perf_counter()
        tracker.update(frames)
        return time.perf_counter() - start

    try:
        for window in prefetched(analysis_frames(info)):
            if pool is not None:
                picked = window if pose == "track" else window[(-n) % POSE_SAMPLE_EVERY::POSE_SAMPLE_EVERY]
                if pending is not None:
                    pose_s += pending.result()
                pending = pool.submit(run_pose, picked)
            grey = np.stack([cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in window])
            extractor.update(grey)
            camera.update(grey)
            n += len(window)
        if pending is not None:
            pose_s += pending.result()
        landmarks = tracker.result()[0] if tracker is not None else None
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
            tracker.close()
    return VideoCues(extractor.features(), camera.motion(), landmarks, note, n, pose_s)


def steps_from_cues(info: VideoInfo, cues: VideoCues) -> tuple[np.ndarray, dict]:
    """Step envelope (or the preview's when no walk is found) and what was done, from one pass's cues."""
    # every slowing counts for the beat tracker (dev: only stops lost 0.08 F1 against the step reference)
    impact = preview_envelope.impact_strength(cues.features, min_stop_share=0.0)
    detection = detect_steps(impact, cues.camera, VIDEO_FRAME_RATE,
                             cues.landmarks, cues.pose_note)
    n_out = env_math.n_envelope_frames_for_seconds(info.duration_s)
    if detection.events:
        envelope = steps_envelope(detection.events, n_out, env_math.envelope_frame_rate())
    else:
        envelope = preview_envelope.envelope_from_motion(cues.features, frame_rate=VIDEO_FRAME_RATE, n_frames_out=n_out)
    details = {"steps_source": detection.source, "reason": detection.reason, "n_steps": len(detection.events),
               "events": "steps" if detection.events else "hits", "evidence": detection.evidence}
    if cues.landmarks is not None and cues.pose_s > 0:
        details["pose_frames_per_s"] = round(len(cues.landmarks) / cues.pose_s, 1)
    if detection.events:
        details["heel_toe_s"] = round(detection.events[0].heel_toe_s, 3)
    return envelope, details


def require_pose() -> None:
    """SonorizeInputError saying how to install MediaPipe when it is missing (before any video)."""
    try:
        require_mediapipe()
    except MediaPipeMissing as error:
        raise SonorizeInputError(None, str(error)) from None
