"""Envelope metrics (folai_models.metrics)."""

import warnings

import numpy as np
import pytest

from folai_models.metrics import (
    accuracy_at_k,
    e_l1,
    envelope_correlation,
    envelope_scores,
    onset_scores,
)
from folai_models.quantize import rms_to_classes
from folai_models.rates import ENVELOPE_FRAME_RATE



def _bursts(onset_frames=(100, 400, 700, 1000), amp=0.3, n=1250):
    env = np.zeros(n)
    for start in onset_frames:
        env[start:] = np.maximum(env[start:], amp * np.exp(-np.arange(n - start) / 10))
    return env


def test_e_l1():
    env = _bursts()
    assert e_l1(env, env) == 0.0
    assert e_l1(np.zeros(10), np.full(10, 0.25)) == pytest.approx(0.25)
    assert e_l1(np.zeros(11), np.full(10, 0.25)) == pytest.approx(0.25)  # 1 frame trimmed
    with pytest.raises(ValueError, match="length"):
        e_l1(np.zeros(12), np.zeros(10))
    with pytest.raises(ValueError):
        e_l1(np.array([0.1, np.nan]), np.zeros(2))
    with pytest.raises(ValueError):
        e_l1(np.zeros(0), np.zeros(0))


def test_accuracy_drops_frames_silent_in_both():
    ref = np.array([0, 0, 0, 0, 10, 20, 0, 30])
    est = np.array([0, 0, 0, 0, 11, 30, 5, 0])
    # scored frames: 4, 5, 6, 7 -> differences 1, 10, 5, 30
    assert accuracy_at_k(ref, est, 1) == pytest.approx(1 / 4)
    assert accuracy_at_k(ref, est, 5) == pytest.approx(2 / 4)
    assert accuracy_at_k(ref, est, 10) == pytest.approx(3 / 4)
    assert accuracy_at_k(ref, ref, 0) == 1.0
    assert np.isnan(accuracy_at_k(np.zeros(5, int), np.zeros(5, int), 1))
    with pytest.raises(ValueError):
        accuracy_at_k(ref, est, -1)


def test_correlation():
    env = _bursts()
    assert envelope_correlation(env, env) == pytest.approx(1.0)
    assert envelope_correlation(env, 2 * env + 0.1) == pytest.approx(1.0)
    assert envelope_correlation(env, env.max() - env) == pytest.approx(-1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(envelope_correlation(env, np.zeros_like(env)))


def test_onset_scores_identical_and_shift_tolerance():
    ref = np.array([0.5, 2.0, 4.0, 7.5])
    same = onset_scores(ref, ref)
    assert same["precision"] == same["recall"] == same["f1"] == 1.0
    assert same["median_abs_error_s"] == 0.0
    assert (same["n_reference"], same["n_estimate"], same["n_matched"]) == (4, 4, 4)
    near = onset_scores(ref, ref + 0.09)
    assert near["f1"] == 1.0
    assert near["median_abs_error_s"] == pytest.approx(0.09)
    assert near["median_error_s"] == pytest.approx(0.09)
    far = onset_scores(ref, ref + 0.12)
    assert far["f1"] == 0.0 and far["n_matched"] == 0 and np.isnan(far["median_abs_error_s"])
    half = onset_scores(ref, ref[:2])
    assert half["precision"] == 1.0 and half["recall"] == 0.5 and half["f1"] == pytest.approx(2 / 3)
    # unsorted input is accepted
    assert onset_scores(ref[::-1], ref)["f1"] == 1.0


def test_onset_scores_empty_inputs_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        both = onset_scores([], [])
        assert both["precision"] == both["recall"] == both["f1"] == 1.0
        assert np.isnan(both["median_abs_error_s"])
        one = onset_scores([1.0, 2.0], [])
        assert one["precision"] == one["recall"] == one["f1"] == 0.0
        other = onset_scores([], [1.0])
        assert other["f1"] == 0.0 and other["n_estimate"] == 1
    with pytest.raises(ValueError):
        onset_scores([np.nan], [1.0])
    with pytest.raises(ValueError):
        onset_scores([[1.0]], [1.0])


def test_envelope_scores_identical():
    env = _bursts()
    scores = envelope_scores(env, env, ENVELOPE_FRAME_RATE)
    assert scores["e_l1"] == 0.0
    assert scores["correlation"] == pytest.approx(1.0)
    assert scores["acc@1"] == scores["acc@5"] == scores["acc@10"] == 1.0
    assert scores["onset_f1"] == 1.0
    assert scores["n_reference_onsets"] == scores["n_estimate_onsets"] == 4
    assert scores["n_frames"] == 1250
    assert scores["acc_frames"] == int(np.sum(rms_to_classes(env) > 0))


def test_envelope_scores_silence_prediction_is_not_rewarded():
    env = _bursts()
    scores = envelope_scores(env, np.zeros_like(env), ENVELOPE_FRAME_RATE)
    assert scores["e_l1"] < 0.02  # small on a sparse clip ...
    # ... but Acc@k only counts frames that are not silent in both: only the
    # quiet tails (classes <= k) of the bursts count as right
    assert scores["acc@1"] < 0.1 and scores["acc@10"] < 0.4
    assert scores["onset_f1"] == 0.0 and scores["onset_recall"] == 0.0
    assert np.isnan(scores["correlation"])


def test_envelope_scores_shifted_prediction():
    ref = _bursts()
    est = _bursts(onset_frames=(110, 410, 710, 1010))  # 80 ms late
    scores = envelope_scores(ref, est, ENVELOPE_FRAME_RATE)
    assert scores["onset_f1"] == 1.0
    assert scores["onset_median_error_s"] == pytest.approx(0.08)
    assert 0 < scores["acc@5"] < 1
    late = envelope_scores(ref, _bursts(onset_frames=(116, 416, 716, 1016)), ENVELOPE_FRAME_RATE)
    assert late["onset_f1"] == 0.0  # 128 ms is outside +-0.1 s
    with pytest.raises(ValueError):
        envelope_scores(ref, -ref, ENVELOPE_FRAME_RATE)
