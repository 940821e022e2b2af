"""The feature standardisation a Video2RMS model is trained with (stored in its checkpoint's ``extra``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["FEATURE_STD_FLOOR", "RELATIVE_PERCENTILE", "FeatureNormalizer"]

FEATURE_STD_FLOOR = 1e-3  # a constant feature column must not blow up when standardised
RELATIVE_PERCENTILE = 95.0  # per-video scale of the relative copy (the preview estimator's clip-relative cue)


@dataclass(frozen=True)
class FeatureNormalizer:
    """Per-column standardisation fitted on the training videos (stored with the checkpoint).

    With ``relative`` a second copy of the features, each column divided by its
    own 95th percentile over the whole video, is appended: motion cues mean
    more relative to the clip than in absolute pixels (camera distance and
    framing vary), which is what the preview estimator's thresholds exploit.
    """

    mean: np.ndarray
    std: np.ndarray
    relative: bool = False

    @classmethod
    def fit(cls, features: Sequence[np.ndarray], relative: bool = False) -> "FeatureNormalizer":
        """Fitted on the frames of every training video (``features``: one [T, D] array per video)."""
        stacked = np.concatenate(list(features))
        return cls(stacked.mean(axis=0), np.maximum(stacked.std(axis=0), FEATURE_STD_FLOOR), relative)

    def output_dim(self, input_dim: int) -> int:
        return input_dim * (2 if self.relative else 1)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        standard = (features - self.mean) / self.std
        if not self.relative:
            return standard.astype(np.float32)
        scale = np.percentile(np.abs(features), RELATIVE_PERCENTILE, axis=0) + FEATURE_STD_FLOOR
        return np.concatenate([standard, features / scale], axis=1).astype(np.float32)

    def to_dict(self) -> dict:
        return {"feature_mean": self.mean.tolist(), "feature_std": self.std.tolist(), "relative_features": self.relative}

    @classmethod
    def from_dict(cls, data: dict) -> "FeatureNormalizer":
        return cls(np.asarray(data["feature_mean"], np.float32), np.asarray(data["feature_std"], np.float32),
                   bool(data.get("relative_features", False)))
