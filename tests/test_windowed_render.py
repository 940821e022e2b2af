"""Windowed rendering: exact length, cuts in silence, steady level across crossfades."""

import numpy as np
import pytest

from folai_models.windowed_render import cut_frames, iter_windowed_render

RATE, SR = 125.0, 44100


def _noise_renderer(env_slice, index):
    rng = np.random.default_rng(index)
    n = int(round(len(env_slice) * SR / RATE))
    return rng.standard_normal((2, n)).astype(np.float32) * 0.1


@pytest.mark.parametrize("n_frames", [1, 300, 2500, 2501, 12_345])
def test_total_length_is_exact(n_frames):
    env = np.full(n_frames, 0.1, np.float32)
    blocks = list(iter_windowed_render(_noise_renderer, env, RATE, SR, window_s=8.0))
    assert sum(b.shape[1] for b in blocks) == int(round(n_frames * SR / RATE))
    assert all(b.shape[0] == 2 for b in blocks)


def test_level_is_steady_across_crossfades():
    env = np.full(30 * 125, 0.1, np.float32)
    audio = np.concatenate(list(iter_windowed_render(_noise_renderer, env, RATE, SR, window_s=5.0)), axis=1)
    block = SR // 20
    levels = np.sqrt(np.mean(audio[0, : len(audio[0]) // block * block].reshape(-1, block) ** 2, axis=1))
    assert levels.min() > 0.08 and levels.max() < 0.12


def test_cuts_land_in_silence_when_there_is_some():
    env = np.full(20 * 125, 0.2, np.float32)
    env[int(7.0 * 125):int(7.5 * 125)] = 0.0  # silence 0.5-1 s before the 8 s boundary
    cuts = cut_frames(env, RATE, window_s=8.0)
    assert 7.0 * 125 <= cuts[0] < 7.5 * 125


def test_preview_synth_follows_a_long_envelope_in_windows():
    from folai_models.preview_synth import envelope_rms, render_from_envelope
    from folai_models.metrics import envelope_correlation

    rng = np.random.default_rng(3)
    n = 50 * 125
    env = np.zeros(n, np.float32)
    for start in rng.choice(n - 60, size=60, replace=False):
        env[start:start + 40] = np.maximum(env[start:start + 40], 0.2 * np.exp(-np.arange(40) / 8))
    env = np.convolve(env, np.ones(3) / 3, mode="same").astype(np.float32)  # a 3-frame attack, as in real audio

    def render(env_slice, index):
        return render_from_envelope(env_slice, RATE, seed=index, material="wood")

    audio = np.concatenate(list(iter_windowed_render(render, env, RATE, SR, window_s=12.0)), axis=1)
    assert audio.shape == (2, n * SR // 125)
    windowed = envelope_correlation(env, envelope_rms(audio, SR, RATE, n_frames=n))
    whole = envelope_correlation(env, envelope_rms(render(env, 0), SR, RATE, n_frames=n))
    assert windowed > 0.97 and windowed > whole - 0.01
