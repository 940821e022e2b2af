"""Decoding thresholds and the level map of a Video2RMS model, chosen on its training videos.

The validation videos must not choose their own decoding, so both come from
the model's outputs on the training videos (:func:`video_outputs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from folai_models.events import detect_onsets
from folai_models.metrics import onset_scores
from folai_models.video2rms.config import Video2RMSConfig
from folai_models.video2rms.decode import decode_with_config, predict_outputs
from folai_models.video2rms.level_map import fit_level_map

__all__ = ["PRESENCE_GRID", "ONSET_GRID", "ONSET_PRESENCE_GRID", "CALIBRATED", "ONSET_CONFIDENCE_PERCENTILE",
           "video_outputs", "calibrate_decoding", "training_level_map", "onset_confidence", "onset_confidence_floor"]

PRESENCE_GRID = tuple(round(0.04 + 0.02 * i, 2) for i in range(24))  # thresholds tried: 0.04 .. 0.50
ONSET_GRID = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)  # onset-probability thresholds tried
ONSET_PRESENCE_GRID = (0.3, 0.5, 0.7, 1.0)  # 1.0: only the drawn hits, no sustained sound
CALIBRATED = {"presence": ("presence_threshold",), "onsets": ("onset_threshold", "presence_threshold")}
ONSET_CONFIDENCE_PERCENTILE = 99.0  # ours: a video's onset confidence is the onset head's surest 1 % of frames


def video_outputs(model, videos: Sequence, config: Video2RMSConfig, device: str = "cpu") -> list[tuple]:
    """(class probabilities, onset probabilities, reference envelope) of each :class:`~.train.EvalVideo`."""
    return [(*predict_outputs(model, v.features, config, device=device), v.envelope) for v in videos]


def training_level_map(outputs: list[tuple], config: Video2RMSConfig) -> list[tuple[float, float]]:
    """The level map (:mod:`folai_models.video2rms.level_map`) of the decoded training outputs, rounded for JSON."""
    decoded = [decode_with_config(probs, config, onset_probabilities=onset_probs) for probs, onset_probs, _ in outputs]
    return [(round(x, 6), round(y, 6)) for x, y in fit_level_map(decoded, [ref for *_, ref in outputs])]


def calibrate_decoding(outputs: list[tuple], config: Video2RMSConfig) -> Video2RMSConfig:
    """``config`` with the decoding thresholds that give the best mean onset F1 on ``outputs``.

    ``outputs`` come from :func:`video_outputs` on training videos. ``presence``
    tries :data:`PRESENCE_GRID`; ``onsets`` every pair of :data:`ONSET_GRID` and
    :data:`ONSET_PRESENCE_GRID`. Other methods have no threshold: ``config``
    comes back unchanged.
    """
    if config.decode_method not in CALIBRATED:
        return config
    cached = [(probs, onset_probs, detect_onsets(envelope, config.envelope_rate))
              for probs, onset_probs, envelope in outputs]

    def mean_f1(candidate: Video2RMSConfig) -> float:
        f1s = []
        for probs, onset_probs, reference in cached:
            envelope = decode_with_config(probs, candidate, onset_probabilities=onset_probs)
            f1s.append(onset_scores(reference, detect_onsets(envelope, config.envelope_rate))["f1"])
        return float(np.mean(f1s))

    if config.decode_method == "presence":
        candidates = [replace(config, presence_threshold=t) for t in PRESENCE_GRID]
    else:
        candidates = [replace(config, onset_threshold=o, presence_threshold=p)
                      for o in ONSET_GRID for p in ONSET_PRESENCE_GRID]
    return max(candidates, key=mean_f1)


def onset_confidence(onset_probabilities) -> float:
    """How sure the onset head is of the onsets it finds in one video (its ONSET_CONFIDENCE_PERCENTILE-th
    percentile of onset probability); NaN for an empty video."""
    probs = np.asarray(onset_probabilities, dtype=np.float64).ravel()
    return float(np.percentile(probs, ONSET_CONFIDENCE_PERCENTILE)) if probs.size else float("nan")


def onset_confidence_floor(outputs: list[tuple]) -> float | None:
    """The lowest :func:`onset_confidence` over videos the model did not train on (:func:`video_outputs`
    of its validation videos): footage it is less sure of than all of them is unlike its training domain.

    None when the model has no onset head or no video has frames.
    """
    values = [onset_confidence(onset_probs) for _, onset_probs, _ in outputs if onset_probs is not None]
    values = [v for v in values if np.isfinite(v)]
    return round(min(values), 4) if values else None
