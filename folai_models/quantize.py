"""Discretization of RMS envelopes into mu-law classes, and Gaussian label smoothing.

Video2RMS is trained as a classifier over envelope levels (Video-Foley III-C,
FolAI III-B): the RMS value ``r`` in [0, 1] is mu-law compressed (Video-Foley
eq. 2), split into equidistant bins between ``rms_min`` and 1, and class 0 is
kept for silence (``r < rms_min``). Targets are blurred over neighbouring
classes with Gaussian label smoothing (Video-Foley eq. 3, FolAI eq. 8).

Differences from the authors' code, both kept as parameters:

- their code calls the mu-law with ``mu = n_classes`` (64), while the paper's
  formula says ``mu + 1`` is the number of bins (``mu = 63``); we follow the
  paper and the spec (``MU = 63``);
- bin edges follow their code: ``inverse_mu_law(linspace(mu_law(rms_min), 1,
  n_classes))`` and ``torch.bucketize(..., right=True)``, i.e.
  ``np.searchsorted(edges, r, side="right")`` clipped to ``n_classes - 1``.
"""

from __future__ import annotations

import librosa
import numpy as np

__all__ = [
    "N_CLASSES",
    "MU",
    "RMS_MIN",
    "LABEL_SMOOTHING_SIGMA",
    "LABEL_SMOOTHING_WINDOW",
    "mu_law",
    "inverse_mu_law",
    "class_edges",
    "rms_to_classes",
    "classes_to_rms",
    "gaussian_label_smoothing",
]

N_CLASSES = 64  # FolAI III-B / Video-Foley IV-B1: 64 RMS classes (~0.5 dB each)
MU = 63  # Video-Foley eq. 2: mu + 1 = number of bins (authors' code passes 64)
RMS_MIN = 0.01  # spec stage 7 / Video-Foley code: class 0 = silence below rms_min
LABEL_SMOOTHING_SIGMA = 1.0  # Video-Foley eq. 3 / FolAI eq. 8: sigma = 1
LABEL_SMOOTHING_WINDOW = 2  # Video-Foley IV-B1 and V-D ablation (Fig. 10): W = 2


def _as_float_array(x, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _as_unit_range(x, name: str, caller: str) -> np.ndarray:
    """:func:`_as_float_array`, also requiring values in [-1, 1] (the mu-law's domain)."""
    arr = _as_float_array(x, name)
    if np.any(np.abs(arr) > 1.0):
        raise ValueError(f"{caller} expects values in [-1, 1]")
    return arr


def _check_params(n_classes: int, mu: float, rms_min: float) -> None:
    if int(n_classes) != n_classes or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
    if not np.isfinite(mu) or mu <= 0:
        raise ValueError(f"mu must be a positive finite number, got {mu!r}")
    if not (0.0 < rms_min < 1.0):
        raise ValueError(f"rms_min must lie in (0, 1), got {rms_min!r}")


def mu_law(x, mu: float = MU) -> np.ndarray:
    """Mu-law compression ``f(r) = ln(1 + mu |r|) / ln(1 + mu)`` (Video-Foley eq. 2).

    Same as ``librosa.mu_compress(x, mu=mu, quantize=False)``, which it calls.

    Parameters
    ----------
    x : array_like
        Values in [-1, 1] (RMS values lie in [0, 1]).
    mu : float
        Compression parameter; ``mu + 1`` bins in the paper's convention.

    Returns
    -------
    np.ndarray
        Compressed values in [-1, 1], float64.
    """
    arr = _as_unit_range(x, "x", "mu_law")
    return np.asarray(librosa.mu_compress(arr, mu=mu, quantize=False), dtype=np.float64)


def inverse_mu_law(y, mu: float = MU) -> np.ndarray:
    """Inverse of :func:`mu_law`; same as ``librosa.mu_expand(y, mu=mu, quantize=False)``.

    Parameters
    ----------
    y : array_like
        Compressed values in [-1, 1].
    mu : float
        Compression parameter used by :func:`mu_law`.

    Returns
    -------
    np.ndarray
        Expanded values in [-1, 1], float64.
    """
    arr = _as_unit_range(y, "y", "inverse_mu_law")
    return np.asarray(librosa.mu_expand(arr, mu=mu, quantize=False), dtype=np.float64)


def class_edges(n_classes: int = N_CLASSES, mu: float = MU, rms_min: float = RMS_MIN) -> np.ndarray:
    """Lower RMS edges of classes ``1 .. n_classes - 1`` (plus the top edge 1.0).

    ``edges = inverse_mu_law(linspace(mu_law(rms_min), 1, n_classes))``, as in the
    Video-Foley code: ``n_classes`` values, ``edges[0] = rms_min``, ``edges[-1] = 1``.
    Class ``c >= 1`` covers ``[edges[c - 1], edges[c])``; the last class also
    takes ``r >= 1``; class 0 is ``r < rms_min``.

    Returns
    -------
    np.ndarray
        Shape ``(n_classes,)``, float64, strictly increasing.
    """
    _check_params(n_classes, mu, rms_min)
    compressed = np.linspace(mu_law(rms_min, mu=mu).item(), 1.0, int(n_classes))
    edges = inverse_mu_law(compressed, mu=mu)
    edges[0], edges[-1] = rms_min, 1.0  # exact ends despite float round-trip
    return edges


def rms_to_classes(
    envelope,
    *,
    n_classes: int = N_CLASSES,
    mu: float = MU,
    rms_min: float = RMS_MIN,
) -> np.ndarray:
    """Discretize RMS values into mu-law classes.

    ``class(r) = searchsorted(edges, r, side="right")`` clipped to ``n_classes - 1``
    (``torch.bucketize(right=True)`` in the authors' code), so ``r < rms_min`` is
    class 0 and ``r >= rms_min`` is one of ``1 .. n_classes - 1``.

    Parameters
    ----------
    envelope : array_like
        Non-negative RMS values, any shape. Values above 1 fall in the top class.

    Returns
    -------
    np.ndarray
        Class indices, same shape, int64.
    """
    env = _as_float_array(envelope, "envelope")
    if np.any(env < 0):
        raise ValueError("envelope contains negative values; RMS must be >= 0")
    edges = class_edges(n_classes, mu, rms_min)
    classes = np.searchsorted(edges, env, side="right")
    return np.minimum(classes, int(n_classes) - 1).astype(np.int64)


def classes_to_rms(
    classes,
    *,
    n_classes: int = N_CLASSES,
    mu: float = MU,
    rms_min: float = RMS_MIN,
) -> np.ndarray:
    """Map classes back to a representative RMS value.

    Class 0 maps to 0.0 (silence). Class ``c >= 1`` maps to the centre of its bin
    in the mu-law domain, ``inverse_mu_law((f(edges[c-1]) + f(edges[c])) / 2)``,
    which lies strictly inside the bin, so ``rms_to_classes(classes_to_rms(c)) == c``.

    Parameters
    ----------
    classes : array_like of int
        Class indices in ``[0, n_classes)``, any shape.

    Returns
    -------
    np.ndarray
        RMS values, same shape, float32.
    """
    cls = _check_classes(classes, n_classes)
    edges = class_edges(n_classes, mu, rms_min)
    compressed = mu_law(edges, mu=mu)
    centres = inverse_mu_law((compressed[:-1] + compressed[1:]) / 2.0, mu=mu)
    table = np.concatenate([[0.0], centres]).astype(np.float32)
    return table[cls]


def _check_classes(classes, n_classes: int) -> np.ndarray:
    cls = np.asarray(classes)
    if cls.size == 0:
        raise ValueError("classes is empty")
    if not np.issubdtype(cls.dtype, np.integer):
        if not np.issubdtype(cls.dtype, np.floating) or not np.all(np.isfinite(cls)):
            raise ValueError("classes must be integers (no NaN)")
        if np.any(cls != np.round(cls)):
            raise ValueError("classes must be whole numbers")
    cls = cls.astype(np.int64)
    if np.any(cls < 0) or np.any(cls >= n_classes):
        raise ValueError(f"classes must lie in [0, {n_classes - 1}]")
    return cls


def gaussian_label_smoothing(
    classes,
    *,
    n_classes: int = N_CLASSES,
    sigma: float = LABEL_SMOOTHING_SIGMA,
    window: int = LABEL_SMOOTHING_WINDOW,
    normalize: bool = True,
) -> np.ndarray:
    """Soft targets by Gaussian label smoothing (Video-Foley eq. 3, FolAI eq. 8).

    ``y(k) = exp(-(k - c_gt)^2 / (2 sigma^2))`` for ``|k - c_gt| <= window`` with
    ``k, c_gt != 0``, else 0. A silent target (``c_gt = 0``) is not blurred: its
    row is one-hot on class 0, and non-silent targets never leak into class 0.

    Parameters
    ----------
    classes : array_like of int, shape (T,)
        Ground-truth classes per frame.
    n_classes : int
        Number of classes (columns).
    sigma : float
        Gaussian width in classes.
    window : int
        Half-width W; ``window = 0`` gives one-hot targets.
    normalize : bool
        Divide each row by its sum (default). The rows are soft targets for
        cross-entropy, so they should be probability distributions; the
        unnormalized equation (peak 1, sum about 2.5 for W = 2) would scale the
        loss of non-silent frames up relative to silent ones.

    Returns
    -------
    np.ndarray
        Shape ``(T, n_classes)``, float32.
    """
    if not np.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma!r}")
    if int(window) != window or window < 0:
        raise ValueError(f"window must be a non-negative integer, got {window!r}")
    cls = _check_classes(classes, n_classes)
    if cls.ndim != 1:
        raise ValueError(f"classes must be 1-D (T,), got shape {cls.shape}")
    k = np.arange(int(n_classes))[None, :]
    distance = k - cls[:, None]
    labels = np.exp(-(distance.astype(np.float64) ** 2) / (2.0 * sigma**2))
    labels[np.abs(distance) > window] = 0.0
    labels[:, 0] = 0.0  # c_k != 0: non-silent targets never spill into silence
    silent = cls == 0
    labels[silent] = 0.0
    labels[silent, 0] = 1.0  # c_gt = 0: one-hot, not blurred
    if normalize:
        labels /= labels.sum(axis=1, keepdims=True)
    return labels.astype(np.float32)
