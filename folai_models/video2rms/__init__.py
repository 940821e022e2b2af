"""Video2RMS: frame features -> RMS envelope (FolAI IV-C, Video-Foley III-C; spec stages 7, 8, 11).

Modules: :mod:`.config` (all constants, JSON), :mod:`.model` (the network),
:mod:`.loss` (smoothed cross-entropy), :mod:`.decode` (logits -> envelope, any
video length), :mod:`.normalizer` (feature standardisation), :mod:`.train`
(chunks, one epoch, evaluation), :mod:`.calibrate` (decoding thresholds and
level map from the training videos), :mod:`.fit` (the training loop).
Checkpoint files are stored by :mod:`data_catalog.checkpoints`; the model
rebuilds itself from one with :meth:`Video2RMS.from_checkpoint`.

Only the config is imported eagerly (no torch); the rest loads on first use.
"""

from __future__ import annotations

import importlib

from folai_models.video2rms.config import Video2RMSConfig

__all__ = [
    "Video2RMSConfig",
    "Video2RMS",
    "FeatureNormalizer",
    "create_video2rms_from_config",
    "video2rms_loss",
    "soft_targets",
    "logits_to_envelope",
    "predict_envelope",
    "predict_probabilities",
    "predict_outputs",
    "onset_targets",
    "total_loss",
    "make_chunks",
    "train_epoch",
    "evaluate",
]

_LAZY = {
    "Video2RMS": "model",
    "FeatureNormalizer": "normalizer",
    "create_video2rms_from_config": "model",
    "video2rms_loss": "loss",
    "soft_targets": "loss",
    "logits_to_envelope": "decode",
    "predict_envelope": "decode",
    "predict_probabilities": "decode",
    "predict_outputs": "decode",
    "onset_targets": "loss",
    "total_loss": "loss",
    "make_chunks": "train",
    "train_epoch": "train",
    "evaluate": "train",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
