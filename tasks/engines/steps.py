"""The ``steps`` envelope engine: footsteps from pose, the camera's gait or the preview's motion cues."""

from __future__ import annotations

import numpy as np

from data_catalog.media import VideoInfo
from folai_models import envelope as env_math
from tasks.engines.base import EnvelopeEngine
from tasks.engines.registry import register_envelope_engine
from tasks.engines.video_cues import require_pose, steps_from_cues, video_cues


@register_envelope_engine("steps")
class StepsEnvelopeEngine(EnvelopeEngine):
    """Footsteps: pose ground contacts, else the camera's gait bob, else the preview's motion cues."""

    def __init__(self):
        require_pose()
        self.details: dict = {}

    def predict(self, info: VideoInfo, *, video_sha256: str | None = None,
                features: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        envelope, self.details = steps_from_cues(info, video_cues(info, pose="track"))
        return envelope, env_math.envelope_frame_rate()
