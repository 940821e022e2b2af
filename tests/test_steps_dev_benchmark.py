"""The steps benchmark's blind baselines: pooled F1 and the click rate chosen leaving each clip out."""

from __future__ import annotations

import numpy as np

from benchmarks.steps_dev import click_track, leave_one_out_rates, pooled_f1, score

RATES = (2.0, 3.0)


def clip_scores(reference: np.ndarray, duration_s: float = 6.0) -> dict:
    """``{rate: score}`` of each rate's click track against ``reference`` (envelopes are not scored here)."""
    env = np.ones(10)
    return {rate: score(reference, click_track(rate, duration_s), env, env) for rate in RATES}


def test_pooled_f1_counts_matches_over_clips():
    a = score(np.array([0.0, 1.0]), np.array([0.0, 1.0]), np.ones(4), np.ones(4))  # 2 of 2
    b = score(np.array([0.0, 1.0]), np.array([0.5]), np.ones(4), np.ones(4))  # 0 of 2, 1 estimate
    assert pooled_f1([a]) == 1.0
    assert np.isclose(pooled_f1([a, b]), 2 * 2 / (4 + 3))


def test_leave_one_out_rate_ignores_the_clip_it_scores():
    walk2 = clip_scores(np.arange(0.0, 6.0, 0.5))  # steps at 2 per second
    walk3 = clip_scores(np.arange(0.0, 6.0, 1 / 3))  # steps at 3 per second
    rates = leave_one_out_rates([walk2, walk2, walk2, walk3])
    # the 3/s clip gets the rate its three 2/s neighbours share, not its own hindsight rate
    assert rates == [2.0, 2.0, 2.0, 2.0]
    assert pooled_f1([walk3[3.0]]) > pooled_f1([walk3[rates[3]]])


def test_leave_one_out_rate_ties_take_the_slower_rate():
    silent = {rate: score(np.zeros(0), click_track(rate, 4.0), np.ones(4), np.ones(4)) for rate in RATES}
    assert leave_one_out_rates([silent, silent]) == [2.0, 2.0]
