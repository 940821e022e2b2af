"""Pure training utilities for Video2RMS: chunks, a loader, one epoch, evaluation, seeds.

No file I/O: :mod:`.fit` cuts each video with :func:`make_chunks`, trains
with :func:`train_epoch` and scores with :func:`evaluate`; a flow loads the
data and keeps the checkpoints.

Alignment: video frame ``f`` (30 fps) starts envelope frame
``round(f * 125 / 30)``; chunk starts are multiples of
``config.alignment_frames`` (6 frames = 25 envelope frames), so chunks cut
the envelope at exact frames.

Evaluation references (:func:`evaluate`):

- :class:`EvalVideo` items (features + the UNSMOOTHED continuous RMS envelope
  of the video's own audio, spec item 14): the whole video is predicted with
  :func:`~folai_models.video2rms.decode.predict_envelope` and scored against
  that envelope. This is the number to report.
- chunk items ``(x, y)`` (training targets): the reference is
  ``classes_to_rms(y)``, i.e. the quantised, smoothed training target. That
  is a proxy for model selection during training (fast, no audio needed);
  its E-L1 includes the quantisation error and its onsets are those of the
  smoothed envelope.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from folai_models.metrics import envelope_scores
from folai_models.quantize import classes_to_rms
from folai_models.video2rms.config import Video2RMSConfig
from folai_models.video2rms.decode import (
    PREDICT_BATCH_SIZE,
    logits_to_envelope,
    pad_features,
    predict_envelope,
    resolve_hop_frames,
    window_starts,
)
from folai_models.video2rms.loss import IGNORE_CLASS, total_loss, video2rms_loss
from folai_models.video2rms.model import Video2RMS

__all__ = [
    "MAX_LENGTH_MISMATCH_S",
    "REPORTED_METRICS",
    "EvalVideo",
    "ChunkDataset",
    "make_chunks",
    "make_loader",
    "create_optimizer",
    "train_epoch",
    "evaluate",
    "is_improvement",
    "seed_everything",
    "make_generator",
]

MAX_LENGTH_MISMATCH_S = 0.5  # audio and video streams of one file may differ slightly; more is a bug
REPORTED_METRICS = (  # spec item 14: E-L1 always beside onset F1 and correlation
    "e_l1", "correlation", "acc@1", "acc@5", "acc@10",
    "onset_precision", "onset_recall", "onset_f1", "onset_median_abs_error_s",
)


@dataclass(frozen=True)
class EvalVideo:
    """A whole video for :func:`evaluate`: features [T, D] and its unsmoothed RMS envelope [N]."""

    features: np.ndarray
    envelope: np.ndarray
    name: str = ""


def make_chunks(
    features,
    envelope_classes,
    config: Video2RMSConfig,
    *,
    hop_s: float | None = None,
    max_length_mismatch_s: float = MAX_LENGTH_MISMATCH_S,
    onsets=None,
) -> list[tuple[np.ndarray, ...]]:
    """Cut one video into aligned training windows.

    Parameters
    ----------
    features : np.ndarray, shape (T, input_dim)
        Frame features at ``config.frame_rate``.
    envelope_classes : np.ndarray of int, shape (N,)
        Classes of the (smoothed) target envelope at ``config.envelope_rate``
        (:func:`folai_models.quantize.rms_to_classes`); ``N`` should be about
        ``config.n_envelope_frames_for_video_frames(T)``.
    hop_s : float, optional
        Hop between chunks; default ``config.train_hop_s`` or ``window_s``
        (non-overlapping, as the papers' 10 s chunks). Rounded down to a
        multiple of ``config.alignment_frames``.
    max_length_mismatch_s : float
        Largest accepted difference between the envelope's and the video's
        durations; targets missing at the end become :data:`IGNORE_CLASS`.
    onsets : np.ndarray of int, shape (N,), optional
        0/1 onset targets on the envelope grid
        (:func:`folai_models.video2rms.loss.onset_targets`), cut like ``y``.

    Returns
    -------
    list of (x, y) or, with ``onsets``, (x, y, o)
        ``x`` float32 ``[window_frames, input_dim]``, ``y`` (and ``o``) int64
        ``[window_envelope_frames]``. The last chunk ends at the video's end;
        a video shorter than a window gives one chunk. Frames past the video
        are edge-padded in ``x`` (as at inference) and ``IGNORE_CLASS`` in ``y``.
    """
    feats = np.asarray(features, dtype=np.float32)
    classes = np.asarray(envelope_classes)
    if feats.ndim != 2 or feats.shape[1] != config.input_dim or len(feats) == 0:
        raise ValueError(f"features must be [frames, {config.input_dim}] with frames > 0, got {feats.shape}")
    if classes.ndim != 1 or not np.issubdtype(classes.dtype, np.integer):
        raise ValueError(f"envelope_classes must be 1-D integers, got {classes.dtype} {classes.shape}")
    if np.any(classes < 0) or np.any(classes >= config.n_classes):
        raise ValueError(f"envelope_classes must lie in [0, {config.n_classes - 1}]")
    n_total = config.n_envelope_frames_for_video_frames(len(feats))
    if abs(len(classes) - n_total) > max_length_mismatch_s * config.envelope_rate:
        raise ValueError(
            f"envelope has {len(classes)} frames but {len(feats)} video frames need {n_total} "
            f"(more than {max_length_mismatch_s} s apart): features and audio do not belong together"
        )
    series = [classes]
    if onsets is not None:
        onsets = np.asarray(onsets)
        if onsets.shape != classes.shape or not np.all((onsets == 0) | (onsets == 1)):
            raise ValueError(f"onsets must be 0/1 with the envelope's shape {classes.shape}, got {onsets.shape}")
        series.append(onsets)
    hop = resolve_hop_frames(config, hop_s if hop_s is not None else (config.train_hop_s or config.window_s))
    window, n_window = config.window_frames, config.window_envelope_frames
    n_known = min(n_total, len(classes))
    chunks = []
    for start in window_starts(len(feats), config, hop):
        e = config.envelope_frame_of(start)
        cut = []
        for values in series:
            y = np.full(n_window, IGNORE_CLASS, dtype=np.int64)
            part = values[e:n_known][:n_window]
            y[: len(part)] = part
            cut.append(y)
        chunks.append((pad_features(feats[start:], window), *cut))
    return chunks


class ChunkDataset(Dataset):
    """Chunks from :func:`make_chunks` as (float32 tensor [T_w, D], int64 tensor(s) [N_w])."""

    def __init__(self, chunks: Sequence[tuple[np.ndarray, ...]]) -> None:
        self.chunks = list(chunks)

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        x, *targets = self.chunks[index]
        return (torch.from_numpy(np.asarray(x, dtype=np.float32)),
                *(torch.from_numpy(np.asarray(t, dtype=np.int64)) for t in targets))


def make_loader(
    chunks: Sequence[tuple[np.ndarray, np.ndarray]],
    config: Video2RMSConfig,
    *,
    shuffle: bool = True,
    seed: int | None = None,
    batch_size: int | None = None,
) -> DataLoader:
    """A DataLoader over chunks; shuffling is reproducible from ``seed`` (default ``config.seed``)."""
    return DataLoader(
        ChunkDataset(chunks),
        batch_size=batch_size or config.batch_size,
        shuffle=shuffle,
        generator=make_generator(config.seed if seed is None else seed),
    )


def create_optimizer(model: torch.nn.Module, config: Video2RMSConfig) -> torch.optim.Adam:
    """Adam with ``config.learning_rate`` and (L2) ``config.weight_decay`` (FolAI V-B)."""
    return torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)


def train_epoch(
    model: Video2RMS,
    optimizer: torch.optim.Optimizer,
    loader: Iterable,
    config: Video2RMSConfig,
    device: str | torch.device = "cpu",
    *,
    grad_clip: float | None = None,
) -> float:
    """One pass over ``loader`` (batches of (x [B, T, D], y [B, N][, onsets [B, N]])); returns the mean loss.

    The mean weights each batch by its number of scored frames, so it equals
    the loss over the epoch's frames. ``grad_clip`` (max global norm) is off
    by default, as in the papers.
    """
    model.to(device)
    model.train()
    total, n_frames = 0.0, 0
    for x, y, *onsets in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad(set_to_none=True)
        loss = total_loss(model, x, y, onsets[0].to(device) if onsets else None, config)
        loss.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        scored = int((y >= 0).sum())
        total += float(loss.detach()) * scored
        n_frames += scored
    if n_frames == 0:
        raise ValueError("the loader gave no scored frame")
    return total / n_frames


def _aggregate(per_item: list[dict]) -> dict:
    out: dict = {"n_items": len(per_item)}
    for key in REPORTED_METRICS:
        values = np.array([item[key] for item in per_item], dtype=np.float64)
        defined = values[np.isfinite(values)]
        out[key] = float(defined.mean()) if defined.size else float("nan")
        out[f"n_undefined_{key}"] = int(values.size - defined.size)
    return out


@torch.inference_mode()
def _evaluate_chunks(model, chunks, config, device, method, batch_size) -> dict:
    model.to(device)
    model.eval()
    per_item, loss_sum, n_scored = [], 0.0, 0
    for b in range(0, len(chunks), batch_size):
        batch = chunks[b : b + batch_size]
        x = torch.from_numpy(np.stack([np.asarray(c[0], dtype=np.float32) for c in batch])).to(device)
        y = torch.from_numpy(np.stack([np.asarray(c[1], dtype=np.int64) for c in batch])).to(device)
        logits, onset_logits = model.forward_with_onsets(x)
        scored = int((y >= 0).sum())
        loss_sum += float(video2rms_loss(logits, y, config)) * scored
        n_scored += scored
        envelopes = logits_to_envelope(logits, method, config=config, onset_logits=onset_logits)
        for (_, target, *_onsets), estimate in zip(batch, envelopes):
            valid = np.asarray(target) >= 0
            if valid.sum() < 2:
                continue
            reference = classes_to_rms(np.asarray(target)[valid], n_classes=config.n_classes,
                                       mu=config.mu, rms_min=config.rms_min)
            per_item.append(_scores(reference, estimate[valid], config))
    out = _aggregate(per_item)
    out["loss"] = loss_sum / n_scored if n_scored else float("nan")
    return out


def _evaluate_videos(model, videos, config, device, method, hop_s, batch_size) -> dict:
    per_item = []
    for video in videos:
        estimate = predict_envelope(model, video.features, config, method=method, hop_s=hop_s,
                                    device=device, batch_size=batch_size)
        reference = np.asarray(video.envelope, dtype=np.float32)
        if abs(len(reference) - len(estimate)) > MAX_LENGTH_MISMATCH_S * config.envelope_rate:
            raise ValueError(
                f"video {video.name!r}: reference envelope has {len(reference)} frames, "
                f"prediction {len(estimate)}: features and audio do not belong together"
            )
        n = min(len(reference), len(estimate))  # audio and video durations differ slightly
        per_item.append(_scores(reference[:n], estimate[:n], config))
    return _aggregate(per_item)


def _scores(reference: np.ndarray, estimate: np.ndarray, config: Video2RMSConfig) -> dict:
    return envelope_scores(reference, estimate, config.envelope_rate,
                           n_classes=config.n_classes, mu=config.mu, rms_min=config.rms_min)


def evaluate(
    model: Video2RMS,
    data: Sequence[tuple[np.ndarray, np.ndarray]] | Sequence[EvalVideo],
    config: Video2RMSConfig | None = None,
    device: str | torch.device = "cpu",
    *,
    method: str | None = None,
    hop_s: float | None = None,
    batch_size: int = PREDICT_BATCH_SIZE,
) -> dict:
    """Envelope metrics of ``model`` on chunks or whole videos (see the module docstring).

    Parameters
    ----------
    data : list of (x, y) chunks, or list of :class:`EvalVideo`
        Not mixed.
    method : str, optional
        Decoding; default ``config.decode_method``.
    hop_s : float, optional
        Window hop for whole videos.

    Returns
    -------
    dict
        Means over items of :data:`REPORTED_METRICS` (NaN scores skipped; see
        :mod:`folai_models.metrics`), ``n_undefined_<metric>`` counts,
        ``n_items``; for chunks also ``loss`` (mean over scored frames).
        The model is left in eval mode.
    """
    config = config or model.config
    method = method or config.decode_method
    data = list(data)
    if not data:
        raise ValueError("nothing to evaluate")
    if all(isinstance(item, EvalVideo) for item in data):
        return _evaluate_videos(model, data, config, device, method, hop_s, batch_size)
    if any(isinstance(item, EvalVideo) for item in data):
        raise ValueError("evaluate takes either chunks or EvalVideo items, not both")
    return _evaluate_chunks(model, data, config, device, method, batch_size)


def is_improvement(value: float, best: float | None, config: Video2RMSConfig) -> bool:
    """Whether ``value`` of ``config.best_metric`` beats ``best`` (None = no best yet; NaN never wins)."""
    if value is None or not math.isfinite(value):
        return False
    if best is None or not math.isfinite(best):
        return True
    return value > best if config.best_metric_higher_is_better else value < best


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch; optionally ask torch for deterministic kernels.

    ``deterministic`` sets ``torch.use_deterministic_algorithms(True,
    warn_only=True)`` and disables cuDNN benchmarking (global state: call it
    once at the start of a training run). On GPU, bit-exact runs also need
    ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` in the environment before CUDA starts.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def make_generator(seed: int) -> torch.Generator:
    """A torch Generator for reproducible shuffling, independent of the global seed."""
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    return generator
