"""Training Video2RMS: chunks from whole videos, then epochs with validation and threshold calibration.

:func:`prepare_fit_data` turns training and validation videos into
normalised chunks and whole-video items; :func:`fit` runs the epochs. Every
``eval_every`` epochs (and at the last) thresholded decodings are calibrated
on the training videos (:mod:`.calibrate`), the validation videos are scored
(:func:`~.train.evaluate`) and, when ``config.best_metric`` improves, the
training level map is fitted. What to keep (checkpoints, records) is the
caller's: ``on_epoch`` receives each :class:`Epoch`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from folai_models.envelope import smooth_envelope
from folai_models.quantize import rms_to_classes
from folai_models.video2rms.calibrate import CALIBRATED, calibrate_decoding, training_level_map, video_outputs
from folai_models.video2rms.config import Video2RMSConfig
from folai_models.video2rms.loss import onset_targets
from folai_models.video2rms.model import Video2RMS
from folai_models.video2rms.normalizer import FeatureNormalizer
from folai_models.video2rms.train import (EvalVideo, create_optimizer, evaluate, is_improvement, make_chunks,
                                          make_loader, train_epoch)

__all__ = ["FitData", "Epoch", "target_classes", "prepare_fit_data", "fit"]


@dataclass(frozen=True)
class FitData:
    """Normalised training chunks, and the training and validation videos as :class:`EvalVideo` items."""

    chunks: list[tuple[np.ndarray, ...]]
    train: list[EvalVideo]
    val: list[EvalVideo]


@dataclass
class Epoch:
    """One epoch of :func:`fit`.

    ``row``: the epoch, its mean training loss, its seconds and, on validation
    epochs, the calibrated thresholds and the rounded validation metrics.
    ``metrics`` (unrounded) and ``config`` (with the calibrated thresholds)
    are set on validation epochs only; ``level_map`` when ``improved``.
    """

    epoch: int
    row: dict
    metrics: dict | None = None
    config: Video2RMSConfig | None = None
    improved: bool = False
    level_map: list[tuple[float, float]] | None = field(default=None, repr=False)

    @property
    def validated(self) -> bool:
        return self.metrics is not None


def target_classes(envelope: np.ndarray, smoothing: str, kernel_size: int) -> np.ndarray:
    """Training classes: the envelope smoothed as the config says, then mu-law classes."""
    kwargs = {"kernel_size": kernel_size} if smoothing == "kernel" else {}
    return rms_to_classes(smooth_envelope(envelope, method=smoothing, **kwargs))


def prepare_fit_data(train: Sequence[EvalVideo], val: Sequence[EvalVideo], normalizer: FeatureNormalizer,
                     config: Video2RMSConfig, *, mirror: Callable[[np.ndarray], np.ndarray] | None = None) -> FitData:
    """Chunks of every training video (and its mirror image, with ``mirror``) and the normalised videos.

    Parameters
    ----------
    train, val : EvalVideo
        Raw features [T, D] at 30 fps and unsmoothed envelopes at 125 fps.
    normalizer : fitted on ``train``; its output width must be ``config.input_dim``.
    mirror : the encoder's left-right feature mirror (mirror augmentation), optional.
    """
    chunks = []
    for video in train:
        classes = target_classes(video.envelope, config.target_smoothing, config.smoothing_kernel_size)
        onsets = onset_targets(video.envelope, config) if config.has_onset_head else None
        for features in [video.features] + ([mirror(video.features)] if mirror else []):
            chunks += make_chunks(normalizer(features), classes, config, hop_s=config.train_hop_s, onsets=onsets)

    def normalised(videos):
        return [EvalVideo(normalizer(v.features), v.envelope, v.name) for v in videos]

    return FitData(chunks, normalised(train), normalised(val))


def fit(model: Video2RMS, data: FitData, config: Video2RMSConfig, *, optimizer: torch.optim.Optimizer | None = None,
        device: str | torch.device = "cpu", start_epoch: int = 1, best: float | None = None, eval_every: int = 1,
        on_epoch: Callable[[Epoch], None] | None = None) -> list[Epoch]:
    """Train ``model`` from ``start_epoch`` to ``config.epochs``; returns the epochs run.

    Parameters
    ----------
    model : built from ``config`` (seed the global RNG before building it for reproducible runs).
    data : from :func:`prepare_fit_data`.
    optimizer : default :func:`~.train.create_optimizer` (pass one to resume its state).
    start_epoch, best : where a resumed run continues, and its best ``config.best_metric`` so far.
    eval_every : epochs between validations (the last epoch always validates).
    on_epoch : called after each epoch (to checkpoint, record, report).
    """
    optimizer = optimizer or create_optimizer(model, config)
    loader = make_loader(data.chunks, config, shuffle=True, seed=config.seed)
    epochs = []
    for epoch in range(start_epoch, config.epochs + 1):
        started = time.perf_counter()
        loss = train_epoch(model, optimizer, loader, config, device)
        result = Epoch(epoch, {"epoch": epoch, "train_loss": round(loss, 5),
                               "seconds": round(time.perf_counter() - started, 2)})
        if epoch % eval_every == 0 or epoch == config.epochs:
            _validate(model, data, config, device, result, best)
            if result.improved:
                best = result.metrics.get(config.best_metric)
        epochs.append(result)
        if on_epoch is not None:
            on_epoch(result)
    return epochs


def _validate(model, data: FitData, config: Video2RMSConfig, device, result: Epoch, best: float | None) -> None:
    """Calibrate on the training videos, score the validation videos, and fit the level map of a new best."""
    eval_config, train_outputs = config, None
    if config.decode_method in CALIBRATED:  # only thresholded decodings need the training predictions
        train_outputs = video_outputs(model, data.train, config, device)
        eval_config = calibrate_decoding(train_outputs, config)
        result.row.update({name: getattr(eval_config, name) for name in CALIBRATED[config.decode_method]})
    with torch.no_grad():
        metrics = evaluate(model, data.val, eval_config, device)
    result.row.update({k: round(float(v), 5) for k, v in metrics.items() if not k.startswith("n_")})
    result.metrics, result.config = metrics, eval_config
    if is_improvement(metrics.get(config.best_metric), best, config):
        result.improved = True
        train_outputs = train_outputs or video_outputs(model, data.train, config, device)
        result.level_map = training_level_map(train_outputs, eval_config)
