"""The ``auto`` envelope engine: picks ``steps``, ``video2rms`` or ``preview`` per video from evidence."""

from __future__ import annotations

import numpy as np

from data_catalog.media import VideoInfo
from folai_models import envelope as env_math
from folai_models import preview_envelope
from folai_models.rates import VIDEO_FRAME_RATE
from folai_models.steps.detect import POSE_MIN_SEEN, choose_envelope_engine, gait_evidence
from tasks.engines.base import EnvelopeEngine
from tasks.engines.registry import register_envelope_engine
from tasks.engines.video2rms import Video2RMSEnvelopeEngine, video2rms_available
from tasks.engines.video_cues import steps_from_cues, video_cues


@register_envelope_engine("auto")
class AutoEnvelopeEngine(EnvelopeEngine):
    """Picks ``steps``, ``video2rms`` or ``preview`` per video from evidence; the choice and reason go in ``details``.

    When it picks ``video2rms`` but the model is less sure of its onsets than on
    every recording it was validated on (its checkpoint's recorded floor), the
    footage is unlike its training domain: the envelope is then the union of its
    events and the preview estimator's (``video2rms+preview``).

    It knows which engine it runs only after reading the video, so it takes no
    features: when it picks ``video2rms`` that engine computes them (through the cache).
    """

    def __init__(self):
        self.details: dict = {}

    def predict(self, info: VideoInfo, *, video_sha256: str | None = None,
                features: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        cues = video_cues(info, pose="sample")
        evidence = gait_evidence(cues.camera, VIDEO_FRAME_RATE, cues.landmarks)
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
            envelope, rate = model.predict(info, video_sha256=video_sha256)
            details.update(checkpoint=str(model.checkpoint), **model.details)
            if unsure(model.details):
                # footage unlike its training domain: keep its events and add the preview's (a union)
                n = env_math.n_envelope_frames_for_seconds(info.duration_s)
                learned = env_math.interpolate_envelope(envelope, rate, n_target=n)
                envelope, rate = np.maximum(learned, self._preview(cues, info)), env_math.envelope_frame_rate()
                details["chosen"] = "video2rms+preview"
                details["reason"] += (f"; the learned model is less sure of its onsets here "
                                      f"({model.details['onset_confidence']:.3f}) than on any of its held-out "
                                      f"recordings ({model.details['onset_confidence_floor']:.3f}): its events "
                                      "and the preview's")
        else:
            envelope = self._preview(cues, info)
        self.details = details
        return envelope, rate

    @staticmethod
    def _preview(cues, info: VideoInfo) -> np.ndarray:
        return preview_envelope.envelope_from_motion(
            cues.features, frame_rate=VIDEO_FRAME_RATE,
            n_frames_out=env_math.n_envelope_frames_for_seconds(info.duration_s))


def unsure(details: dict) -> bool:
    """Video2RMS's onset confidence on this video is below its checkpoint's floor (when both are known)."""
    confidence, floor = details.get("onset_confidence"), details.get("onset_confidence_floor")
    return confidence is not None and floor is not None and confidence < floor
