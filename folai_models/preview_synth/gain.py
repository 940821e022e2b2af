"""The envelope-following gain: a banded least-squares fit of the target frame energies.

With the squared gain linear between frame centres, every frame's energy of
``gain * carrier`` is linear in the per-frame squared gains, so the gain is
a regularized, bounded least-squares fit, refined by non-negative
multiplicative updates.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse

from folai_models.events import SILENCE_RMS
from folai_models.preview_synth.measure import (
    ANALYSIS_FRAME_LENGTH,
    frame_windows,
    reflect_pad,
    resample,
)
from folai_models.rates import ENVELOPE_SAMPLE_RATE

MAX_GAIN = 10.0  # upper bound of the per-frame gain (+20 dB over the carrier)
GAIN_FLOOR = 0.01  # lower bound of a non-silent frame's gain before refinement (-40 dB)
GAIN_SMOOTHNESS = 1e-2  # first-difference penalty on the squared gain (no zipper noise)
GAIN_RIDGE = 1e-9  # keeps the normal equations positive definite where there is no carrier
GAIN_REFINE_ITERATIONS = 20  # non-negative multiplicative refinements after the bounded solve


def _energy_matrix(y16: np.ndarray, n_frames: int, frame_rate: float) -> scipy.sparse.csr_matrix:
    """Banded matrix ``A`` with ``A @ h`` = frame mean-square energies of ``g * y16``.

    ``g**2`` is linear between frame centres with value ``h[j]`` at centre
    ``j`` (held constant beyond the first and last centre), so each frame's
    energy is exactly linear in ``h``: row ``i`` integrates the squared
    signal over frame ``i``'s window against the hat function of each ``j``,
    using cumulative sums of ``x**2`` and ``n * x**2`` (O(n_frames) work).
    Windows and padding are those of :func:`.measure.frame_rms_16k`; inside the
    reflect padding the hats are held constant (exact except at the first
    and last two frames).
    """
    length = ANALYSIS_FRAME_LENGTH
    hop = ENVELOPE_SAMPLE_RATE / frame_rate
    centres, w0, pad_left, pad_right = frame_windows(y16.size, n_frames, frame_rate)
    x2 = np.square(reflect_pad(y16, pad_left, pad_right), dtype=np.float64)
    s0 = np.concatenate([[0.0], np.cumsum(x2)])
    s1 = np.concatenate([[0.0], np.cumsum(np.arange(x2.size) * x2)])
    c = centres + pad_left
    first = np.arange(n_frames) == 0
    last = np.arange(n_frames) == n_frames - 1
    # Integer sample ranges of each hat's rising [c[j-1], c[j]) and falling [c[j], c[j+1])
    # halves; the value is intercept + slope * n on each, and the outermost halves are flat (1).
    edge = np.ceil(c).astype(np.int64)
    halves = (
        (np.concatenate([[0], edge[:-1]]), edge,
         np.where(first, 0.0, 1.0 / hop), np.where(first, 1.0, -(c - hop) / hop)),
        (edge, np.concatenate([edge[1:], [x2.size]]),
         np.where(last, 0.0, -1.0 / hop), np.where(last, 1.0, (c + hop) / hop)),
    )
    band = int(np.ceil((length / 2 + 1) / hop)) + 1  # farthest hat a window can touch
    rows, cols, vals = [], [], []
    for d in range(-band, band + 1):
        i = np.arange(max(0, -d), min(n_frames, n_frames - d))
        if i.size == 0:
            continue
        j = i + d
        total = np.zeros(i.size)
        for lo, hi, slope, intercept in halves:
            a = np.maximum(w0[i], lo[j])
            b = np.maximum(a, np.minimum(w0[i] + length, hi[j]))
            total += intercept[j] * (s0[b] - s0[a]) + slope[j] * (s1[b] - s1[a])
        rows.append(i)
        cols.append(j)
        vals.append(np.maximum(total, 0.0) / length)
    data = (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols)))
    return scipy.sparse.csr_matrix(data, shape=(n_frames, n_frames))


def _solve_banded_spd(matrix: scipy.sparse.csr_matrix, rhs: np.ndarray) -> np.ndarray:
    """Solve a symmetric positive-definite banded sparse system (O(n * bandwidth**2))."""
    n = matrix.shape[0]
    rows = np.repeat(np.arange(n), np.diff(matrix.indptr))
    width = int(np.abs(matrix.indices - rows).max(initial=0))
    banded = np.zeros((width + 1, n))
    for u in range(width + 1):
        banded[width - u, u:] = matrix.diagonal(u)
    return scipy.linalg.solveh_banded(banded, rhs, check_finite=False)


def follow_gain(mid: np.ndarray, env: np.ndarray, frame_rate: float, sample_rate: int):
    """Squared gain per frame centre, ``h``, such that the RMS envelope of
    ``sqrt(h) * mid`` (``h`` linear between centres) follows ``env``.

    Frame energies are linear in ``h`` (:func:`_energy_matrix`), so ``h`` is
    a regularized least-squares fit of the target energies, each non-silent
    frame weighted by 1 / target energy (relative error), with a
    first-difference penalty (:data:`GAIN_SMOOTHNESS`) between neighbouring
    non-silent frames; then bounded to ``[GAIN_FLOOR**2, MAX_GAIN**2]`` and
    refined by :data:`GAIN_REFINE_ITERATIONS` non-negative multiplicative
    updates (Lee & Seung). Silent target frames get ``h = 0`` and are not
    fitted: the leak from a loud neighbour through the 32 ms window is what
    a real sound would give.
    """
    n = env.size
    silent = env < SILENCE_RMS
    a = _energy_matrix(resample(mid, sample_rate, ENVELOPE_SAMPLE_RATE), n, frame_rate)
    a = a @ scipy.sparse.diags((~silent).astype(np.float64))  # silent gains are fixed at 0
    weight = np.where(silent, 0.0, 1.0 / np.maximum(env, SILENCE_RMS) ** 2)
    aw = (scipy.sparse.diags(weight) @ a).tocsr()
    bw = weight * np.square(env)
    both = (~silent[:-1] & ~silent[1:]).astype(np.float64)
    diff = scipy.sparse.diags([-both, both], [0, 1], shape=(max(n - 1, 0), n))
    normal = aw.T @ aw + GAIN_SMOOTHNESS * (diff.T @ diff) + GAIN_RIDGE * scipy.sparse.eye(n)
    numerator = aw.T @ bw
    h = np.clip(_solve_banded_spd(normal.tocsr(), numerator), GAIN_FLOOR**2, MAX_GAIN**2)
    h[silent] = 0.0
    for _ in range(GAIN_REFINE_ITERATIONS):
        h *= numerator / np.maximum(aw.T @ (aw @ h), 1e-30)
        np.minimum(h, MAX_GAIN**2, out=h)
    return h
