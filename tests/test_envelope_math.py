"""Envelope extraction, smoothing and resampling (folai_models.envelope)."""

import librosa
import numpy as np
import pytest

from folai_models.envelope import (
    FRAME_LENGTH,
    HOP_LENGTH,
    envelope_frame_rate,
    envelope_frame_times,
    interpolate_envelope,
    n_envelope_frames_for_samples,
    n_envelope_frames_for_seconds,
    rms_envelope,
    smooth_envelope,
)
from folai_models.rates import ENVELOPE_SAMPLE_RATE

SR = ENVELOPE_SAMPLE_RATE


def _sine(amplitude=0.5, seconds=10.0, freq=440.0):
    t = np.arange(int(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_ten_seconds_gives_1250_frames():
    env = rms_envelope(np.zeros(160000, dtype=np.float32))
    assert env.shape == (1250,)
    assert env.dtype == np.float32
    assert n_envelope_frames_for_samples(160000) == 1250
    assert n_envelope_frames_for_samples(160000, HOP_LENGTH, FRAME_LENGTH) == 1250
    assert n_envelope_frames_for_seconds(10.0) == 1250


@pytest.mark.parametrize("seconds", [0.5, 1.001, 7.3, 10.0])
def test_envelope_frames_for_seconds_match_their_samples(seconds):
    """A duration covers as many frames as its 16 kHz samples do (from one hop of audio on)."""
    n_samples = int(round(seconds * ENVELOPE_SAMPLE_RATE))
    assert n_envelope_frames_for_seconds(seconds) == n_envelope_frames_for_samples(n_samples)


@pytest.mark.parametrize("n", [128, 129, 1000, 16000, 16001, 44100])
def test_n_envelope_frames_matches_rms_envelope(n):
    rng = np.random.default_rng(n)
    assert rms_envelope(rng.standard_normal(n).astype(np.float32) * 0.1).shape == (n_envelope_frames_for_samples(n),)


def test_sine_rms_is_amplitude_over_sqrt2():
    amp = 0.5
    # 500 Hz: a whole number of periods per 512-sample window
    np.testing.assert_allclose(rms_envelope(_sine(amp, freq=500.0)), amp / np.sqrt(2), rtol=1e-4)
    # other frequencies: small ripple from partial periods
    np.testing.assert_allclose(rms_envelope(_sine(amp, freq=440.0)), amp / np.sqrt(2), rtol=1e-2)


def test_equals_librosa_rms_on_reflect_padded_signal():
    rng = np.random.default_rng(0)
    y = (0.3 * rng.standard_normal(SR)).astype(np.float32)
    pad = (FRAME_LENGTH - HOP_LENGTH) // 2
    assert pad == 192
    expected = librosa.feature.rms(
        y=np.pad(y, pad, mode="reflect"), frame_length=FRAME_LENGTH, hop_length=HOP_LENGTH, center=False
    )[0]
    np.testing.assert_allclose(rms_envelope(y), expected, rtol=1e-6)


def test_frame_centres_line_up_with_a_click():
    y = np.zeros(SR, dtype=np.float32)
    y[8000] = 1.0  # 0.5 s
    env = rms_envelope(y)
    times = envelope_frame_times(env.size, envelope_frame_rate())
    hot = times[env > 0]
    # windows of 512 samples = 32 ms around each centre contain the click
    assert hot.min() >= 0.5 - 0.016 - 1e-9 and hot.max() <= 0.5 + 0.016 + 1e-9


@pytest.mark.parametrize(
    "bad",
    [np.zeros((2, 16000), np.float32), np.zeros(0, np.float32), np.array([0.0, np.nan] * 200),
     np.zeros(16000, np.int16), np.zeros(50, np.float32)],
)
def test_rms_envelope_rejects_bad_audio(bad):
    with pytest.raises(ValueError):
        rms_envelope(bad)


def test_stereo_error_says_downmix():
    with pytest.raises(ValueError, match="downmix"):
        rms_envelope(np.zeros((16000, 2), np.float32))


def test_frame_rate_and_times():
    assert envelope_frame_rate() == 125.0
    assert envelope_frame_rate(16000, 128) == 125.0
    np.testing.assert_allclose(envelope_frame_times(3, 125.0), [0.004, 0.012, 0.02])


def _bursts(n=1250):
    env = np.zeros(n)
    for start, amp in [(100, 0.5), (600, 0.1)]:
        env[start:] = np.maximum(env[start:], amp * np.exp(-np.arange(n - start) / 10))
    return env


def test_kernel_smoothing_is_centred_moving_average():
    env = np.zeros(101)
    env[50] = 1.5
    out = smooth_envelope(env, "kernel", kernel_size=15)
    np.testing.assert_allclose(out[43:58], 0.1, rtol=1e-6)
    assert out[42] == 0 and out[58] == 0
    assert out.dtype == np.float32
    np.testing.assert_allclose(smooth_envelope(np.full(30, 0.2)), 0.2, rtol=1e-6)


def test_kernel_size_must_be_odd():
    with pytest.raises(ValueError, match="odd"):
        smooth_envelope(np.ones(30), "kernel", kernel_size=14)


def test_ellip_smoothing_is_zero_phase_and_non_negative():
    env = _bursts()
    out = smooth_envelope(env, "ellip")
    assert out.shape == env.shape and out.min() >= 0
    # zero phase: a symmetric bump keeps its peak position
    bump = np.exp(-0.5 * ((np.arange(400) - 200) / 8.0) ** 2)
    assert int(np.argmax(smooth_envelope(bump, "ellip"))) == 200
    # low-pass: high-frequency ripple is removed
    ripple = 0.5 + 0.1 * (-1.0) ** np.arange(500)
    assert np.ptp(smooth_envelope(ripple, "ellip")[50:-50]) < 1e-3


@pytest.mark.parametrize("n", [1, 5, 15, 16, 20])
@pytest.mark.parametrize("method", ["kernel", "ellip", "none"])
def test_smoothing_short_inputs(n, method):
    env = np.linspace(0.0, 0.3, n)
    out = smooth_envelope(env, method)
    assert out.shape == (n,) and np.all(np.isfinite(out)) and out.min() >= 0
    assert out.max() <= 0.3 * 1.05 + 1e-6
    np.testing.assert_allclose(smooth_envelope(np.full(n, 0.2), method), 0.2, rtol=1e-2)


def test_smoothing_rejects_bad_input():
    for bad in (np.array([0.1, np.nan]), np.array([0.1, -0.2]), np.zeros(0)):
        with pytest.raises(ValueError):
            smooth_envelope(bad)
    with pytest.raises(ValueError, match="method"):
        smooth_envelope(np.ones(5), "median")


def test_smoothing_batches_along_last_axis():
    batch = np.stack([_bursts(), _bursts()[::-1]])
    out = smooth_envelope(batch, "ellip")
    np.testing.assert_allclose(out[1], smooth_envelope(batch[1], "ellip"), rtol=1e-5, atol=1e-7)


def test_interpolation_lengths():
    env = np.random.default_rng(1).uniform(0, 1, 1250)
    assert interpolate_envelope(env, 125.0, 44100).shape == (441000,)
    assert interpolate_envelope(env, 125.0, 30.0).shape == (300,)
    assert interpolate_envelope(env, 125.0, n_target=300).shape == (300,)
    assert interpolate_envelope(np.stack([env, env]), 125.0, 44100).shape == (2, 441000)


def test_interpolation_values_on_frame_centres():
    env = np.array([0.0, 1.0, 0.0, 0.5])
    up = interpolate_envelope(env, 1.0, 2.0)
    # target centres 0.25, 0.75, ..., 3.75 s; source centres 0.5, 1.5, 2.5, 3.5 s
    np.testing.assert_allclose(up, [0.0, 0.25, 0.75, 0.75, 0.25, 0.125, 0.375, 0.5])
    # same rate is the identity; edges are held
    np.testing.assert_allclose(interpolate_envelope(env, 125.0, 125.0), env)
    ramp = interpolate_envelope(np.linspace(0, 1, 1250), 125.0, 44100)
    assert ramp[0] == 0.0 and ramp[-1] == pytest.approx(1.0)
    assert np.all(np.diff(ramp) >= 0)


def test_interpolation_needs_exactly_one_target():
    with pytest.raises(ValueError, match="exactly one"):
        interpolate_envelope(np.ones(10), 125.0)
    with pytest.raises(ValueError, match="exactly one"):
        interpolate_envelope(np.ones(10), 125.0, 30.0, n_target=3)
