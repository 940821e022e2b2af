"""Weight-free preview envelope from motion (folai_models.preview_envelope), on synthetic frames."""

import numpy as np
import pytest

from folai_models.events import detect_onsets
from folai_models.preview_envelope import (
    FEATURE_NAMES,
    MotionFeatureExtractor,
    envelope_from_motion,
    estimate_envelope,
)

FPS = 30.0
ENV_RATE = 125.0
H, W = 144, 256
SQUARE = 20  # side of the moving square, px
SPEED = 3  # px/frame


def _background(seed=0):
    """Static smooth texture, so optical flow has something to hold on to."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(40, 120, size=(H // 8 + 1, W // 8 + 1))
    return np.kron(coarse, np.ones((8, 8)))[:H, :W]


def _render(ys, x=118, seed=0, noise=1.5):
    """Frames with a bright textured square whose top edge is at ys[t]."""
    rng = np.random.default_rng(seed + 1)
    bg = _background(seed)
    pattern = 200 + 40 * (np.indices((SQUARE, SQUARE)).sum(0) % 4 == 0)
    frames = []
    for y in ys:
        f = bg.copy()
        y = int(round(y))
        f[y : y + SQUARE, x : x + SQUARE] = pattern
        f = f + rng.normal(0, noise, f.shape)  # sensor noise
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
    return np.stack(frames)


def _drop_and_bounce():
    """Square falls and stops dead at frame 30, is lifted slowly, falls again and bounces at frame 80."""
    ys = np.empty(110)
    ys[:31] = 5 + SPEED * np.arange(31)  # falling into frame 30 -> y = 95
    ys[31:41] = ys[30]  # rests
    ys[41:61] = np.linspace(ys[30], 35, 21)[1:]  # slow lift to y = 35
    ys[61:81] = 35 + SPEED * np.arange(1, 21)  # falls into frame 80 -> y = 95
    ys[81:96] = 95 - SPEED * np.arange(1, 16)  # rebounds up
    ys[96:] = ys[95]
    return _render(ys), (30 / FPS, 80 / FPS)


def _features(frames, window):
    ex = MotionFeatureExtractor()
    for i in range(0, len(frames), window):
        ex.update(frames[i : i + window])
    return ex.features()


def test_onsets_at_the_impacts():
    frames, impacts = _drop_and_bounce()
    env = envelope_from_motion(_features(frames, 300), frame_rate=FPS, envelope_rate=ENV_RATE)
    onsets = detect_onsets(env, ENV_RATE)
    assert len(onsets) == len(impacts), onsets
    for t in impacts:
        assert np.min(np.abs(onsets - t)) <= 0.1, (t, onsets)
    # the attack is at the impact frame, not a frame late
    assert np.all(np.abs(onsets - np.asarray(impacts)) < 1.0 / FPS)
    # a sharp attack with a decay: loud just after the impact, quiet 0.3 s later
    for t in impacts:
        i = int(t * ENV_RATE)
        assert env[i : i + 3].max() > 0.02
        assert env[i + int(0.3 * ENV_RATE)] < 0.5 * env[i : i + 3].max()


def test_static_scene_is_near_silent():
    frames = _render(np.full(90, 60.0))
    env = envelope_from_motion(_features(frames, 300), frame_rate=FPS)
    assert env.max() < 0.01
    assert len(detect_onsets(env, ENV_RATE)) == 0


def test_output_length_and_range():
    frames, _ = _drop_and_bounce()
    feats = _features(frames, 300)
    assert feats.shape == (len(frames), len(FEATURE_NAMES))
    assert feats.dtype == np.float32
    env = envelope_from_motion(feats, frame_rate=FPS)
    assert env.shape == (round(len(frames) * ENV_RATE / FPS),)
    assert env.dtype == np.float32
    assert np.all((env >= 0) & (env <= 1))
    assert envelope_from_motion(feats, n_frames_out=123).shape == (123,)
    duration_s = len(frames) / FPS
    est = estimate_envelope([frames[:50], frames[50:]], duration_s=duration_s)
    assert est.shape == (int(round(duration_s * 16000)) // 128,)
    np.testing.assert_array_equal(est, envelope_from_motion(feats, n_frames_out=len(est)))


def test_window_boundaries_change_nothing():
    frames, _ = _drop_and_bounce()
    np.testing.assert_array_equal(_features(frames, 7), _features(frames, 300))


def test_repeated_frames_do_not_make_impacts():
    """25 -> 30 fps up-conversion repeats every 6th frame: steady motion must not read as impacts."""
    frames = _render(5 + 1.0 * np.arange(100), noise=0.0)  # slow steady fall, no stop
    index = np.arange(100) - np.arange(100) // 6  # frame 5 repeats 4, 11 repeats 10, ...
    env = envelope_from_motion(_features(frames[index], 300), frame_rate=FPS)
    assert len(detect_onsets(env, ENV_RATE)) == 0


def test_empty_and_bad_input():
    ex = MotionFeatureExtractor()
    assert ex.features().shape == (0, len(FEATURE_NAMES))
    env = envelope_from_motion(ex.features(), n_frames_out=10)
    assert env.shape == (10,) and env.max() < 0.01
    with pytest.raises(ValueError):
        ex.update(np.zeros((2, 3, 4, 5), dtype=np.uint8))
    with pytest.raises(ValueError):
        envelope_from_motion(np.zeros((5, 3)))


def test_a_slowing_is_not_a_stop():
    from folai_models.preview_envelope import CELL0, GRID_COLS, GRID_ROWS, IMPACT_MIN_STOP_SHARE, impact_strength

    feats = np.zeros((4, len(FEATURE_NAMES)), dtype=np.float32)
    cells = feats[:, CELL0:].reshape(4, GRID_ROWS, GRID_COLS, 3)  # a view: vx, vy, weight per cell
    cells[:, 0, 0, 1] = [0.0, 2.0, 1.8, 0.0]  # falls at 2 px/frame, slows by 10 %, then stops
    strength = impact_strength(feats)
    assert IMPACT_MIN_STOP_SHARE > 0.1
    assert strength[1] == 0.0 and strength[2] == pytest.approx(1.8)
    assert impact_strength(feats, min_stop_share=0.0)[1] == pytest.approx(0.2)  # every drop, as the steps cue
