"""The preview engine: envelope in, 44.1 kHz stereo out, following the envelope."""

from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.ndimage
import scipy.signal

from folai_models.envelope import rms_envelope
from folai_models.events import detect_onsets
from folai_models.materials import MATERIALS
from folai_models.preview_synth import PEAK_LIMIT, envelope_rms, render_from_envelope

FR = 125.0
SR = 44100


def _output_envelope(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """The envelope stage's measurement, independent of the engine's own:
    mono downmix, polyphase resampling to 16 kHz, frame 512 / hop 128."""
    mono = audio.astype(np.float64).mean(axis=0)
    y16 = scipy.signal.resample_poly(mono, 160, 441).astype(np.float32)
    env = rms_envelope(y16)
    return np.pad(env, (0, max(0, n_frames - env.size)))[:n_frames]


def _bursts_and_ramp(seconds: float = 6.0, seed: int = 0) -> np.ndarray:
    """Synthetic target: decaying hits (24 ms attacks), a 2 s sustained ramp, silence between."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FR)
    t = np.arange(n) / FR
    env = np.zeros(n)
    for onset in (0.5, 1.1, 1.6, 4.3, 5.0):
        tau = rng.uniform(0.04, 0.15)
        peak = rng.uniform(0.05, 0.3)
        rel = t - onset
        attack = np.clip(rel / 0.024, 0.0, 1.0)
        env += np.where(rel >= 0, peak * attack * np.exp(-np.maximum(rel - 0.024, 0) / tau), 0.0)
    ramp = (t >= 2.0) & (t < 4.0)
    env[ramp] += np.linspace(0.02, 0.25, ramp.sum())
    env[env < 0.01] = 0.0
    return env


def _audio_derived(seconds: float = 6.0, seed: int = 1) -> np.ndarray:
    """Target measured from synthetic audio (noise hits + a noise ramp): physically consistent."""
    rng = np.random.default_rng(seed)
    sr = 16000
    n = int(seconds * sr)
    y = np.zeros(n)
    for onset in np.arange(0.4, seconds - 0.5, 0.55):
        i = int(onset * sr)
        decay = np.exp(-np.arange(n - i) / sr / rng.uniform(0.02, 0.2))
        y[i:] += rng.uniform(0.1, 0.5) * rng.standard_normal(n - i) * decay
    a, b = int(2.0 * sr), int(3.5 * sr)
    y[a:b] += np.linspace(0.0, 0.3, b - a) * rng.standard_normal(b - a)
    y *= 0.95 / np.max(np.abs(y))
    env = rms_envelope(y.astype(np.float32)).astype(np.float64)[: int(seconds * FR)]
    env[env < 0.01] = 0.0
    return env


def _check_onsets(target: np.ndarray, output_env: np.ndarray) -> None:
    """Onsets of the output's envelope land within 20 ms of the target's.

    Every output onset near a target onset (within 50 ms, the NMS window)
    must be within 20 ms of it; at least 85 % of the target's onsets must be
    found and at most 15 % of the output's onsets may be extra (a rise
    barely above the detection threshold, e.g. a hit on top of a ramp, can
    flip either way).
    """
    ref = detect_onsets(target, FR)
    est = detect_onsets(output_env, FR)
    assert ref.size > 0 and est.size > 0
    distance = np.abs(ref[:, None] - est[None, :])
    nearest = distance.min(axis=1)
    matched = nearest <= 0.05
    assert np.all(nearest[matched] <= 0.02), f"onset errors {nearest[matched]}"
    assert matched.mean() >= 0.85, f"found {matched.sum()} of {ref.size} onsets"
    assert (distance.min(axis=0) > 0.05).mean() <= 0.15, f"extra onsets in {est}"


@pytest.mark.parametrize("n_frames", [1, 2, 62, 63, 125, 1250])
def test_shape_dtype_and_length(n_frames):
    env = np.full(n_frames, 0.1)
    out = render_from_envelope(env, FR)
    assert out.dtype == np.float32
    assert out.shape == (2, int(round(n_frames / FR * SR)))
    assert np.all(np.isfinite(out))
    assert np.max(np.abs(out)) > 0.0


def test_half_second_and_other_rates():
    env = np.full(int(0.5 * FR), 0.1)
    assert render_from_envelope(env, FR).shape == (2, 22050 - 176)  # 62 frames = 0.496 s
    assert render_from_envelope(env, 100.0, sample_rate=48000).shape == (2, round(62 / 100 * 48000))
    mono = render_from_envelope(env, FR, n_channels=1)
    assert mono.shape == (1, 21874)


def test_silence_in_gives_silence_out():
    out = render_from_envelope(np.zeros(250), FR)
    assert out.shape == (2, 88200) and not np.any(out)
    out = render_from_envelope(np.full(250, 0.009), FR)  # below the silence threshold
    assert not np.any(out)


def test_silent_gaps_stay_silent():
    env = _bursts_and_ramp()
    out = render_from_envelope(env, FR, material="metal")  # metal rings long: the gain must gate it
    silent = env < 0.01
    # silent frames at least 3 frames (24 ms) away from sound
    deep = silent & (scipy.ndimage.minimum_filter1d(silent.astype(int), 7) == 1)
    measured = _output_envelope(out, env.size)
    assert deep.sum() > 100
    assert np.max(measured[deep]) < 1e-3


def test_deterministic_for_a_seed():
    env = _bursts_and_ramp()
    a = render_from_envelope(env, FR, material="gravel", seed=5)
    b = render_from_envelope(env, FR, material="gravel", seed=5)
    c = render_from_envelope(env, FR, material="gravel", seed=6)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_stereo_channels_are_decorrelated_not_copies():
    env = _bursts_and_ramp()
    out = render_from_envelope(env, FR, material="cloth")
    assert not np.allclose(out[0], out[1])
    corr = np.corrcoef(out[0], out[1])[0, 1]
    assert 0.3 < corr < 0.99  # related (one scene) but not a mono copy


@pytest.mark.parametrize("make_target", [_bursts_and_ramp, _audio_derived])
@pytest.mark.parametrize("material", ["wood", "metal", "gravel", "water", "paper"])
def test_output_envelope_follows_target(make_target, material):
    env = make_target()
    out = render_from_envelope(env, FR, material=material, seed=2)
    measured = _output_envelope(out, env.size)
    r = np.corrcoef(env, measured)[0, 1]
    assert r > 0.9, f"{material}: envelope correlation {r:.3f}"
    _check_onsets(env, measured)
    # the engine's own measurement agrees with the independent one
    assert np.max(np.abs(envelope_rms(out, SR, FR, env.size) - measured)) < 0.01


def test_peak_limited_without_hard_clipping():
    env = np.full(250, 0.9)  # RMS 0.9 cannot fit under 0.99 peaks without limiting
    env[:20] = 0.0
    out = render_from_envelope(env, FR, material="stone")
    assert np.max(np.abs(out)) <= PEAK_LIMIT
    # a limiter, not a clipper: few samples sit at the ceiling
    assert np.mean(np.abs(out) >= PEAK_LIMIT - 1e-6) < 0.01


def test_material_from_text_prompt_and_explicit_material():
    env = _bursts_and_ramp(2.0)
    by_prompt = render_from_envelope(env, FR, prompt="A person hit on metal with a wooden stick")
    by_name = render_from_envelope(env, FR, material="metal")
    assert np.array_equal(by_prompt, by_name)
    default = render_from_envelope(env, FR)
    assert np.array_equal(default, render_from_envelope(env, FR, material="wood"))
    with pytest.raises(ValueError, match="valid materials: .*metal"):
        render_from_envelope(env, FR, material="lava")


def _three_clicks(sample_rate: int = 22050) -> np.ndarray:
    rng = np.random.default_rng(0)
    y = np.zeros(sample_rate)
    for onset in (0.1, 0.4, 0.7):
        i, m = int(onset * sample_rate), int(0.1 * sample_rate)
        y[i : i + m] += 0.5 * rng.standard_normal(m) * np.exp(-np.arange(m) / sample_rate / 0.02)
    return y


@pytest.mark.parametrize("stereo", [False, True])
def test_audio_prompt_follows_envelope(stereo):
    prompt = _three_clicks()
    if stereo:
        prompt = np.stack([prompt, 0.7 * prompt])
    env = _audio_derived()
    out = render_from_envelope(env, FR, audio_prompt=prompt, audio_prompt_sample_rate=22050, seed=1)
    assert out.shape == (2, int(round(env.size / FR * SR))) and out.dtype == np.float32
    measured = _output_envelope(out, env.size)
    assert np.corrcoef(env, measured)[0, 1] > 0.9
    _check_onsets(env, measured)
    assert not np.allclose(out[0], out[1])


def test_audio_prompt_without_onsets_uses_fixed_grains():
    prompt = 0.3 * np.random.default_rng(0).standard_normal(300)  # too short for onset detection
    env = _bursts_and_ramp(2.0)
    out = render_from_envelope(env, FR, audio_prompt=prompt, audio_prompt_sample_rate=16000)
    assert np.all(np.isfinite(out)) and np.max(np.abs(out)) > 0.01


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(envelope=np.zeros((2, 10))), "envelope must be 1-D"),
        (dict(envelope=np.array([])), "envelope is empty"),
        (dict(envelope=np.array([0.1, np.nan])), "NaN or infinite"),
        (dict(envelope=np.array([0.1, np.inf])), "NaN or infinite"),
        (dict(envelope=np.array([0.1, -0.2])), "negative"),
        (dict(frame_rate=0.0), "frame_rate must be a positive number"),
        (dict(frame_rate=-125.0), "frame_rate must be a positive number"),
        (dict(frame_rate=float("nan")), "frame_rate must be a positive number"),
        (dict(sample_rate=0), "sample_rate must be a positive integer"),
        (dict(n_channels=3), "n_channels must be 1 or 2"),
        (dict(audio_prompt=np.zeros(1000), audio_prompt_sample_rate=16000), "prompt is silent"),
        (dict(audio_prompt=np.array([]), audio_prompt_sample_rate=16000), "prompt is empty"),
        (dict(audio_prompt=np.array([0.5, np.nan]), audio_prompt_sample_rate=8000), "prompt contains NaN"),
        (dict(audio_prompt=np.ones(100)), "audio_prompt_sample_rate is required"),
        (dict(audio_prompt=np.ones(9), audio_prompt_sample_rate=0), "sample_rate must be positive"),
        (dict(audio_prompt=np.ones((900, 2)), audio_prompt_sample_rate=8000), r"\(channels, n\)"),
    ],
)
def test_bad_inputs_raise_clear_errors(kwargs, message):
    args = dict(envelope=np.full(10, 0.1), frame_rate=FR)
    args.update(kwargs)
    envelope = args.pop("envelope")
    frame_rate = args.pop("frame_rate")
    with pytest.raises(ValueError, match=message):
        render_from_envelope(envelope, frame_rate, **args)


def test_sixty_seconds_render_fast():
    env = np.concatenate([_audio_derived(6.0, seed) for seed in range(10)])
    assert env.size == 7500
    render_from_envelope(env[:250], FR)  # first-call costs (imports, numba) are not the engine's
    best = np.inf
    for _ in range(2):  # a second try only when a busy machine slowed the first
        start = time.perf_counter()
        out = render_from_envelope(env, FR, material="metal")
        best = min(best, time.perf_counter() - start)
        if best < 2.0:
            break
    assert out.shape == (2, 60 * SR)
    assert best < 2.0, f"60 s took {best:.2f} s"


@pytest.mark.parametrize("material", sorted(MATERIALS))
def test_every_material_renders(material):
    env = _audio_derived(4.0)
    out = render_from_envelope(env, FR, material=material)
    assert np.all(np.isfinite(out)) and np.max(np.abs(out)) > 0.05
