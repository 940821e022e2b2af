"""Training data for Video2RMS: features and targets of a dataset's videos, from the caches.

(The feature normaliser and the training targets are the model's: :mod:`folai_models.video2rms`.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_catalog.dataset_tables import load_video_arrays, read_videos
from data_catalog.errors import SonorizeInputError


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
