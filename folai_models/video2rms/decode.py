"""From logits to RMS envelopes, for single windows and for videos of any length.

Decoding (:func:`probabilities_to_envelope`):

- ``"argmax"``: the most probable class, mapped to its bin centre by
  :func:`folai_models.quantize.classes_to_rms` (class 0 -> 0.0). This is how
  both papers decode; the envelope is a staircase of 64 levels.
- ``"expectation"``: the probability-weighted mean of the class centres in the
  mu-law domain, then the inverse mu-law. Bins are equidistant in the mu-law
  domain, so this is the "average class" and moves smoothly between levels
  (fewer one-frame flickers between neighbouring classes; it also reflects
  the label smoothing the model was trained with). When the distribution is
  bimodal (silence vs. a hit) it lands in between; use ``"argmax"`` to get
  the papers' decoding.

Long videos (:func:`predict_probabilities`, SPEC stage 11): the features are cut
into model windows of ``config.window_s`` that overlap by
``config.inference_overlap`` (25 %). Window starts are multiples of
``config.alignment_frames`` (6 video frames = 25 envelope frames at 30 / 125
fps), so every window lands on exact envelope frames. The per-window class
probabilities are crossfaded linearly over each overlap (weights sum to one),
so there are no seams; the result is decoded once. The last window is placed
to end at the video's end (up to ``alignment_frames - 1`` frames past it).
Windows that run past the video (and videos shorter than one window) are
padded by repeating the last feature row ("edge"): a frozen continuation is
closer to real features than zeros, which the model never sees, and the conv
blocks then see no step at the end. Outputs over padding are cropped; the
training chunks (:func:`folai_models.video2rms.train.make_chunks`) pad the same
way.
"""

from __future__ import annotations

import numpy as np
import torch

from folai_models.quantize import MU, RMS_MIN, classes_to_rms, inverse_mu_law, mu_law
from folai_models.video2rms.config import DECODE_METHODS, Video2RMSConfig, round_half_up
from folai_models.video2rms.model import Video2RMS

__all__ = [
    "PREDICT_BATCH_SIZE",
    "class_levels",
    "probabilities_to_envelope",
    "logits_to_envelope",
    "resolve_hop_frames",
    "window_starts",
    "crossfade_weights",
    "pad_features",
    "predict_probabilities",
    "predict_envelope",
]

PREDICT_BATCH_SIZE = 16  # windows per forward pass at inference (~16 x 1250 x 64 floats of output)


def class_levels(n_classes: int, *, mu: float = MU, rms_min: float = RMS_MIN) -> tuple[np.ndarray, np.ndarray]:
    """RMS value of each class (its bin centre; class 0 -> 0) and its mu-law value."""
    rms = classes_to_rms(np.arange(n_classes), n_classes=n_classes, mu=mu, rms_min=rms_min).astype(np.float64)
    return rms, mu_law(rms, mu=mu)


def probabilities_to_envelope(
    probabilities, method: str = "expectation", *, mu: float = MU, rms_min: float = RMS_MIN,
    presence_threshold: float = 0.5,
) -> np.ndarray:
    """Decode class probabilities ``[..., N, n_classes]`` to RMS values ``[..., N]`` in [0, 1].

    See the module docstring for ``"expectation"`` and ``"argmax"``. ``"presence"``
    is a two-part (hurdle) decoding for sparse sound: silence unless
    ``P(class > 0) > presence_threshold``, else the expectation over the
    non-silent classes. On hits the model is rarely sure enough for argmax to
    leave class 0, and the plain expectation mixes the silence mass into the
    level; a threshold calibrated on the training videos avoids both.
    ``n_classes`` is the last axis; ``mu`` and ``rms_min`` must match training.

    Returns
    -------
    np.ndarray
        float32, same shape without the class axis.
    """
    if method not in DECODE_METHODS:
        raise ValueError(f"method must be one of {DECODE_METHODS}, got {method!r}")
    if isinstance(probabilities, torch.Tensor):
        probabilities = probabilities.detach().cpu().numpy()
    probs = np.asarray(probabilities, dtype=np.float64)
    if probs.ndim < 1 or probs.shape[-1] < 2:
        raise ValueError(f"probabilities need a class axis last, got shape {probs.shape}")
    rms, compressed = class_levels(probs.shape[-1], mu=mu, rms_min=rms_min)
    if method == "argmax":
        return rms[np.argmax(probs, axis=-1)].astype(np.float32)
    if method == "presence":
        sound = probs[..., 1:].sum(axis=-1)
        level = probs[..., 1:] @ compressed[1:] / np.maximum(sound, 1e-12)
        decoded = inverse_mu_law(np.clip(level, 0.0, 1.0), mu=mu)
        return np.where(sound > presence_threshold, decoded, 0.0).astype(np.float32)
    expected = probs @ compressed / np.maximum(probs.sum(axis=-1), 1e-12)
    return inverse_mu_law(np.clip(expected, 0.0, 1.0), mu=mu).astype(np.float32)


def logits_to_envelope(
    logits, method: str = "expectation", *, config: Video2RMSConfig | None = None
) -> np.ndarray:
    """Decode logits ``[..., N, n_classes]`` (torch or numpy) to an RMS envelope ``[..., N]``.

    Softmax over the class axis, then :func:`probabilities_to_envelope`;
    ``config`` supplies ``mu`` and ``rms_min`` (defaults: the paper values).
    """
    logits = torch.as_tensor(logits).detach().float()
    probs = torch.softmax(logits, dim=-1)
    mu, rms_min = (config.mu, config.rms_min) if config is not None else (MU, RMS_MIN)
    threshold = config.presence_threshold if config is not None else 0.5
    return probabilities_to_envelope(probs, method, mu=mu, rms_min=rms_min, presence_threshold=threshold)


def resolve_hop_frames(config: Video2RMSConfig, hop_s: float | None = None) -> int:
    """Hop between windows in video frames, a multiple of ``config.alignment_frames``.

    ``hop_s=None`` means ``window_s * (1 - inference_overlap)``. The hop is
    rounded down to the alignment step (so the overlap is never smaller than
    asked), at least one step and at most one window.
    """
    if hop_s is None:
        hop_s = config.window_s * (1.0 - config.inference_overlap)
    if not (np.isfinite(hop_s) and hop_s > 0):
        raise ValueError(f"hop_s must be positive, got {hop_s!r}")
    step = config.alignment_frames
    hop = (round_half_up(hop_s * config.frame_rate) // step) * step
    return int(min(max(hop, step), config.window_frames))


def window_starts(n_frames: int, config: Video2RMSConfig, hop_frames: int) -> list[int]:
    """First video frame of each window covering ``n_frames`` frames.

    ``0, hop, 2 hop, ...``; the last start is the first multiple of
    ``alignment_frames`` at or after ``n_frames - window_frames``, so the last
    window reaches the end. One window (start 0) when the video is shorter.
    """
    if n_frames < 1:
        raise ValueError("features are empty: no video frames")
    window, step = config.window_frames, config.alignment_frames
    last = max(0, -(-(n_frames - window) // step) * step)  # ceil to a multiple of step
    starts = [0]
    while starts[-1] < last:
        starts.append(min(starts[-1] + hop_frames, last))
    return starts


def crossfade_weights(env_starts: list[int], window_length: int, n_total: int) -> list[np.ndarray]:
    """Per-window weights over its envelope frames: linear ramps across each overlap.

    Over the overlap of two neighbours the fade-out of one and the fade-in of
    the other sum to one (``(i + 0.5) / L`` steps); elsewhere the weight is 1.
    Each array has the window's length clipped at ``n_total``.
    """
    weights = []
    ends = [s + window_length for s in env_starts]
    for k, start in enumerate(env_starts):
        i = np.arange(min(window_length, n_total - start), dtype=np.float64)
        w = np.ones_like(i)
        if k > 0 and ends[k - 1] > start:
            w = np.minimum(w, (i + 0.5) / (ends[k - 1] - start))
        if k + 1 < len(env_starts) and ends[k] > env_starts[k + 1]:
            overlap = ends[k] - env_starts[k + 1]
            w = np.minimum(w, (window_length - i - 0.5) / overlap)
        weights.append(np.clip(w, 0.0, 1.0))
    return weights


def pad_features(features: np.ndarray, n_frames: int) -> np.ndarray:
    """``features`` [T, D] cut or edge-padded (last row repeated) to ``n_frames`` rows."""
    if len(features) >= n_frames:
        return features[:n_frames]
    return np.pad(features, ((0, n_frames - len(features)), (0, 0)), mode="edge")


def _check_features(features, config: Video2RMSConfig) -> np.ndarray:
    feats = np.asarray(features, dtype=np.float32)
    if feats.ndim != 2 or feats.shape[1] != config.input_dim:
        raise ValueError(f"features must be [frames, {config.input_dim}], got shape {feats.shape}")
    if feats.shape[0] == 0:
        raise ValueError("features are empty: no video frames")
    if not np.all(np.isfinite(feats)):
        raise ValueError("features contain NaN or infinite values")
    return feats


@torch.inference_mode()
def predict_probabilities(
    model: Video2RMS,
    features,
    config: Video2RMSConfig | None = None,
    *,
    hop_s: float | None = None,
    device: str | torch.device | None = None,
    batch_size: int = PREDICT_BATCH_SIZE,
) -> np.ndarray:
    """Class probabilities for every envelope frame of a video of any length.

    Parameters
    ----------
    model : Video2RMS
        Run in eval mode here (its previous mode is restored afterwards).
    features : np.ndarray, shape (T, input_dim)
        Frame features of the whole video at ``config.frame_rate``.
    config : Video2RMSConfig, optional
        Defaults to ``model.config``.
    hop_s : float, optional
        Window hop; default ``window_s * (1 - inference_overlap)``.
    device : optional
        Where to run; None = where the model's parameters are (else the model is moved).
    batch_size : int
        Windows per forward pass.

    Returns
    -------
    np.ndarray
        Shape ``(config.n_envelope_frames(T), n_classes)``, float32, rows sum to 1.
    """
    config = config or model.config
    feats = _check_features(features, config)
    n_total = config.n_envelope_frames(len(feats))
    window, n_window = config.window_frames, config.window_envelope_frames
    starts = window_starts(len(feats), config, resolve_hop_frames(config, hop_s))
    env_starts = [config.envelope_frame_of(s) for s in starts]
    weights = crossfade_weights(env_starts, n_window, n_total)
    if device is None:
        device = next(model.parameters()).device
    model.to(device)
    was_training = model.training
    model.eval()
    total = np.zeros((n_total, config.n_classes), dtype=np.float64)
    weight_sum = np.zeros(n_total, dtype=np.float64)
    try:
        for b in range(0, len(starts), max(1, int(batch_size))):
            chunk = starts[b : b + batch_size]
            x = np.stack([pad_features(feats[s:], window) for s in chunk])
            probs = torch.softmax(model(torch.from_numpy(x).to(device)).float(), dim=-1).cpu().numpy()
            for k, p in zip(range(b, b + len(chunk)), probs):
                e, w = env_starts[k], weights[k]
                total[e : e + len(w)] += w[:, None] * p[: len(w)]
                weight_sum[e : e + len(w)] += w
    finally:
        model.train(was_training)
    return (total / weight_sum[:, None]).astype(np.float32)


def predict_envelope(
    model: Video2RMS,
    features,
    config: Video2RMSConfig | None = None,
    *,
    method: str | None = None,
    hop_s: float | None = None,
    device: str | torch.device | None = None,
    batch_size: int = PREDICT_BATCH_SIZE,
) -> np.ndarray:
    """RMS envelope of a video of any length at ``config.envelope_rate``.

    :func:`predict_probabilities` (windows, crossfade), then
    :func:`probabilities_to_envelope` with ``method`` (default
    ``config.decode_method``). The output has exactly
    ``config.n_envelope_frames(T)`` frames on the grid ``(i + 0.5) / envelope_rate``;
    resample with :func:`folai_models.envelope.interpolate_envelope` for another grid.

    Returns
    -------
    np.ndarray
        Shape ``(n_envelope_frames(T),)``, float32, in [0, 1].
    """
    config = config or model.config
    probs = predict_probabilities(model, features, config, hop_s=hop_s, device=device, batch_size=batch_size)
    return probabilities_to_envelope(probs, method or config.decode_method, mu=config.mu, rms_min=config.rms_min,
                                     presence_threshold=config.presence_threshold)
