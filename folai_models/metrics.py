"""Envelope metrics (spec item 14): E-L1, Acc@k, correlation, onset scores.

E-L1 alone rewards predicting silence on sparse clips, so
:func:`envelope_scores` always reports it beside the onset F1 and the
correlation of the two envelopes.

NaN policy: a score that is undefined for the input (correlation with a
constant envelope, Acc@k with no non-silent frame, timing error with no
matched onset) is ``nan``, never a made-up number; the caller decides how to
aggregate (e.g. ``np.nanmean``) and should report how many were undefined.
"""

from __future__ import annotations

import mir_eval
import numpy as np

from folai_models.events import detect_onsets
from folai_models.quantize import MU, N_CLASSES, RMS_MIN, rms_to_classes

__all__ = [
    "ONSET_TOLERANCE_S",
    "ACCURACY_TOLERANCES",
    "e_l1",
    "accuracy_at_k",
    "envelope_correlation",
    "onset_scores",
    "envelope_scores",
]

ONSET_TOLERANCE_S = 0.1  # Video-Foley IV-D (after CondFoleyGen): onsets match within +-0.1 s
ACCURACY_TOLERANCES = (1, 5, 10)  # FolAI V-C2 / spec item 14: Acc@1, Acc@5, Acc@10 (classes)


def _aligned_pair(reference, estimate, name: str = "envelope") -> tuple[np.ndarray, np.ndarray]:
    """Two finite 1-D arrays of equal length; a 1-frame length difference is trimmed."""
    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    for label, arr in (("reference", ref), ("estimate", est)):
        if arr.ndim != 1:
            raise ValueError(f"{label} {name} must be 1-D, got shape {arr.shape}")
        if arr.size == 0:
            raise ValueError(f"{label} {name} is empty")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{label} {name} contains NaN or infinite values")
    if abs(ref.size - est.size) > 1:
        raise ValueError(
            f"reference and estimate {name}s differ in length ({ref.size} vs {est.size} "
            "frames); only a 1-frame difference is trimmed"
        )
    n = min(ref.size, est.size)
    return ref[:n], est[:n]


def e_l1(reference, estimate) -> float:
    """E-L1: mean absolute difference of two envelopes (T-Foley; FolAI eq. 10, Video-Foley IV-D).

    Parameters
    ----------
    reference, estimate : np.ndarray, shape (n_frames,)
        Envelopes on the same frame grid; if their lengths differ by one frame
        the longer is trimmed, a larger difference is an error.

    Returns
    -------
    float
    """
    ref, est = _aligned_pair(reference, estimate)
    return float(np.mean(np.abs(ref - est)))


def accuracy_at_k(reference_classes, estimate_classes, k: int) -> float:
    """Fraction of frames whose classes differ by at most ``k``.

    Frames where both classes are 0 (silent in both) are dropped, as in
    Video-Foley IV-D; otherwise the many silent frames of sparse clips would
    reward predicting silence. Returns ``nan`` when no frame is left.

    Parameters
    ----------
    reference_classes, estimate_classes : array_like of int, shape (n_frames,)
        Envelope classes (:func:`folai_models.quantize.rms_to_classes`); a
        1-frame length difference is trimmed.
    k : int
        Tolerance in classes (>= 0).

    Returns
    -------
    float
    """
    if int(k) != k or k < 0:
        raise ValueError(f"k must be a non-negative integer, got {k!r}")
    ref, est = _aligned_pair(reference_classes, estimate_classes, "class sequence")
    for label, arr in (("reference", ref), ("estimate", est)):
        if np.any(arr < 0) or np.any(arr != np.round(arr)):
            raise ValueError(f"{label} classes must be non-negative integers")
    scored = ~((ref == 0) & (est == 0))
    if not np.any(scored):
        return float("nan")
    return float(np.mean(np.abs(ref[scored] - est[scored]) <= k))


def envelope_correlation(reference, estimate) -> float:
    """Pearson correlation of two envelopes.

    Returns ``nan`` when either envelope is constant (the correlation is
    undefined; a silent clip is constant), leaving the policy to the caller.
    """
    ref, est = _aligned_pair(reference, estimate)
    if ref.size < 2 or np.ptp(ref) == 0 or np.ptp(est) == 0:
        return float("nan")
    return float(np.corrcoef(ref, est)[0, 1])


def _onset_array(onsets, label: str) -> np.ndarray:
    arr = np.asarray(onsets, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{label} onsets must be 1-D, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{label} onsets contain NaN or infinite values")
    if np.any(arr < 0):
        raise ValueError(f"{label} onsets contain negative times")
    return np.sort(arr)


def onset_scores(reference_onsets, estimate_onsets, *, window_s: float = ONSET_TOLERANCE_S) -> dict:
    """Onset precision, recall, F1 and timing error within ``+-window_s``.

    Precision / recall / F1 come from ``mir_eval.onset.f_measure`` (one-to-one
    matching); the timing errors are those of the pairs matched by
    ``mir_eval.util.match_events``.

    Empty inputs: both empty is perfect agreement on silence (precision,
    recall and F1 are 1.0); exactly one empty gives 0.0 for all three. The
    median errors are ``nan`` when nothing is matched.

    Parameters
    ----------
    reference_onsets, estimate_onsets : array_like, shape (n,)
        Onset times in seconds (sorted here).
    window_s : float
        Matching tolerance in seconds.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1``, ``median_abs_error_s`` (median of
        ``|est - ref|`` over matches), ``median_error_s`` (median of
        ``est - ref``: positive means late), ``n_reference``, ``n_estimate``,
        ``n_matched``.
    """
    if not np.isfinite(window_s) or window_s <= 0:
        raise ValueError(f"window_s must be positive, got {window_s!r}")
    ref = _onset_array(reference_onsets, "reference")
    est = _onset_array(estimate_onsets, "estimate")
    scores = {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "median_abs_error_s": float("nan"),
        "median_error_s": float("nan"),
        "n_reference": int(ref.size),
        "n_estimate": int(est.size),
        "n_matched": 0,
    }
    if ref.size == 0 and est.size == 0:
        scores.update(precision=1.0, recall=1.0, f1=1.0)
        return scores
    if ref.size == 0 or est.size == 0:
        return scores  # mir_eval would warn and return zeros
    f1, precision, recall = mir_eval.onset.f_measure(ref, est, window=window_s)
    matches = mir_eval.util.match_events(ref, est, window_s)
    scores.update(precision=float(precision), recall=float(recall), f1=float(f1), n_matched=len(matches))
    if matches:
        ref_idx, est_idx = np.asarray(matches).T
        errors = est[est_idx] - ref[ref_idx]
        scores.update(
            median_abs_error_s=float(np.median(np.abs(errors))),
            median_error_s=float(np.median(errors)),
        )
    return scores


def envelope_scores(
    reference_envelope,
    estimate_envelope,
    frame_rate: float,
    *,
    tolerances=ACCURACY_TOLERANCES,
    onset_window_s: float = ONSET_TOLERANCE_S,
    n_classes: int = N_CLASSES,
    mu: float = MU,
    rms_min: float = RMS_MIN,
    onset_kwargs: dict | None = None,
) -> dict:
    """All envelope metrics of spec item 14 for one clip, as a flat dict.

    Envelopes are continuous RMS on the same grid (unsmoothed, as in stage 7
    for metrics). Classes for Acc@k come from
    :func:`folai_models.quantize.rms_to_classes`; onsets of both envelopes from
    :func:`folai_models.events.detect_onsets` (``onset_kwargs`` passed on).

    Returns
    -------
    dict
        ``e_l1``, ``correlation``, ``acc@{k}`` for each tolerance,
        ``acc_frames`` (frames scored by Acc@k), ``onset_precision``,
        ``onset_recall``, ``onset_f1``, ``onset_median_abs_error_s``,
        ``onset_median_error_s``, ``n_reference_onsets``,
        ``n_estimate_onsets``, ``n_frames``.
    """
    ref, est = _aligned_pair(reference_envelope, estimate_envelope)
    if np.any(ref < 0) or np.any(est < 0):
        raise ValueError("envelopes contain negative values; RMS must be >= 0")
    quantize = dict(n_classes=n_classes, mu=mu, rms_min=rms_min)
    ref_classes = rms_to_classes(ref, **quantize)
    est_classes = rms_to_classes(est, **quantize)
    scores: dict = {
        "e_l1": e_l1(ref, est),
        "correlation": envelope_correlation(ref, est),
        "n_frames": int(ref.size),
        "acc_frames": int(np.sum((ref_classes != 0) | (est_classes != 0))),
    }
    for k in tolerances:
        scores[f"acc@{k}"] = accuracy_at_k(ref_classes, est_classes, k)
    onset_kwargs = dict(onset_kwargs or {})
    onset_kwargs.setdefault("silence_rms", rms_min)
    onsets = onset_scores(
        detect_onsets(ref, frame_rate, **onset_kwargs),
        detect_onsets(est, frame_rate, **onset_kwargs),
        window_s=onset_window_s,
    )
    scores.update(
        onset_precision=onsets["precision"],
        onset_recall=onsets["recall"],
        onset_f1=onsets["f1"],
        onset_median_abs_error_s=onsets["median_abs_error_s"],
        onset_median_error_s=onsets["median_error_s"],
        n_reference_onsets=onsets["n_reference"],
        n_estimate_onsets=onsets["n_estimate"],
    )
    return scores
