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
- ``"presence"``: silence unless ``P(class > 0)`` exceeds a threshold, else
  the expectation over the non-silent classes (see
  :func:`probabilities_to_envelope`).
- ``"onsets"`` (models with an onset head): ``"presence"``, then every peak of
  the onset probability above ``onset_threshold`` is drawn as a hit: the
  envelope dips just before it and rises to the hit's level, decaying
  exponentially (:func:`render_onsets`). The class distribution alone is
  unsure of a hit's exact frame and spreads it, so its decoding rarely dips
  between close hits; the onset head places them.

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

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
from scipy.signal import find_peaks

from folai_models.quantize import MU, RMS_MIN, classes_to_rms, inverse_mu_law, mu_law
from folai_models.events import ONSET_NMS_WINDOW_S
from folai_models.rates import ENVELOPE_FRAME_RATE
from folai_models.video2rms.config import (
    DECODE_METHODS,
    EVENT_DECAY_S,
    EVENT_DIP_RATIO,
    EVENT_DIP_S,
    Video2RMSConfig,
    round_half_up,
)

if TYPE_CHECKING:  # torch is imported where a PyTorch model runs: the ONNX path never loads it
    import torch

    from folai_models.video2rms.model import Video2RMS
    from folai_models.video2rms.onnx_model import OnnxVideo2RMS

__all__ = [
    "PREDICT_BATCH_SIZE",
    "PREDICT_CPU_THREADS",
    "cpu_threads",
    "class_levels",
    "probabilities_to_envelope",
    "decode_with_config",
    "onset_peaks",
    "render_onsets",
    "logits_to_envelope",
    "resolve_hop_frames",
    "window_starts",
    "crossfade_weights",
    "pad_features",
    "predict_probabilities",
    "predict_outputs",
    "predict_envelope",
]

PREDICT_BATCH_SIZE = 16  # windows per forward pass at inference (~16 x 1250 x 64 floats of output)
# CPU threads at inference: the model is small (conv 64, LSTM 32 over 1250 steps), so a second thread
# only adds synchronisation; one minute of features took 0.26-0.39 s on 1 thread, 5.7-11 s on 2 threads
# of a busy 2-core machine (benchmarks/profile_stages.py, issue 19).
PREDICT_CPU_THREADS = 1


@contextmanager
def cpu_threads(n: int | None, device) -> Iterator[None]:
    """Run torch's CPU operators on ``n`` threads inside (None or a GPU device: unchanged)."""
    import torch

    if n is None or torch.device(device).type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def class_levels(n_classes: int, *, mu: float = MU, rms_min: float = RMS_MIN) -> tuple[np.ndarray, np.ndarray]:
    """RMS value of each class (its bin centre; class 0 -> 0) and its mu-law value."""
    rms = classes_to_rms(np.arange(n_classes), n_classes=n_classes, mu=mu, rms_min=rms_min).astype(np.float64)
    return rms, mu_law(rms, mu=mu)


DECODE_BLOCK_FRAMES = 1 << 15  # frames upcast to float64 at once: an hour is 450k frames x 64 classes


def _sound_and_level(probs: np.ndarray, compressed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(class > 0) and the expected mu-law level of the sounding classes, per frame, in float64.

    Computed a block of frames at a time so that an hour's probabilities are never copied
    whole into float64.
    """
    flat = probs.reshape(-1, probs.shape[-1])
    sound, level = np.empty(len(flat)), np.empty(len(flat))
    for start in range(0, len(flat), DECODE_BLOCK_FRAMES):
        block = np.asarray(flat[start : start + DECODE_BLOCK_FRAMES], dtype=np.float64)
        part = block[:, 1:].sum(axis=-1)
        sound[start : start + len(block)] = part
        level[start : start + len(block)] = block[:, 1:] @ compressed[1:] / np.maximum(part, 1e-12)
    return sound.reshape(probs.shape[:-1]), level.reshape(probs.shape[:-1])


def probabilities_to_envelope(
    probabilities, method: str = "expectation", *, mu: float = MU, rms_min: float = RMS_MIN,
    presence_threshold: float = 0.5, onset_probabilities=None, onset_threshold: float = 0.5,
    envelope_rate: float = ENVELOPE_FRAME_RATE, event_decay_s: float = EVENT_DECAY_S, event_dip_s: float = EVENT_DIP_S,
    event_dip_ratio: float = EVENT_DIP_RATIO,
) -> np.ndarray:
    """Decode class probabilities ``[..., N, n_classes]`` to RMS values ``[..., N]`` in [0, 1].

    See the module docstring for ``"expectation"`` and ``"argmax"``. ``"presence"``
    is a two-part (hurdle) decoding for sparse sound: silence unless
    ``P(class > 0) > presence_threshold``, else the expectation over the
    non-silent classes. On hits the model is rarely sure enough for argmax to
    leave class 0, and the plain expectation mixes the silence mass into the
    level; a threshold calibrated on the training videos avoids both.
    ``n_classes`` is the last axis; ``mu`` and ``rms_min`` must match training.
    ``"onsets"`` needs ``onset_probabilities`` (same shape without the class
    axis) and takes the remaining parameters (:func:`render_onsets`).

    Returns
    -------
    np.ndarray
        float32, same shape without the class axis.
    """
    if method not in DECODE_METHODS:
        raise ValueError(f"method must be one of {DECODE_METHODS}, got {method!r}")
    if hasattr(probabilities, "detach"):  # a torch tensor
        probabilities = probabilities.detach().cpu().numpy()
    probs = np.asarray(probabilities)
    if not np.issubdtype(probs.dtype, np.floating):
        probs = probs.astype(np.float64)
    if probs.ndim < 1 or probs.shape[-1] < 2:
        raise ValueError(f"probabilities need a class axis last, got shape {probs.shape}")
    rms, compressed = class_levels(probs.shape[-1], mu=mu, rms_min=rms_min)
    if method == "argmax":
        return rms[np.argmax(probs, axis=-1)].astype(np.float32)
    if method in ("presence", "onsets"):
        sound, level = _sound_and_level(probs, compressed)
        decoded = inverse_mu_law(np.clip(level, 0.0, 1.0), mu=mu)
        present = np.where(sound > presence_threshold, decoded, 0.0)
        if method == "presence":
            return present.astype(np.float32)
        if onset_probabilities is None:
            raise ValueError("'onsets' decoding needs onset probabilities (a model with an onset head)")
        onset_probs = np.asarray(onset_probabilities, dtype=np.float64)
        if onset_probs.shape != present.shape:
            raise ValueError(f"onset probabilities {onset_probs.shape} do not match the frames {present.shape}")
        rows = [render_onsets(b, lv, onset_peaks(o, onset_threshold, envelope_rate), envelope_rate,
                              decay_s=event_decay_s, dip_s=event_dip_s, dip_ratio=event_dip_ratio,
                              min_rms=2.0 * rms_min)
                for b, lv, o in zip(present.reshape(-1, present.shape[-1]), decoded.reshape(-1, present.shape[-1]),
                                    onset_probs.reshape(-1, present.shape[-1]))]
        return np.stack(rows).reshape(present.shape).astype(np.float32)
    probs = probs.astype(np.float64, copy=False)
    expected = probs @ compressed / np.maximum(probs.sum(axis=-1), 1e-12)
    return inverse_mu_law(np.clip(expected, 0.0, 1.0), mu=mu).astype(np.float32)


def onset_peaks(onset_probabilities, threshold: float, envelope_rate: float = ENVELOPE_FRAME_RATE,
                min_gap_s: float = ONSET_NMS_WINDOW_S) -> np.ndarray:
    """Frames where the onset probability peaks above ``threshold``, at least ``min_gap_s`` apart."""
    distance = max(1, round_half_up(min_gap_s * envelope_rate))
    peaks, _ = find_peaks(np.asarray(onset_probabilities, dtype=np.float64), height=threshold, distance=distance)
    return peaks.astype(np.int64)


def render_onsets(envelope, levels, onset_frames, envelope_rate: float = ENVELOPE_FRAME_RATE, *,
                  decay_s: float = EVENT_DECAY_S, dip_s: float = EVENT_DIP_S, dip_ratio: float = EVENT_DIP_RATIO,
                  min_rms: float = 2.0 * RMS_MIN) -> np.ndarray:
    """Draw a hit at each onset frame over ``envelope`` (1-D RMS).

    The hit's level is the largest of ``levels`` (the level the model expects
    if there is sound) over the next ``decay_s``, at least ``min_rms`` so the
    hit is audible. Over ``dip_s`` before the onset the envelope is lowered to
    ``dip_ratio`` times that level; from the onset on it is at least
    ``level * exp(-t / decay_s)``.

    Returns
    -------
    np.ndarray
        float64, same length as ``envelope``.
    """
    out = np.array(envelope, dtype=np.float64)
    levels = np.asarray(levels, dtype=np.float64)
    decay = decay_s * envelope_rate
    span, dip = int(np.ceil(6.0 * decay)), round_half_up(dip_s * envelope_rate)  # exp(-6): below -50 dB
    shape = np.exp(-np.arange(span) / decay)
    for frame in np.asarray(onset_frames, dtype=np.int64):
        level = max(float(levels[frame : frame + max(1, round_half_up(decay))].max()), min_rms)
        before = slice(max(0, frame - dip), frame)
        out[before] = np.minimum(out[before], dip_ratio * level)
        n = min(span, len(out) - frame)
        out[frame : frame + n] = np.maximum(out[frame : frame + n], level * shape[:n])
    return out


def decode_with_config(probabilities, config: Video2RMSConfig, *, method: str | None = None,
                       onset_probabilities=None) -> np.ndarray:
    """:func:`probabilities_to_envelope` with every decoding parameter taken from ``config``."""
    return probabilities_to_envelope(
        probabilities, method or config.decode_method, mu=config.mu, rms_min=config.rms_min,
        presence_threshold=config.presence_threshold, onset_probabilities=onset_probabilities,
        onset_threshold=config.onset_threshold, envelope_rate=config.envelope_rate,
        event_decay_s=config.event_decay_s, event_dip_s=config.event_dip_s, event_dip_ratio=config.event_dip_ratio)


def logits_to_envelope(
    logits, method: str = "expectation", *, config: Video2RMSConfig | None = None, onset_logits=None,
) -> np.ndarray:
    """Decode logits ``[..., N, n_classes]`` (torch or numpy) to an RMS envelope ``[..., N]``.

    Softmax over the class axis, then :func:`probabilities_to_envelope` with
    ``config``'s parameters (defaults: the paper values). ``onset_logits``
    ``[..., N]`` (from the onset head) are needed by ``"onsets"`` decoding.
    """
    import torch

    probs = torch.softmax(torch.as_tensor(logits).detach().float(), dim=-1)
    onset_probs = None if onset_logits is None else torch.sigmoid(torch.as_tensor(onset_logits).detach().float())
    if config is None:
        return probabilities_to_envelope(probs, method, mu=MU, rms_min=RMS_MIN, onset_probabilities=onset_probs)
    return decode_with_config(probs.cpu().numpy(), config, method=method,
                              onset_probabilities=None if onset_probs is None else onset_probs.cpu().numpy())


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


def predict_probabilities(
    model: Video2RMS | OnnxVideo2RMS,
    features,
    config: Video2RMSConfig | None = None,
    *,
    hop_s: float | None = None,
    device: str | torch.device | None = None,
    batch_size: int = PREDICT_BATCH_SIZE,
) -> np.ndarray:
    """Class probabilities ``(n_envelope_frames_for_video_frames(T), n_classes)`` of a video of any length.

    The first half of :func:`predict_outputs` (same parameters).
    """
    return predict_outputs(model, features, config, hop_s=hop_s, device=device, batch_size=batch_size)[0]


WindowOutputs = Callable[[np.ndarray], "tuple[np.ndarray, np.ndarray | None]"]


def predict_outputs(
    model: Video2RMS | OnnxVideo2RMS,
    features,
    config: Video2RMSConfig | None = None,
    *,
    hop_s: float | None = None,
    device: str | torch.device | None = None,
    batch_size: int = PREDICT_BATCH_SIZE,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Class (and onset) probabilities for every envelope frame of a video of any length.

    Parameters
    ----------
    model : Video2RMS or OnnxVideo2RMS
        A PyTorch model is run in eval mode here (its previous mode is restored afterwards); an
        :class:`~folai_models.video2rms.onnx_model.OnnxVideo2RMS` (the same network exported to
        ONNX, run by onnxruntime on the CPU) gives the same windows without PyTorch.
    features : np.ndarray, shape (T, input_dim)
        Frame features of the whole video at ``config.frame_rate``.
    config : Video2RMSConfig, optional
        Defaults to ``model.config``.
    hop_s : float, optional
        Window hop; default ``window_s * (1 - inference_overlap)``.
    device : optional
        PyTorch models: where to run; None = where the model's parameters are (else the model is moved).
    batch_size : int
        Windows per forward pass.

    Returns
    -------
    probabilities : np.ndarray
        Shape ``(config.n_envelope_frames_for_video_frames(T), n_classes)``, float32, rows sum to 1.
    onset_probabilities : np.ndarray or None
        Shape ``(config.n_envelope_frames_for_video_frames(T),)``, float32, crossfaded like the
        classes; None when the model has no onset head.
    """
    config = config or model.config
    if hasattr(model, "window_outputs"):  # onnxruntime: no torch state to set up
        return _crossfade_windows(model.window_outputs, model.has_onset_head, features, config, hop_s, batch_size)
    import torch

    if device is None:
        device = next(model.parameters()).device
    model.to(device)
    was_training = model.training
    model.eval()

    def window_outputs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        logits, onset_logits = model.forward_with_onsets(torch.from_numpy(x).to(device))
        probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return probs, None if onset_logits is None else torch.sigmoid(onset_logits.float()).cpu().numpy()

    try:
        with torch.inference_mode(), cpu_threads(PREDICT_CPU_THREADS, device):
            return _crossfade_windows(window_outputs, model.onset_head is not None, features, config, hop_s,
                                      batch_size)
    finally:
        model.train(was_training)


def _crossfade_windows(window_outputs: WindowOutputs, has_onsets: bool, features, config: Video2RMSConfig,
                       hop_s: float | None, batch_size: int) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`predict_outputs` over any model: ``window_outputs`` maps windows ``[B, window_frames, D]``
    to class probabilities ``[B, window_envelope_frames, C]`` and onset probabilities (or None)."""
    feats = _check_features(features, config)
    n_total = config.n_envelope_frames_for_video_frames(len(feats))
    window = config.window_frames
    starts = window_starts(len(feats), config, resolve_hop_frames(config, hop_s))
    env_starts = [config.envelope_frame_of(s) for s in starts]
    weights = crossfade_weights(env_starts, config.window_envelope_frames, n_total)
    # float32 sums of (at most a few) crossfaded windows: within an ulp of float64 sums, and half the
    # memory (an hour at 125 frames/s x 64 classes is 115 MB in float32)
    total = np.zeros((n_total, config.n_classes), dtype=np.float32)
    onset_total = np.zeros(n_total, dtype=np.float32) if has_onsets else None
    weight_sum = np.zeros(n_total, dtype=np.float32)
    for b in range(0, len(starts), max(1, int(batch_size))):
        chunk = starts[b : b + batch_size]
        probs, onsets = window_outputs(np.stack([pad_features(feats[s:], window) for s in chunk]))
        for i, k in enumerate(range(b, b + len(chunk))):
            e, w = env_starts[k], weights[k]
            total[e : e + len(w)] += w[:, None] * probs[i, : len(w)]
            if onset_total is not None:
                onset_total[e : e + len(w)] += w * onsets[i, : len(w)]
            weight_sum[e : e + len(w)] += w
    onset_probs = None if onset_total is None else onset_total / weight_sum
    total /= weight_sum[:, None]  # in place: no second copy of the largest array
    return total, onset_probs


def predict_envelope(
    model: Video2RMS | OnnxVideo2RMS,
    features,
    config: Video2RMSConfig | None = None,
    *,
    method: str | None = None,
    hop_s: float | None = None,
    device: str | torch.device | None = None,
    batch_size: int = PREDICT_BATCH_SIZE,
) -> np.ndarray:
    """RMS envelope of a video of any length at ``config.envelope_rate``.

    :func:`predict_outputs` (windows, crossfade), then
    :func:`probabilities_to_envelope` with ``method`` (default
    ``config.decode_method``) and ``config``'s decoding parameters. The output has exactly
    ``config.n_envelope_frames_for_video_frames(T)`` frames on the grid ``(i + 0.5) / envelope_rate``;
    resample with :func:`folai_models.envelope.interpolate_envelope` for another grid.

    Returns
    -------
    np.ndarray
        Shape ``(n_envelope_frames_for_video_frames(T),)``, float32, in [0, 1].
    """
    config = config or model.config
    probs, onset_probs = predict_outputs(model, features, config, hop_s=hop_s, device=device, batch_size=batch_size)
    return decode_with_config(probs, config, method=method, onset_probabilities=onset_probs)
