"""Video2RMS training loss: cross-entropy against Gaussian-smoothed class targets.

Video-Foley III-C: ``L = sum_i CE(c_hat_i, c_i)`` with the targets blurred by
Gaussian label smoothing (eq. 3; FolAI eq. 8). We average over the scored
frames instead of summing, so the loss does not scale with window length or
batch size. Frames whose target class is negative (:data:`IGNORE_CLASS`,
padding of windows that run past the video) and frames outside an optional
mask are not scored.

Ours (``config.onset_weight > 0``): :func:`onset_targets` marks the frames
near each onset of the target envelope, :func:`onset_loss` is the weighted
binary cross-entropy of the onset head against them, and
:func:`total_loss` adds ``onset_weight`` times it to the class loss. The
class loss alone rarely lets a decoded envelope dip between hits that follow
each other closely, so hits inside a sounding stretch never read as onsets.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from folai_models.quantize import gaussian_label_smoothing
from folai_models.video2rms.config import Video2RMSConfig

__all__ = ["IGNORE_CLASS", "smoothing_table", "soft_targets", "video2rms_loss", "onset_targets", "onset_loss",
           "total_loss"]

IGNORE_CLASS = -1  # target class of padded frames: never scored


def smoothing_table(config: Video2RMSConfig) -> torch.Tensor:
    """Row ``c`` = the smoothed target of class ``c``, shape ``(n_classes, n_classes)``.

    Built once by :func:`folai_models.quantize.gaussian_label_smoothing`
    (normalised rows), so looking rows up equals smoothing frame by frame.
    """
    rows = gaussian_label_smoothing(
        np.arange(config.n_classes),
        n_classes=config.n_classes,
        sigma=config.label_smoothing_sigma,
        window=config.label_smoothing_window,
    )
    return torch.from_numpy(rows)


def soft_targets(classes, config: Video2RMSConfig) -> torch.Tensor:
    """Smoothed target distributions for integer classes.

    Parameters
    ----------
    classes : array_like or torch.Tensor of int, any shape (e.g. ``(N,)`` or ``(B, N)``)
        Classes in ``[0, n_classes)``; :data:`IGNORE_CLASS` (any negative value)
        gives an all-zero row.

    Returns
    -------
    torch.Tensor
        Shape ``classes.shape + (n_classes,)``, float32, on the device of ``classes``
        (CPU for numpy input).
    """
    cls = torch.as_tensor(classes)
    if cls.dtype.is_floating_point or cls.dtype == torch.bool:
        raise ValueError(f"classes must be integers, got {cls.dtype}")
    if bool((cls >= config.n_classes).any()):
        raise ValueError(f"classes must lie below n_classes = {config.n_classes}")
    table = smoothing_table(config).to(cls.device)
    valid = cls >= 0
    rows = table[cls.clamp(min=0).long()]
    return rows * valid.unsqueeze(-1)


def video2rms_loss(
    logits: torch.Tensor,
    target_classes: torch.Tensor,
    config: Video2RMSConfig,
    *,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean cross-entropy of ``logits`` against smoothed targets over the scored frames.

    Parameters
    ----------
    logits : torch.Tensor, shape (B, N, n_classes)
    target_classes : torch.Tensor of int, shape (B, N)
        Negative values mark padded frames.
    mask : torch.Tensor of bool, shape (B, N), optional
        Frames to score (also requires a non-negative target).

    Returns
    -------
    torch.Tensor
        Scalar; 0 (still differentiable) when no frame is scored.
    """
    if logits.ndim != 3 or logits.shape[-1] != config.n_classes:
        raise ValueError(f"logits must be [batch, frames, {config.n_classes}], got {tuple(logits.shape)}")
    target_classes = torch.as_tensor(target_classes, device=logits.device)
    if tuple(target_classes.shape) != tuple(logits.shape[:2]):
        raise ValueError(
            f"target classes {tuple(target_classes.shape)} do not match logits {tuple(logits.shape[:2])}"
        )
    scored = target_classes >= 0
    if mask is not None:
        mask = torch.as_tensor(mask, device=logits.device)
        if tuple(mask.shape) != tuple(scored.shape):
            raise ValueError(f"mask {tuple(mask.shape)} does not match targets {tuple(scored.shape)}")
        scored = scored & mask.bool()
    targets = soft_targets(target_classes, config).to(logits.dtype)
    per_frame = -(targets * F.log_softmax(logits, dim=-1)).sum(dim=-1)  # [B, N]
    n_scored = scored.sum()
    if int(n_scored) == 0:
        return logits.sum() * 0.0
    # where, not multiply: a non-finite loss on an unscored frame must not leak in
    return torch.where(scored, per_frame, torch.zeros_like(per_frame)).sum() / n_scored


def onset_targets(envelope, config: Video2RMSConfig) -> np.ndarray:
    """0/1 onset targets per envelope frame: 1 within ``onset_target_width`` frames of an onset.

    Onsets are those of :func:`folai_models.events.detect_onsets` on the
    unsmoothed ``envelope`` (the evaluation's definition), on its frame grid.

    Returns
    -------
    np.ndarray of int64, shape (len(envelope),)
    """
    from folai_models.events import detect_onsets

    envelope = np.asarray(envelope, dtype=np.float64)
    targets = np.zeros(len(envelope), dtype=np.int64)
    width = int(config.onset_target_width)
    for frame in np.floor(detect_onsets(envelope, config.envelope_rate) * config.envelope_rate).astype(np.int64):
        targets[max(0, frame - width) : frame + width + 1] = 1
    return targets


def onset_loss(onset_logits: torch.Tensor, targets: torch.Tensor, config: Video2RMSConfig) -> torch.Tensor:
    """Mean binary cross-entropy of onset logits ``(B, N)`` against 0/1 targets (negative = unscored)."""
    targets = torch.as_tensor(targets, device=onset_logits.device)
    if tuple(targets.shape) != tuple(onset_logits.shape):
        raise ValueError(f"onset targets {tuple(targets.shape)} do not match logits {tuple(onset_logits.shape)}")
    scored = targets >= 0
    if int(scored.sum()) == 0:
        return onset_logits.sum() * 0.0
    pos_weight = torch.tensor(float(config.onset_pos_weight), device=onset_logits.device, dtype=onset_logits.dtype)
    return F.binary_cross_entropy_with_logits(onset_logits[scored], targets[scored].to(onset_logits.dtype),
                                              pos_weight=pos_weight)


def total_loss(model, features: torch.Tensor, classes: torch.Tensor, onsets: torch.Tensor | None,
               config: Video2RMSConfig) -> torch.Tensor:
    """Class loss, plus ``onset_weight`` times the onset loss when the model has an onset head."""
    if not config.has_onset_head:
        return video2rms_loss(model(features), classes, config)
    if onsets is None:
        raise ValueError("a model with an onset head trains on (features, classes, onsets) chunks")
    logits, onset_logits = model.forward_with_onsets(features)
    return video2rms_loss(logits, classes, config) + config.onset_weight * onset_loss(onset_logits, onsets, config)
