"""Steps of a video from its cues: pose contacts when a body is seen, else the camera's bob, else motion.

:func:`detect_steps` decides which cue to trust from evidence (how often the
lower body is seen, how periodic the camera's bob is) and places steps on
it together with the preview estimator's impact cue (a foot is also a
thing coming down and stopping); :class:`StepDetection` says which source
was used and why, for the run record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from folai_models.steps.contacts import DEFAULT_HEEL_TOE_S, contact_novelty, foot_tracks, heel_toe_delay, landing_speed
from folai_models.steps.gait import bob_novelty, normalised, periodicity, place_steps
from folai_models.steps.step_envelope import StepEvent, step_events

__all__ = ["StepDetection", "choose_envelope_engine", "detect_steps", "gait_evidence", "POSE_MIN_SEEN", "BOB_MIN_PERIODICITY"]

POSE_MIN_SEEN = 0.5  # share of frames with the lower body seen for pose contacts to lead
BOB_MIN_PERIODICITY = 0.5  # bob autocorrelation at one step for a walking camera (dev: 2 of 7 walks above, 1 of 14 others: hammering, on a tripod)
FORWARD_MIN_SHARE = 0.85  # share of frames whose scene expands (the camera travels forward): dev walks 0.88-1.0, others <= 0.67
BOB_MIN_MOTION = 1e-4  # median |vertical camera motion| (frame widths/frame) under which the camera is on a tripod (dev: 0-1e-4)


@dataclass
class StepDetection:
    """What :func:`detect_steps` found: the steps (empty when it fell back), their source and why."""

    source: str  # "pose", "camera bob", "motion" (the preview's impact cue) or "none"
    reason: str
    events: list[StepEvent] = field(default_factory=list)
    evidence: dict = field(default_factory=dict)


def gait_evidence(camera: np.ndarray, frame_rate: float, landmarks: np.ndarray | None) -> dict:
    """Numbers the choice rests on: lower-body share, bob periodicity and rate, camera motion, forward travel."""
    rate, strength = periodicity(bob_novelty(camera, frame_rate), frame_rate)
    motion = float(np.median(np.abs(camera[:, 1]))) if len(camera) else 0.0
    forward = float(np.mean(camera[1:, 3] > 0)) if len(camera) > 1 else 0.0  # zoom > 0: the scene expands
    seen = float(foot_tracks(landmarks).seen.mean()) if landmarks is not None and len(landmarks) else 0.0
    return {"lower_body_seen": round(seen, 3), "bob_periodicity": round(strength, 3),
            "bob_rate_hz": None if not np.isfinite(rate) else round(rate, 2), "camera_vertical_motion": motion,
            "forward_share": round(forward, 3)}


def detect_steps(impact: np.ndarray, camera: np.ndarray, frame_rate: float,
                 landmarks: np.ndarray | None, pose_note: str | None = None) -> StepDetection:
    """Steps from a video's cues.

    Parameters
    ----------
    impact : np.ndarray, shape (T,)
        The preview estimator's impact cue (:func:`folai_models.preview_envelope.impact_strength`).
    camera : np.ndarray, shape (T, 4)
        :meth:`folai_models.steps.gait.CameraMotion.motion`.
    frame_rate : float
    landmarks : np.ndarray, shape (T, 33, 4), or None
        BlazePose image landmarks; None when pose was not run.
    pose_note : str, optional
        Why pose was not run (said in the reason).

    Returns
    -------
    StepDetection
        ``source`` "motion" (steps on the impact cue) when neither a body nor a walking camera was
        found, "none" (no events) when nothing moves either.
    """
    evidence = gait_evidence(camera, frame_rate, landmarks)
    if evidence["lower_body_seen"] >= POSE_MIN_SEEN:
        tracks = foot_tracks(landmarks)
        frames = place_steps(normalised(impact) + normalised(contact_novelty(tracks, frame_rate)), frame_rate)
        events = step_events(frames, frame_rate, speed=landing_speed(tracks, frame_rate, frames),
                             heel_toe_s=heel_toe_delay(tracks, frame_rate), confidence=evidence["lower_body_seen"])
        return StepDetection("pose", f"lower body seen in {evidence['lower_body_seen']:.0%} of frames: "
                                     "steps at foot contacts", events, evidence)
    no_body = pose_note or f"lower body seen in only {evidence['lower_body_seen']:.0%} of frames"
    if walking_camera(evidence):
        frames = place_steps(normalised(impact) + normalised(bob_novelty(camera, frame_rate)), frame_rate)
        events = step_events(frames, frame_rate, speed=None, heel_toe_s=DEFAULT_HEEL_TOE_S,
                             confidence=evidence["bob_periodicity"])
        return StepDetection("camera bob", f"{no_body}; the camera bobs periodically "
                                           f"({evidence['bob_periodicity']:.2f} at {evidence['bob_rate_hz']} "
                                           "steps/s): steps on its gait", events, evidence)
    # asked for steps but no body and no walking camera: today's motion cue, one step per gait period
    frames = place_steps(normalised(impact) + normalised(bob_novelty(camera, frame_rate)), frame_rate)
    if len(frames) == 0:
        return StepDetection("none", f"{no_body}, the camera does not bob like a walk and nothing moves: "
                                     "the preview motion cues", [], evidence)
    events = step_events(frames, frame_rate, speed=None, heel_toe_s=DEFAULT_HEEL_TOE_S, confidence=0.0)
    return StepDetection("motion", f"{no_body} and the camera does not bob like a walk "
                                   f"({evidence['bob_periodicity']:.2f}): steps on the preview's motion cues",
                         events, evidence)


def walking_camera(evidence: dict) -> bool:
    """The camera moves and bobs with a gait's period (BOB_MIN_PERIODICITY, BOB_MIN_MOTION)."""
    return (evidence.get("bob_periodicity", 0.0) >= BOB_MIN_PERIODICITY
            and evidence.get("camera_vertical_motion", 0.0) >= BOB_MIN_MOTION)


STATIC_CAMERA_MOTION = 1e-3  # median |camera translation| (frame widths/frame) of a tripod shot (Greatest Hits ~1e-4)


def choose_envelope_engine(evidence: dict, *, video2rms_available: bool, pose_note: str | None = None
                           ) -> tuple[str, str]:
    """The envelope engine for a video, from evidence, and why (``auto``).

    A walking person in view, a camera that bobs with a gait or travels
    steadily forward (a first-person or follow camera) -> ``steps``;
    a still camera, like the learned model's training recordings (Greatest
    Hits: a tripod, a hand with a drumstick) -> ``video2rms`` when it is
    installed; otherwise the ``preview`` estimator.

    Parameters
    ----------
    evidence : dict
        :func:`gait_evidence` plus ``camera_motion`` (median |translation|, frame widths/frame).
    video2rms_available : bool
        PyTorch and a checkpoint are installed.
    pose_note : str, optional
        Why there is no pose evidence (MediaPipe missing), said in the reason.
    """
    seen = evidence.get("lower_body_seen", 0.0)
    if pose_note is None and seen >= POSE_MIN_SEEN:
        return "steps", f"a person's lower body is in view in {seen:.0%} of sampled frames"
    if walking_camera(evidence):
        return "steps", (f"the camera bobs like a walk ({evidence['bob_periodicity']:.2f} periodicity at "
                         f"{evidence.get('bob_rate_hz')} steps/s)")
    forward = evidence.get("forward_share", 0.0)
    if forward >= FORWARD_MIN_SHARE:
        return "steps", f"the camera travels forward like a walker's (the scene expands in {forward:.0%} of frames)"
    prefix = f"{pose_note}; " if pose_note else ""
    if evidence.get("camera_motion", np.inf) < STATIC_CAMERA_MOTION:
        if video2rms_available:
            return "video2rms", prefix + "still camera, like the learned model's training recordings"
        return "preview", prefix + "still camera, but no Video2RMS model is installed"
    return "preview", prefix + "moving camera and no walk: the learned model has not seen such footage"
