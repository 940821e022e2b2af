"""FAD-SFX: the aiSFX embedding (Ma & Lerch, ISMIR 2022), its checkpoint loading, and FAD on fadtk.

Most tests build the network at width 4 with random weights (fast); the published
checkpoint's key layout is written out here from its description (CrossNet over the
DCASE 2018 baseline CNN, nine classifier heads) and checked against the network at
full size, and, where the aisfx wheel is installed, against the real file.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from data_catalog.errors import WeightsError  # noqa: E402
from data_catalog.model_store.errors import StateDictMismatchError, UnsafeWeightsError  # noqa: E402
from data_catalog.model_store.packaged_weights import (AISFX_INSTALL, PackagedWeightsMissing,  # noqa: E402
                                                       aisfx_checkpoint_path, load_aisfx_checkpoint)
from folai_models.realism import AiSFXEmbedder, AiSFXNet, fad_sfx, per_clip_fad_sfx  # noqa: E402
from folai_models.realism import aisfx_frontend as frontend  # noqa: E402
from folai_models.realism.fad import import_fadtk  # noqa: E402
from tasks.realism_tasks import load_aisfx  # noqa: E402

HAVE_AISFX = importlib.util.find_spec("aisfx") is not None
HAVE_FADTK = importlib.util.find_spec("fadtk") is not None and importlib.util.find_spec("hypy_utils") is not None
needs_fadtk = pytest.mark.skipif(not HAVE_FADTK, reason="fadtk is not installed (bash setup.sh test installs it)")

# The published checkpoint's ds_dict: training library -> (head index, classes)
PUBLISHED_HEADS = {"prosfx": (0, 78), "soundlyTrain": (1, 79), "ucsMixed": (2, 69), "soundstormBalanced": (3, 81),
                   "productionelementsBalanced": (4, 10), "cartoonexpressBalanced": (5, 27),
                   "hpxdigitalBalanced": (6, 3), "series6000Balanced": (7, 23), "series9000Balanced": (8, 8)}
TINY_HEADS = {"libA": (0, 5), "libB": (1, 3)}
SR = 44100


def published_layout(width: int, heads: dict) -> dict[str, tuple[int, ...]]:
    """Keys and shapes of an aiSFX checkpoint: 4 conv blocks (conv1/conv2 without bias, bn1/bn2), heads fc.K."""
    layout = {}
    channels = [1, width, 2 * width, 4 * width, 8 * width]
    for b in range(4):
        p = f"embedding_net.conv_block{b + 1}."
        c_in, c_out = channels[b], channels[b + 1]
        layout[p + "conv1.weight"] = (c_out, c_in, 3, 3)
        layout[p + "conv2.weight"] = (c_out, c_out, 3, 3)
        for bn in ("bn1", "bn2"):
            for name in ("weight", "bias", "running_mean", "running_var"):
                layout[f"{p}{bn}.{name}"] = (c_out,)
            layout[f"{p}{bn}.num_batches_tracked"] = ()
    d = 8 * width
    for _, (k, classes) in heads.items():
        for layer, (n_out, n_in) in ((0, (d // 2, d)), (2, (d // 4, d // 2)), (4, (classes, d // 4))):
            layout[f"fc.{k}.{layer}.weight"] = (n_out, n_in)
            layout[f"fc.{k}.{layer}.bias"] = (n_out,)
    return layout


def random_state(width: int, heads: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random state dict with exactly the published layout (BN statistics not trivial)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in published_layout(width, heads).items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(100)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=gen) + 0.5
        else:
            state[key] = torch.randn(shape, generator=gen) * 0.3
    return state


def save_checkpoint(path, state, heads) -> None:
    """Like the published file: a pickled (state_dict, ds_dict) whose head indices are numpy int64."""
    ds_dict = {name: (np.int64(k), n) for name, (k, n) in heads.items()}
    torch.save((state, ds_dict), path)


@pytest.fixture(scope="module")
def tiny():
    return AiSFXEmbedder.from_state_dict(random_state(4, TINY_HEADS), TINY_HEADS, width=4)


@pytest.fixture(scope="module")
def real():
    if not HAVE_AISFX:
        pytest.skip(f"aisfx is not installed ({AISFX_INSTALL})")
    return load_aisfx(device="cpu")


def hits(seed: int, seconds: float = 6.0, freq: float = 700.0, sr: int = SR) -> np.ndarray:
    """Decaying struck tones at random times over faint noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    audio = 0.003 * rng.standard_normal(n)
    t = np.arange(sr // 2) / sr
    for onset in rng.uniform(0, seconds - 0.5, 8):
        i = int(onset * sr)
        m = min(n - i, t.size)
        tone = np.sin(2 * np.pi * freq * rng.uniform(0.9, 1.1) * t[:m]) * np.exp(-t[:m] * rng.uniform(8, 15))
        audio[i:i + m] += rng.uniform(0.2, 0.8) * tone
    return audio.astype(np.float32)


# --- frontend -------------------------------------------------------------------------------

def test_mel_filterbank_is_essentias():
    bank = frontend.mel_filterbank()
    assert bank.shape == (1025, 96)
    np.testing.assert_allclose(bank.sum(axis=0), 1.0, rtol=1e-5)  # unit_sum
    # Band 0 as Essentia 2.1b6 MelBands (htkMel, warping, unit_sum) gives it (measured): bins 1 and 2,
    # triangles linear in mel (librosa's Hz-linear triangles would give bin 1 alone).
    np.testing.assert_allclose(bank[:4, 0], [0.0, 0.7150638, 0.28493616, 0.0], atol=1e-6)
    assert np.count_nonzero(bank[:, 50]) == 14 and np.argmax(bank[:, 50] > 0) == 164


@pytest.mark.parametrize("n_samples, frames", [(1, 2), (1024, 2), (1025, 3), (SR * 5, 217)])
def test_frame_count_follows_essentias_framecutter(n_samples, frames):
    assert frontend.n_frames(n_samples) == frames
    assert frontend.log_mel_spectrogram(np.zeros(n_samples, np.float32)).shape == (frames, 96)


@pytest.mark.parametrize("frames, blocks", [(1, 1), (99, 1), (100, 1), (149, 1), (150, 2), (217, 3)])
def test_blocks_drop_the_partial_one_and_pad_short_spectrograms(frames, blocks):
    spec = np.random.default_rng(0).random((frames, 96)).astype(np.float32)
    out = frontend.spectrogram_blocks(spec)
    assert out.shape == (blocks, 100, 96) and out.flags.writeable
    np.testing.assert_array_equal(out[0, :min(frames, 100)], spec[:100])
    if frames < 100:
        assert not out[0, frames:].any()
    if blocks > 1:
        np.testing.assert_array_equal(out[1], spec[50:150])


def test_silence_is_zero_and_a_tone_lights_its_band():
    assert not frontend.log_mel_spectrogram(np.zeros(SR, np.float32)).any()
    tone = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(SR) / SR).astype(np.float32)
    spec = frontend.log_mel_spectrogram(tone)
    band = int(np.argmax(spec[5]))
    centres = frontend._htk_mel_to_hz(np.linspace(0, frontend._hz_to_htk_mel(22050), 98))[1:-1]
    assert abs(centres[band] - 1000) < 60
    assert 0 < spec.max() < 1.2  # the paper's normalization keeps loud sounds near 1


# --- network and checkpoint -----------------------------------------------------------------

def test_network_has_the_published_layout_at_full_size():
    with torch.device("meta"):
        net = AiSFXNet(PUBLISHED_HEADS)
    got = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert got == published_layout(64, PUBLISHED_HEADS)
    assert net.config.embedding_dim == 512


def test_tiny_checkpoint_loads_strictly_and_embeds(tmp_path, tiny):
    path = tmp_path / "checkpoint.pth"
    state = random_state(4, TINY_HEADS)
    save_checkpoint(path, state, TINY_HEADS)
    loaded, heads = load_aisfx_checkpoint(path)
    assert heads == TINY_HEADS and all(type(k) is int for k, _ in heads.values())
    emb = AiSFXEmbedder.from_state_dict(loaded, heads, width=4)
    out = emb.embed(hits(1, 3.0), SR)
    assert out.shape == (1, 32) and out.dtype == np.float32
    np.testing.assert_allclose(out, tiny.embed(hits(1, 3.0), SR), rtol=1e-5, atol=1e-6)
    # the fused inference network gives what the plain one gives
    blocks = torch.from_numpy(emb.blocks(hits(1, 3.0), SR))
    with torch.inference_mode():
        np.testing.assert_allclose(out, emb.net.embed(blocks).numpy(), rtol=1e-4, atol=1e-5)


def test_full_size_checkpoint_file_loads_through_load_aisfx(tmp_path):
    path = tmp_path / "checkpoint.pth"
    save_checkpoint(path, random_state(64, PUBLISHED_HEADS), PUBLISHED_HEADS)
    emb = load_aisfx(path=path)
    assert emb.embedding_dim == 512 and emb.embed(np.zeros(100, np.float32), SR).shape == (1, 512)


def test_checkpoint_with_other_keys_is_refused_naming_them(tmp_path):
    path = tmp_path / "checkpoint.pth"
    state = random_state(64, PUBLISHED_HEADS)
    state["embedding_net.conv_block5.conv1.weight"] = state.pop("embedding_net.conv_block4.conv1.weight")
    save_checkpoint(path, state, PUBLISHED_HEADS)
    with pytest.raises(StateDictMismatchError) as err:
        load_aisfx(path=path)
    assert str(path) in str(err.value) and "conv_block4.conv1.weight" in str(err.value)
    with pytest.raises(RuntimeError):  # from_state_dict is strict too
        AiSFXEmbedder.from_state_dict(state, PUBLISHED_HEADS)


class _Marker:
    """Any class outside the allow-list; weights-only loading must never construct it."""

    built = False

    def __setstate__(self, state):
        _Marker.built = True


def test_allow_list_refuses_a_pickle_with_another_global(tmp_path):
    path = tmp_path / "checkpoint.pth"
    torch.save((random_state(4, TINY_HEADS), {"libA": (np.int64(0), 5), "libB": (_Marker(), 3)}), path)
    with pytest.raises(UnsafeWeightsError) as err:
        load_aisfx_checkpoint(path)
    assert "_Marker" in str(err.value) and str(path) in str(err.value)
    assert not _Marker.built
    # a numpy float64 scalar is outside it as well (only the int64 scalars the real file holds are allowed)
    torch.save((random_state(4, TINY_HEADS), {"libA": (np.float64(0), 5)}), path)
    with pytest.raises(UnsafeWeightsError):
        load_aisfx_checkpoint(path)


def test_not_a_checkpoint_pair_is_a_clear_error(tmp_path):
    path = tmp_path / "checkpoint.pth"
    torch.save(random_state(4, TINY_HEADS), path)
    with pytest.raises(WeightsError, match="state_dict, ds_dict"):
        load_aisfx_checkpoint(path)
    with pytest.raises(WeightsError, match="force-reinstall aisfx==0.1.2"):
        load_aisfx_checkpoint(path)
    whole = path.read_bytes()
    path.write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="not a torch checkpoint"):
        load_aisfx_checkpoint(path)
    path.write_bytes(whole[:len(whole) // 2] + whole[-2000:])  # damaged inside, zip directory intact
    with pytest.raises(WeightsError, match="cannot read|not a torch checkpoint"):
        load_aisfx_checkpoint(path)


def test_missing_aisfx_says_how_to_install_it(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "aisfx" else real_find_spec(name, *a))
    with pytest.raises(PackagedWeightsMissing) as err:
        load_aisfx()
    assert isinstance(err.value, WeightsError)
    assert "pip install --no-deps aisfx==0.1.2" in str(err.value)


@pytest.mark.skipif(not HAVE_AISFX, reason=f"aisfx is not installed ({AISFX_INSTALL})")
def test_the_real_checkpoint_has_the_published_layout_and_embeds_deterministically(real):
    state, heads = load_aisfx_checkpoint(aisfx_checkpoint_path())
    assert heads == PUBLISHED_HEADS
    assert {k: tuple(v.shape) for k, v in state.items()} == published_layout(64, PUBLISHED_HEADS)
    sound = hits(3, 4.0, sr=22050)
    first = real.embed(sound, 22050)
    assert first.shape == (2, 512) and first.dtype == np.float32 and np.all(np.isfinite(first))
    assert first.std() > 0.01  # not a constant vector
    np.testing.assert_array_equal(first, real.embed(sound, 22050))
    assert not np.allclose(first, real.embed(hits(4, 4.0, freq=2500, sr=22050), 22050), atol=1e-2)


# --- audio handling -------------------------------------------------------------------------

def test_channels_are_averaged_and_other_rates_resampled(tiny):
    mono = hits(5, 3.0)
    np.testing.assert_allclose(tiny.embed(np.stack([mono, mono]), SR), tiny.embed(mono, SR), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tiny.embed(np.stack([mono, np.zeros_like(mono)]), SR),
                               tiny.embed(mono / 2, SR), rtol=1e-5, atol=1e-6)
    import soxr

    low = soxr.resample(mono, SR, 16000)
    assert tiny.embed(low, 16000).shape == tiny.embed(mono, SR).shape


@pytest.mark.parametrize("seconds", [1 / SR, 0.01, 0.5, 2.0])
def test_short_clips_give_one_zero_padded_block(tiny, seconds):
    audio = hits(6, 3.0)[:max(1, int(seconds * SR))]
    out = tiny.embed(audio, SR)
    assert out.shape == (1, 32) and np.all(np.isfinite(out))
    assert tiny.embed(np.zeros(3, np.float32), 8000).shape == (1, 32)  # 3 samples at 8 kHz


@pytest.mark.parametrize("audio, rate, message", [
    (np.zeros(0, np.float32), SR, "empty"),
    (np.array([0.0, np.nan, 0.1]), SR, "NaN"),
    (np.zeros((2, 2, 100)), SR, "shape"),
    (np.zeros((SR, 2)), SR, "transpose"),
    (np.array(["a", "b"]), SR, "numeric"),
    (np.zeros(100), 0, "sample_rate"),
    (np.zeros(100), 44100.0, "sample_rate"),
])
def test_bad_audio_is_a_clear_error(tiny, audio, rate, message):
    with pytest.raises(ValueError, match=message):
        tiny.embed(audio, rate)


# --- FAD-SFX ------------------------------------------------------------------------------------

@needs_fadtk
def test_identical_sets_give_zero_and_a_shifted_set_more(tiny):
    import sys

    hook = sys.excepthook
    reference = [tiny.embed(hits(s), SR) for s in range(4)]
    same_kind = [tiny.embed(hits(s + 50), SR) for s in range(4)]
    noise = [tiny.embed(0.2 * np.random.default_rng(s).standard_normal(6 * SR).astype(np.float32), SR)
             for s in range(4)]
    identical = fad_sfx(reference, reference)
    assert abs(identical) < 1e-6
    near, far = fad_sfx(reference, same_kind), fad_sfx(reference, noise)
    assert far > 5 * near > 0
    assert sys.excepthook is hook  # importing fadtk left the process's traceback hook alone


@needs_fadtk
def test_fad_on_gaussian_embeddings_matches_the_closed_form():
    rng = np.random.default_rng(0)
    dim = 16
    ref = [rng.standard_normal((400, dim)) for _ in range(3)]
    shifted = [rng.standard_normal((400, dim)) + 0.5 for _ in range(3)]
    assert fad_sfx(ref, shifted) == pytest.approx(dim * 0.25, rel=0.15)  # |mu difference|^2, equal covariances
    assert fad_sfx(ref, ref) == pytest.approx(0.0, abs=1e-8)


@needs_fadtk
def test_per_clip_scores_match_fadtk_and_sort_worst_first():
    fadtk = import_fadtk()  # without its logging / traceback side effects
    calc_embd_statistics, calc_frechet_distance = fadtk.calc_embd_statistics, fadtk.calc_frechet_distance
    rng = np.random.default_rng(1)
    dim = 24
    reference = [rng.standard_normal((60, dim)) for _ in range(4)]
    clips = {"close": rng.standard_normal((8, dim)), "far": rng.standard_normal((5, dim)) * 2 + 1,
             "two": rng.standard_normal((2, dim)) + 0.3}
    scores = per_clip_fad_sfx(reference, clips)
    assert list(scores) == sorted(scores, key=lambda k: -scores[k]) and list(scores)[0] == "far"
    mu, cov = calc_embd_statistics(np.concatenate(reference))
    for name, frames in clips.items():
        expected = calc_frechet_distance(mu, cov, *calc_embd_statistics(frames))
        assert scores[name] == pytest.approx(float(np.real(expected)), rel=1e-6, abs=1e-6)


@needs_fadtk
def test_fad_input_errors_name_the_problem():
    good = [np.zeros((3, 8)) + np.arange(3)[:, None]]
    with pytest.raises(ValueError, match="no clips"):
        fad_sfx([], good)
    with pytest.raises(TypeError, match="list"):
        fad_sfx(np.zeros((3, 8)), good)
    with pytest.raises(ValueError, match="dimension"):
        fad_sfx(good, [np.zeros((3, 9))])
    with pytest.raises(ValueError, match="at least 2"):
        fad_sfx([np.zeros((1, 8))], good)
    with pytest.raises(ValueError, match="NaN"):
        fad_sfx(good, [np.full((3, 8), np.nan)])
    with pytest.raises(ValueError, match="'short'.*at least 2"):
        per_clip_fad_sfx(good, {"short": np.zeros((1, 8))})
    with pytest.raises(TypeError, match="dict"):
        per_clip_fad_sfx(good, [np.zeros((3, 8))])


@needs_fadtk
def test_fadtk_frechet_audio_distance_runs_with_the_aisfx_loader(tmp_path, tiny):
    pytest.importorskip("torchcodec")  # fadtk reads files with torchaudio.load
    import soundfile as sf

    from folai_models.realism import AiSFXLoader

    FrechetAudioDistance = import_fadtk().FrechetAudioDistance

    for folder, seeds in (("ref", (0, 1, 2)), ("same", (0, 1, 2)), ("noise", (7, 8, 9))):
        (tmp_path / folder).mkdir()
        for s in seeds:
            audio = hits(s, 4.0) if folder != "noise" else 0.2 * np.random.default_rng(s).standard_normal(4 * SR)
            sf.write(tmp_path / folder / f"{s}.wav", audio, SR)
    grad = torch.is_grad_enabled()
    try:
        fad = FrechetAudioDistance(AiSFXLoader(tiny), audio_load_worker=1)
        for wav in sorted(tmp_path.glob("*/*.wav")):
            fad.cache_embedding_file(wav)
        same, noise = fad.score(tmp_path / "ref", tmp_path / "same"), fad.score(tmp_path / "ref", tmp_path / "noise")
    finally:
        torch.set_grad_enabled(grad)  # fadtk switches autograd off for the whole process
    assert abs(same) < 1e-3 * noise
