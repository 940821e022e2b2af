"""The sao synth engine: Stable Audio Open audio-to-audio from the foley render, with a tiny SAO-layout model.

The tiny model is built by the same code as the full one (tiny_oobleck.json +
tiny_t5.json); for the engine it is saved into a model store the way the
published files are laid out and loaded back by the engine's own loader.
"""

from __future__ import annotations

import numpy as np
import pytest
from sao_stand_ins import add_tiny_sao_to_store, tiny_sao_text_model
from settings_env import settings_environment

torch = pytest.importorskip("torch")
pytest.importorskip("stable_audio_tools")

from folai_models.synth import audio_to_audio as a2a  # noqa: E402
from folai_models.synth.control_signal import encode_deterministic  # noqa: E402
from folai_models.windowed_render import BlockReader, iter_windowed_render, window_spans  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")
RATE = 44100
FAST = {"steps": 2, "cfg_scale": 3.0}


@pytest.fixture(scope="module")
def tiny():
    return tiny_sao_text_model()


def _render(n: int, seed: int = 0) -> torch.Tensor:
    """Stereo decaying clicks: something with onsets to keep."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / RATE
    audio = np.zeros(n, np.float32)
    for onset in np.arange(0.05, n / RATE, 0.25):
        tail = t >= onset
        audio[tail] += (rng.standard_normal(tail.sum()) * np.exp(-(t[tail] - onset) * 30)).astype(np.float32) * 0.3
    return torch.from_numpy(np.stack([audio, audio * 0.8]))


def test_init_noise_zero_is_the_renders_latent_round_trip(tiny):
    audio = _render(9000)[None]
    out = a2a.regenerate(tiny, audio, ["a rubber ball"], seeds=[0], init_noise_level=0.0)
    with torch.no_grad():
        padded = torch.nn.functional.pad(audio, (0, 256 * 36 - 9000))  # tiny VAE: 256 samples a latent frame
        expected = tiny.pretransform.decode(encode_deterministic(tiny.pretransform, padded))[..., :9000]
    assert out.shape == (1, 2, 9000)
    np.testing.assert_allclose(out, expected.numpy(), atol=1e-6)


def test_noise_level_seed_and_prompt_change_the_output_reproducibly(tiny):
    audio = _render(6000)[None]
    kept = a2a.regenerate(tiny, audio, ["glass"], seeds=[0], init_noise_level=0.0)
    moved = a2a.regenerate(tiny, audio, ["glass"], seeds=[0], init_noise_level=3.0, **FAST)
    again = a2a.regenerate(tiny, audio, ["glass"], seeds=[0], init_noise_level=3.0, **FAST)
    other_seed = a2a.regenerate(tiny, audio, ["glass"], seeds=[1], init_noise_level=3.0, **FAST)
    other_text = a2a.regenerate(tiny, audio, ["metal footsteps"], seeds=[0], init_noise_level=3.0, **FAST)
    assert np.abs(moved - kept).mean() > 1e-3 * np.abs(kept).mean() + 1e-6
    np.testing.assert_array_equal(moved, again)
    assert not np.allclose(moved, other_seed) and not np.allclose(moved, other_text)  # the T5 prompt is wired in


def test_init_noise_level_and_sampler_are_checked():
    assert a2a.check_init_noise_level(0) == 0.0 and a2a.check_init_noise_level(5) == 5.0
    for bad in (0.2, -1.0, float("nan")):
        with pytest.raises(ValueError, match="init noise level"):
            a2a.check_init_noise_level(bad)


@pytest.mark.parametrize("seconds", [0.3, 1.0, 2.45])
def test_windowed_regeneration_has_the_right_length_and_channels(tiny, seconds):
    """Windows of 1 s here (47 s in the engine): several windows, crossfaded, exactly the input's length."""
    frame_rate = 125.0
    n_frames = int(seconds * frame_rate)
    envelope = np.abs(np.sin(np.arange(n_frames) / 9.0)).astype(np.float32) * 0.2
    n = int(round(n_frames / frame_rate * RATE))
    render = _render(n).numpy()
    spans = window_spans(envelope, frame_rate, window_s=1.0)
    records: list = []
    regen = a2a.windowed_regenerator(tiny, BlockReader(iter([render[:, :5000], render[:, 5000:]])).read, spans,
                                     frame_rate, "wood", seed=3, candidates=2, records=records,
                                     init_noise_level=1.0, **FAST)
    out = np.concatenate(list(iter_windowed_render(regen, envelope, frame_rate, RATE, window_s=1.0)), axis=1)
    assert out.shape == (2, n) and np.isfinite(out).all()
    assert len(records) == len(spans) and (len(spans) > 1) == (seconds > 1.1)
    for record in records:  # each window kept its best-timed candidate
        assert len(record["candidates"]) == 2 and set(record["timing"]) == set(a2a.TIMING_KEYS)
        best = max(record["candidates"], key=a2a.timing_rank)
        assert record["timing"] == best and record["seed"] in (3 + 2 * record["window"], 4 + 2 * record["window"])


def test_block_reader_gives_overlapping_ranges_of_a_stream():
    stream = np.arange(40, dtype=np.float32).reshape(2, 20)
    reader = BlockReader(iter([stream[:, :7], stream[:, 7:8], stream[:, 8:]]))
    np.testing.assert_array_equal(reader.read(0, 10), stream[:, :10])
    np.testing.assert_array_equal(reader.read(8, 15), stream[:, 8:15])
    np.testing.assert_array_equal(reader.read(18, 24)[:, :2], stream[:, 18:])
    assert not reader.read(18, 24)[:, 2:].any()  # past the end: silence
    with pytest.raises(ValueError, match="released"):
        reader.read(3, 5)


def test_timing_scores_prefer_audio_that_follows_the_envelope():
    frame_rate, n = 125.0, 2 * RATE
    envelope = np.zeros(250, np.float32)
    envelope[[30, 110, 190]] = 0.3
    render = _render(n).numpy()
    follows = np.zeros((2, n), np.float32)
    for frame in (30, 110, 190):  # bursts where the envelope has its onsets
        start = int(frame / frame_rate * RATE)
        follows[:, start:start + 2000] = render[:, 2205:4205]
    steady = np.full((2, n), 0.05, np.float32) * np.sign(np.sin(np.arange(n) / 3.0))
    good = a2a.timing_scores(envelope, follows, RATE, frame_rate)
    bad = a2a.timing_scores(envelope, steady, RATE, frame_rate)
    assert a2a.timing_rank(good) > a2a.timing_rank(bad) and good["onset_f1"] > 0.9


@pytest.fixture(scope="module")
def sao_env(tmp_path_factory):
    """Settings whose model store holds the tiny SAO and t5-base stand-ins."""
    from data_catalog.model_store import ModelStore

    root = tmp_path_factory.mktemp("sao-store")
    dirs = {"SONORIZE_MODEL_DIR": str(root / "models"), "SONORIZE_CACHE_DIR": str(root / "cache"),
            "SONORIZE_CATALOG_DIR": str(root / "catalog")}
    add_tiny_sao_to_store(ModelStore(root / "models"), root / "staging")
    return root, dirs


@pytest.mark.needs_ffmpeg
def test_sao_engine_in_the_sonorize_flow_records_timing(sao_env, prefect_home):
    from data_catalog.examples import make_bouncing_ball_video
    from flows.sonorize_flow import sonorize
    from tasks.engines.weights import load_sao_text_model

    root, dirs = sao_env
    video = root / "ball.mp4"
    make_bouncing_ball_video(video, duration_s=1.0)
    load_sao_text_model.cache_clear()
    with settings_environment(dirs):
        run = sonorize(paths=[str(video)], out_dir=str(root / "out"), synth_engine="sao", envelope_engine="preview",
                       prompt="a rubber ball bouncing", init_noise_level=1.0, candidates=2, **FAST)
    record = run["videos"][0]
    assert record["status"] == "ok", record
    import soundfile as sf

    info = sf.info(record["outputs"]["wav"])
    assert info.samplerate == RATE and info.channels == 2 and abs(info.duration - 1.0) < 0.05
    engine = record["engines"]
    assert engine["synth"] == "sao" and engine["init_noise_level"] == 1.0 and engine["candidates"] == 2
    assert "foley render" in engine["source"] and engine["render"]["events"] >= 1
    [window] = engine["windows"]
    assert len(window["candidates"]) == 2 and window["timing"]["onset_f1"] is not None
    assert "onset_f1" in record["metrics"]["synth_follows_envelope"]  # the whole output, as for every engine
    assert run["engines"]["synth"]["name"] == "sao" and run["options"]["candidates"] == 2


def test_sao_engine_longer_than_one_window_at_init_noise_zero(sao_env):
    """48.5 s through the engine: two 47 s windows, exactly the asked length, and each window scored."""
    from tasks.engines import create_synth_engine_from_config
    from tasks.engines.weights import load_sao_text_model

    root, dirs = sao_env
    frame_rate = 125.0
    envelope = np.zeros(int(48.5 * frame_rate), np.float32)
    envelope[::100] = 0.3  # a hit every 0.8 s
    n = int(48.5 * RATE)
    load_sao_text_model.cache_clear()
    with settings_environment(dirs):
        engine = create_synth_engine_from_config("sao", init_noise_level=0.0)
        blocks, details = engine.render_blocks(envelope, frame_rate, n_samples=n, sample_rate=RATE, prompt="wood",
                                               audio_prompt=None, audio_prompt_rate=None, seed=0)
        total = channels = 0
        for block in blocks:
            total, channels = total + block.shape[1], block.shape[0]
    assert total == n and channels == 2
    assert [w["window"] for w in details["windows"]] == [0, 1] and details["windows"][1]["end_s"] == round(len(envelope) / frame_rate, 3)
    assert all(w["timing"]["e_l1"] is not None for w in details["windows"])


def test_missing_weights_stop_the_batch_naming_each_file(tmp_path, monkeypatch):
    from data_catalog.examples import make_bouncing_ball_video
    from data_catalog.settings import get_settings
    from flows.sonorize_flow import sonorize
    from tasks.engines import create_synth_engine_from_config
    from tasks.engines.weights import SAOWeightsMissing

    monkeypatch.setenv("SONORIZE_MODEL_DIR", str(tmp_path / "empty-store"))
    get_settings.cache_clear()
    with pytest.raises(SAOWeightsMissing) as error:
        create_synth_engine_from_config("sao")
    message = str(error.value)
    assert message.startswith("the sao synth engine needs weights")
    for name, files in (("stable-audio-open", ("model.safetensors", "model_config.json")),
                        ("t5-base", ("model.safetensors", "config.json", "spiece.model", "tokenizer.json"))):
        lines = [line for line in message.splitlines() if f"`sonorize models pull {name}`" in line]
        assert sorted(line.split(":")[0].rsplit("/", 1)[1] for line in lines) == sorted(files), lines
    with pytest.raises(ValueError, match="sampler"):  # a wrong option is named before the weights
        create_synth_engine_from_config("sao", sampler="euler")

    video = tmp_path / "ball.mp4"
    make_bouncing_ball_video(video, duration_s=1.0)
    with pytest.raises(SAOWeightsMissing):
        sonorize(paths=[str(video)], out_dir=str(tmp_path / "out"), synth_engine="sao")
    assert not (tmp_path / "out" / "ball").exists()  # stopped before any video
