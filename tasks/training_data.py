"""Training data for Video2RMS: features and targets of a dataset's videos, from the caches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_catalog.dataset_tables import load_video_arrays, read_videos
from data_catalog.errors import SonorizeInputError
from folai_models.envelope import smooth_envelope
from folai_models.quantize import rms_to_classes

FEATURE_STD_FLOOR = 1e-3  # a constant feature column must not blow up when standardised
RELATIVE_PERCENTILE = 95.0  # per-video scale of the relative copy (the preview estimator's clip-relative cue)


@dataclass
class VideoArrays:
    """One video's features [T, D] (30 fps), unsmoothed target envelope [N] (125 fps) and split.

    ``feature_revision``: the encoder and flow definition the features were made with (cache key).
    """

    item_id: str
    split: str
    features: np.ndarray
    envelope: np.ndarray
    feature_revision: str = ""


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
    def fit(cls, videos: list[VideoArrays], relative: bool = False) -> "FeatureNormalizer":
        stacked = np.concatenate([v.features for v in videos])
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


def load_dataset_videos(dataset: str, encoder: str) -> list[VideoArrays]:
    """Every preprocessed video of ``dataset`` whose ``encoder`` features and targets are cached.

    Raises SonorizeInputError naming the dataset when nothing is there (run
    ``preprocess`` first).
    """
    rows = [row for row in read_videos(dataset=dataset, status="ok").to_pylist()
            if (row.get("feature_encoder") or "").split("+")[0] == encoder]  # "motion+opencv" -> motion
    videos = []
    for row in rows:
        arrays = load_video_arrays(row)
        if arrays is not None:
            videos.append(VideoArrays(row["item_id"], row["split"], arrays[0], arrays[1],
                                      row.get("feature_revision") or ""))
    if not videos:
        raise SonorizeInputError(dataset, "no preprocessed videos with cached features and targets: "
                                          "run the preprocess flow (sonorize preprocess) for this dataset first")
    return videos


def target_classes(envelope: np.ndarray, smoothing: str, kernel_size: int) -> np.ndarray:
    """Training classes: the envelope smoothed as the config says, then mu-law classes."""
    kwargs = {"kernel_size": kernel_size} if smoothing == "kernel" else {}
    return rms_to_classes(smooth_envelope(envelope, method=smoothing, **kwargs))
