"""The feature standardisation a Video2RMS model is trained with (stored in its checkpoint's ``extra``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["FEATURE_STD_FLOOR", "RELATIVE_PERCENTILE", "FeatureNormalizer"]

FEATURE_STD_FLOOR = 1e-3  # a constant feature column must not blow up when standardised
RELATIVE_PERCENTILE = 95.0  # per-video scale of the relative copy (the preview estimator's clip-relative cue)
# Rows (frames) normalised at once, and columns whose percentile is taken at once: the temporaries are
# those of a block, not of the whole video (an hour at 30 fps is 108,000 x 73 floats, 31.5 MB a copy; the
# one-expression version held ~7 copies at its peak). Every operation is per element or per column, so
# the result is the same, bit for bit, whatever the blocks.
NORMALIZE_BLOCK_ROWS = 1 << 14
PERCENTILE_BLOCK_COLUMNS = 8


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
        """float32 [T, output_dim(D)] of features [T, D]: the standardised columns, then (``relative``) the
        columns over their 95th percentile, written a block of rows at a time into the one output."""
        features = np.asarray(features)
        if features.ndim != 2:
            raise ValueError(f"features must be 2-D [frames, dim], got shape {features.shape}")
        dim = features.shape[1]
        out = np.empty((len(features), self.output_dim(dim)), dtype=np.float32)
        scale = self._relative_scale(features) if self.relative else None
        for start in range(0, len(features), NORMALIZE_BLOCK_ROWS):
            block = features[start : start + NORMALIZE_BLOCK_ROWS]
            rows = out[start : start + NORMALIZE_BLOCK_ROWS]
            rows[:, :dim] = (block - self.mean) / self.std  # assignment casts as astype(float32) did
            if scale is not None:
                rows[:, dim:] = block / scale
        return out

    @staticmethod
    def _relative_scale(features: np.ndarray) -> np.ndarray:
        """Each column's 95th percentile of |x| over the video (plus the floor), a few columns at a time."""
        parts = [np.percentile(np.abs(features[:, start : start + PERCENTILE_BLOCK_COLUMNS]), RELATIVE_PERCENTILE,
                               axis=0)
                 for start in range(0, features.shape[1], PERCENTILE_BLOCK_COLUMNS)]
        return np.concatenate(parts) + FEATURE_STD_FLOOR

    def to_dict(self) -> dict:
        return {"feature_mean": self.mean.tolist(), "feature_std": self.std.tolist(), "relative_features": self.relative}

    @classmethod
    def from_dict(cls, data: dict) -> "FeatureNormalizer":
        return cls(np.asarray(data["feature_mean"], np.float32), np.asarray(data["feature_std"], np.float32),
                   bool(data.get("relative_features", False)))
