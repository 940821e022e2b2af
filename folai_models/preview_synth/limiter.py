"""The output peak limiter: smooth look-ahead gain reduction, no hard clipping."""

from __future__ import annotations

import numpy as np
import scipy.ndimage

from folai_models.preview_synth.measure import EPS

PEAK_LIMIT = 0.99  # no sample exceeds this magnitude
LIMITER_WINDOW_S = 0.002  # gain reduction is spread over +-1 ms around each peak (then eased)


def limit(y: np.ndarray, sample_rate: int) -> bool:
    """Smooth peak limiter, in place: every |sample| <= PEAK_LIMIT; True if it acted.

    The needed gain ``min(1, PEAK_LIMIT / |x|)`` (over channels) is passed
    through a sliding minimum and then a moving average of the same centred
    window (:data:`LIMITER_WINDOW_S`), so the applied gain is smooth and never
    above the needed gain. Only the neighbourhoods of overs are processed.
    """
    magnitude = np.max(np.abs(y), axis=0)
    overs = np.flatnonzero(magnitude > PEAK_LIMIT)
    if overs.size == 0:
        return False
    width = max(1, int(LIMITER_WINDOW_S * sample_rate)) | 1
    # Overs closer than 2 windows are processed together, with a 2-window margin.
    breaks = np.flatnonzero(np.diff(overs) > 2 * width)
    firsts = overs[np.concatenate([[0], breaks + 1])]
    lasts = overs[np.concatenate([breaks, [overs.size - 1]])]
    for first, last in zip(firsts, lasts):
        a = max(0, int(first) - 2 * width)
        b = min(y.shape[1], int(last) + 2 * width + 1)
        need = np.minimum(1.0, PEAK_LIMIT / np.maximum(magnitude[a:b], EPS))
        g = scipy.ndimage.minimum_filter1d(need, width, mode="nearest")
        g = scipy.ndimage.uniform_filter1d(g, width, mode="nearest")
        y[:, a:b] *= np.minimum(g, need).astype(y.dtype)  # min(): float rounding of the mean
    return True
