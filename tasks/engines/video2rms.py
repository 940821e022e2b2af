"""The ``video2rms`` envelope engine: the learned envelope model (FolAI IV-C) on frame features."""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path

import numpy as np

from data_catalog.errors import OptionError
from data_catalog.media import VideoInfo
from tasks.engines.base import EnvelopeEngine
from tasks.engines.registry import register_envelope_engine

SHIPPED_VIDEO2RMS = Path(__file__).resolve().parents[2] / "folai_models" / "checkpoints" / "video2rms-motion.safetensors"


@register_envelope_engine("video2rms")
class Video2RMSEnvelopeEngine(EnvelopeEngine):
    """The learned envelope model (FolAI IV-C) on frame features.

    Its checkpoint names the encoder it was trained on; with the shipped
    checkpoint (``motion`` features) no pretrained weights are needed.
    """

    needs_features = True

    def __init__(self, checkpoint: str | Path | None = None, device: str = "auto"):
        self.checkpoint = Path(checkpoint) if checkpoint else default_video2rms_checkpoint()
        if self.checkpoint is None:
            raise OptionError("no Video2RMS checkpoint: set SONORIZE_VIDEO2RMS_CHECKPOINT or train one "
                             "(train-video2rms flow); the package ships none in this install")
        self.device = device

    def video_stage(self):
        """The encoder and flow the checkpoint was trained on (its features are what :meth:`predict` reads)."""
        return load_video2rms(str(self.checkpoint), self.device)[2]

    def predict(self, info: VideoInfo, *, video_sha256: str | None = None,
                features: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        from folai_models.video2rms import predict_envelope
        from folai_models.video2rms.level_map import apply_level_map

        model, config, stage, normalizer, level_map = load_video2rms(str(self.checkpoint), self.device)
        if features is None:  # plain library use: the flow passes the cached frame-features task's output
            from data_catalog.hashing import sha256_file
            from tasks.feature_tasks import compute_frame_features

            features, _ = compute_frame_features(info, video_sha256 or sha256_file(info.path), stage)
        envelope = apply_level_map(predict_envelope(model, normalizer(features), config), level_map)
        return np.asarray(envelope, dtype=np.float32), config.envelope_rate

    def describe(self) -> dict:
        return {"name": self.name, "checkpoint": str(self.checkpoint)}


def default_video2rms_checkpoint() -> Path | None:
    """The configured checkpoint (``SONORIZE_VIDEO2RMS_CHECKPOINT``), else the shipped one, else None."""
    from data_catalog.settings import get_settings

    configured = get_settings().video2rms_checkpoint
    if configured:
        return Path(configured)
    return SHIPPED_VIDEO2RMS if SHIPPED_VIDEO2RMS.is_file() else None


def video2rms_available() -> bool:
    """PyTorch and a Video2RMS checkpoint are installed."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return default_video2rms_checkpoint() is not None


@lru_cache(maxsize=2)
def load_video2rms(checkpoint: str, device: str):
    """Model, config, video stage, feature normaliser and level map of a checkpoint (loaded once per process)."""
    from data_catalog.checkpoints import CheckpointError, load_checkpoint_state
    from folai_models.video2rms.model import Video2RMS
    from folai_models.video2rms.normalizer import FeatureNormalizer
    from tasks.feature_tasks import build_video_stage, resolve_device

    device = resolve_device(device)
    state, meta = load_checkpoint_state(checkpoint, map_location=device, model="Video2RMS")
    try:
        model = Video2RMS.from_checkpoint(state, meta)
    except ValueError as error:
        raise CheckpointError(checkpoint, str(error)) from None
    config = model.config
    extra = meta.get("extra", {})
    stage = build_video_stage(extra.get("encoder", "motion"), device=device)
    trained_on = extra.get("feature_revision")
    if trained_on and trained_on != stage.revision:
        # "<encoder revision>|<flow revision>": another feature definition would be read silently, so refuse;
        # another flow version (e.g. OpenCV 4.x vs 5.x) gives nearly the same flow, so only say so
        if trained_on.split("|")[0] != stage.encoder.revision():
            raise CheckpointError(checkpoint, f"trained on features {trained_on!r}, but this install computes "
                                              f"{stage.revision!r}: retrain it (train-video2rms) on "
                                              "re-preprocessed data")
        logging.getLogger(__name__).warning("%s was trained with flow %r, this install computes %r",
                                            checkpoint, trained_on, stage.revision)
    level_map = json.loads(extra["level_map"]) if extra.get("level_map") else []  # older checkpoints: none
    return model.to(device).eval(), config, stage, FeatureNormalizer.from_dict(extra), level_map
