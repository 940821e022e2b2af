"""Mu-law classes and Gaussian label smoothing (folai_models.quantize)."""

import librosa
import numpy as np
import pytest

from folai_models.quantize import (
    MU,
    N_CLASSES,
    RMS_MIN,
    class_edges,
    classes_to_rms,
    gaussian_label_smoothing,
    inverse_mu_law,
    mu_law,
    rms_to_classes,
)


def test_constants_follow_the_spec():
    assert (N_CLASSES, MU, RMS_MIN) == (64, 63, 0.01)
    assert MU + 1 == N_CLASSES  # Video-Foley eq. 2: mu + 1 bins


def test_mu_law_matches_librosa():
    x = np.linspace(0.0, 1.0, 1001)
    np.testing.assert_allclose(mu_law(x), librosa.mu_compress(x, mu=MU, quantize=False), rtol=1e-12)
    np.testing.assert_allclose(mu_law(x), np.log1p(MU * x) / np.log1p(MU), rtol=1e-12)
    y = np.linspace(0.0, 1.0, 1001)
    np.testing.assert_allclose(inverse_mu_law(y), librosa.mu_expand(y, mu=MU, quantize=False), rtol=1e-12)
    np.testing.assert_allclose(inverse_mu_law(mu_law(x)), x, atol=1e-12)
    with pytest.raises(ValueError):
        mu_law([1.5])


def test_class_edges():
    edges = class_edges()
    assert edges.shape == (N_CLASSES,)
    assert edges[0] == RMS_MIN and edges[-1] == 1.0
    assert np.all(np.diff(edges) > 0)
    # equidistant in the mu-law domain
    np.testing.assert_allclose(np.diff(mu_law(edges)), np.diff(mu_law(edges)).mean(), rtol=1e-9)


def test_class_zero_is_below_rms_min_and_64_classes_max():
    classes = rms_to_classes(np.array([0.0, 0.005, 0.00999, 0.01, 0.5, 0.999, 1.0, 3.0]))
    assert classes.dtype == np.int64
    assert list(classes[:3]) == [0, 0, 0]
    assert classes[3] == 1  # searchsorted side="right": the edge itself is in class 1
    assert classes[-1] == classes[-2] == N_CLASSES - 1
    dense = rms_to_classes(np.linspace(0, 1, 100001))
    assert dense.min() == 0 and dense.max() == N_CLASSES - 1
    assert set(np.unique(dense)) == set(range(N_CLASSES))
    assert np.all(np.diff(dense) >= 0)


def test_rms_to_classes_matches_bucketize_right():
    edges = class_edges()
    r = np.random.default_rng(0).uniform(0, 1, 1000)
    expected = np.minimum(np.array([np.sum(edges <= v) for v in r]), N_CLASSES - 1)
    np.testing.assert_array_equal(rms_to_classes(r), expected)


def test_classes_round_trip():
    classes = np.arange(N_CLASSES)
    rms = classes_to_rms(classes)
    assert rms.dtype == np.float32
    assert rms[0] == 0.0
    assert np.all(np.diff(rms) > 0)
    np.testing.assert_array_equal(rms_to_classes(rms), classes)
    # representative value inside its bin
    edges = class_edges()
    assert np.all(rms[1:] >= edges[:-1]) and np.all(rms[1:] <= edges[1:])


def test_bad_inputs():
    for bad in ([], [np.nan], [-0.1]):
        with pytest.raises(ValueError):
            rms_to_classes(np.array(bad))
    with pytest.raises(ValueError):
        classes_to_rms([64])
    with pytest.raises(ValueError):
        classes_to_rms([-1])
    with pytest.raises(ValueError):
        classes_to_rms([1.5])


def test_label_smoothing_shape_and_window():
    labels = gaussian_label_smoothing(np.array([0, 1, 10, 63]))
    assert labels.shape == (4, N_CLASSES) and labels.dtype == np.float32
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, rtol=1e-6)
    row = labels[2]
    assert np.all(row[:8] == 0) and np.all(row[13:] == 0)  # |k - 10| <= W = 2
    assert np.all(row[8:13] > 0) and int(np.argmax(row)) == 10
    weights = np.exp(-np.arange(-2, 3) ** 2 / 2.0)
    np.testing.assert_allclose(row[8:13], weights / weights.sum(), rtol=1e-6)
    # no leak into silence, edges clipped
    assert labels[1, 0] == 0 and np.all(labels[1, 1:4] > 0) and np.all(labels[1, 4:] == 0)
    assert np.all(labels[3, 61:] > 0) and np.all(labels[3, :61] == 0)


def test_silent_targets_are_one_hot():
    labels = gaussian_label_smoothing(np.zeros(5, dtype=int))
    expected = np.zeros((5, N_CLASSES), np.float32)
    expected[:, 0] = 1.0
    np.testing.assert_array_equal(labels, expected)


def test_label_smoothing_options():
    raw = gaussian_label_smoothing([20], normalize=False)[0]
    assert raw[20] == 1.0 and raw[21] == pytest.approx(np.exp(-0.5))
    onehot = gaussian_label_smoothing([20], window=0)[0]
    assert onehot[20] == 1.0 and onehot.sum() == 1.0
    wide = gaussian_label_smoothing([20], window=5)[0]
    assert np.count_nonzero(wide) == 11
    with pytest.raises(ValueError):
        gaussian_label_smoothing(np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError):
        gaussian_label_smoothing([70])
