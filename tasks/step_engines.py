"""The ``steps`` envelope engine and ``auto``, which picks an engine per video from evidence.

Both read the video once through :func:`analysis_frames` (RGB at 30 fps,
analysis size): the preview estimator's motion features, the camera's global
motion and, where needed, BlazePose (:mod:`folai_models.steps`). The pose
pass runs only here: over every frame for ``steps``, over a sparse sample
for ``auto``'s evidence (and over every frame again only when a walking
person was found).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from data_catalog.errors import SonorizeInputError
from data_catalog.media import VideoInfo, iter_frame_windows
from data_catalog.media.frames import FRAME_RATE
from folai_models import envelope as env_math
from folai_models import motion_envelope
from folai_models.steps.detect import POSE_MIN_SEEN, choose_envelope_engine, detect_steps, gait_evidence
from folai_models.steps.gait import CameraMotion
from folai_models.steps.pose import MediaPipeMissing, PoseTracker, require_mediapipe
from folai_models.steps.step_envelope import steps_envelope
from tasks.engines import EnvelopeEngine, Video2RMSEnvelopeEngine, default_video2rms_checkpoint

POSE_SAMPLE_EVERY = 15  # auto's evidence: pose on every 15th frame (2 per second at 30 fps; a walker is in view for seconds)


def analysis_frames(info: VideoInfo) -> Iterator[np.ndarray]:
    """RGB windows ``(n, H, W, 3)`` at 30 fps, analysis size: all these engines decode (one place to share)."""
    return iter_frame_windows(info, frame_rate=FRAME_RATE, pixel_format="rgb24")


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
    extractor, camera, tracker, note = motion_envelope.MotionFeatureExtractor(), CameraMotion(), None, None
    if pose != "off":
        try:
            tracker = PoseTracker(static=pose == "sample")
        except MediaPipeMissing as error:
            note = f"no pose evidence: {error}"
    n, pose_s = 0, 0.0
    try:
        for window in analysis_frames(info):
            grey = np.stack([cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in window])
            extractor.update(grey)
            camera.update(grey)
            if tracker is not None:
                start = time.perf_counter()
                picked = window if pose == "track" else window[(-n) % POSE_SAMPLE_EVERY::POSE_SAMPLE_EVERY]
                tracker.update(picked)
                pose_s += time.perf_counter() - start
            n += len(window)
        landmarks = tracker.result()[0] if tracker is not None else None
    finally:
        if tracker is not None:
            tracker.close()
    return VideoCues(extractor.features(), camera.motion(), landmarks, note, n, pose_s)


def _n_out(info: VideoInfo) -> int:
    return int(round(info.duration_s * env_math.ENVELOPE_SAMPLE_RATE)) // env_math.HOP_LENGTH


def steps_from_cues(info: VideoInfo, cues: VideoCues) -> tuple[np.ndarray, dict]:
    """Step envelope (or the preview's when no walk is found) and what was done, from one pass's cues."""
    detection = detect_steps(motion_envelope.impact_strength(cues.features), cues.camera, FRAME_RATE,
                             cues.landmarks, cues.pose_note)
    n_out = _n_out(info)
    if detection.events:
        envelope = steps_envelope(detection.events, n_out, env_math.envelope_frame_rate())
    else:
        envelope = motion_envelope.envelope_from_motion(cues.features, frame_rate=FRAME_RATE, n_frames_out=n_out)
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


class StepsEnvelopeEngine(EnvelopeEngine):
    """Footsteps: pose ground contacts, else the camera's gait bob, else the preview's motion cues."""

    name = "steps"

    def __init__(self):
        require_pose()
        self.details: dict = {}

    def predict(self, info: VideoInfo, video_sha256: str | None = None) -> tuple[np.ndarray, float]:
        envelope, self.details = steps_from_cues(info, video_cues(info, pose="track"))
        return envelope, env_math.envelope_frame_rate()


class AutoEnvelopeEngine(EnvelopeEngine):
    """Picks ``steps``, ``video2rms`` or ``preview`` per video from evidence; the choice and reason go in ``details``."""

    name = "auto"

    def __init__(self):
        self.details: dict = {}

    def predict(self, info: VideoInfo, video_sha256: str | None = None) -> tuple[np.ndarray, float]:
        cues = video_cues(info, pose="sample")
        evidence = gait_evidence(cues.camera, FRAME_RATE, cues.landmarks)
        evidence["camera_motion"] = float(np.median(np.hypot(cues.camera[:, 0], cues.camera[:, 1]))) \
            if len(cues.camera) else 0.0
        engine, reason = choose_envelope_engine(evidence, video2rms_available=video2rms_available(),
                                                pose_note=cues.pose_note)
        details = {"chosen": engine, "reason": reason, "evidence": evidence}
        rate = env_math.envelope_frame_rate()
        if engine == "steps":
            if cues.pose_note is None and evidence["lower_body_seen"] >= POSE_MIN_SEEN:
                cues = video_cues(info, pose="track")  # a person walks in view: pose on every frame
            else:
                cues.landmarks = None  # the camera's gait: no pose pass needed
            envelope, steps = steps_from_cues(info, cues)
            details["steps"] = steps
        elif engine == "video2rms":
            model = Video2RMSEnvelopeEngine()
            envelope, rate = model.predict(info, video_sha256)
            details["checkpoint"] = str(model.checkpoint)
        else:
            envelope = motion_envelope.envelope_from_motion(cues.features, frame_rate=FRAME_RATE,
                                                            n_frames_out=_n_out(info))
        self.details = details
        return envelope, rate


def video2rms_available() -> bool:
    """PyTorch and a Video2RMS checkpoint are installed."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return default_video2rms_checkpoint() is not None
