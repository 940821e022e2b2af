"""AudioSep end to end with tiny random weights of the official layout: command, cache, preprocess, errors.

The model store holds a Lightning-style ``audiosep_base_4M_steps.ckpt`` whose
``ss_model.*`` is a tiny ResUNet30 (same classes, 512-d FiLM input) and whose
``query_encoder.model.*`` is laion_clap's CLAP (HTSAT-tiny, one-layer RoBERTa
stand-in), beside the tokenizer stand-ins laion_clap reads. The registry is
the real one without published hashes (the stand-ins are not the published
files), so every run goes through the real loading code.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
if __import__("importlib").util.find_spec("laion_clap") is None:
    pytest.skip("laion_clap not installed", allow_module_level=True)

import soundfile as sf  # noqa: E402
from clap_stand_ins import HF_STAND_INS, add_hf_stand_ins, clap_state_dict, hash_free  # noqa: E402
from settings_env import use_settings  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from data_catalog.model_store import ModelStore, StateDictMismatchError  # noqa: E402
from folai_models.separation.resunet import ResUNetConfig, create_separator  # noqa: E402
from tasks import separation as sep  # noqa: E402

TINY = ResUNetConfig(n_fft=256, hop_length=40, condition_size=512, stem_channels=4, encoder_channels=(4, 8, 8, 8, 8, 8))
REGISTRY_NAMES = ("audiosep", "audiosep-clap", *HF_STAND_INS)
runner = CliRunner()


def _checkpoint(path, state: dict) -> None:
    torch.save({"epoch": 0, "global_step": 4_000_000, "state_dict": state, "optimizer_states": []}, path)


@pytest.fixture(scope="module")
def audiosep_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("audiosep-store")
    registry = hash_free(REGISTRY_NAMES)
    store = ModelStore(root / "models", registry=registry)
    add_hf_stand_ins(store, root / "staging")
    torch.manual_seed(0)
    state = {f"ss_model.{k}": v for k, v in create_separator(TINY).state_dict().items()}
    state.update({f"query_encoder.model.{k}": v for k, v in clap_state_dict(store).items()})
    _checkpoint(root / "audiosep_base_4M_steps.ckpt", state)
    store.add_file("audiosep", root / "audiosep_base_4M_steps.ckpt")
    return store, registry, state


@pytest.fixture
def use_store(audiosep_store, monkeypatch):
    """Make the tiny store the default one (SONORIZE_MODEL_DIR, the registry without hashes)."""
    store, registry, _ = audiosep_store
    monkeypatch.setattr("data_catalog.model_store.store.REGISTRY", registry)
    use_settings(monkeypatch, {"SONORIZE_MODEL_DIR": str(store.root)})
    return ModelStore()


def _wav(path, audio: np.ndarray, rate: int = 48000):
    sf.write(str(path), np.asarray(audio, np.float32).T, rate)
    return path


@pytest.mark.needs_ffmpeg
def test_separate_command_on_files_and_folders_with_bad_inputs(use_store, tmp_path):
    from media_factory import pattern_clip

    from flows.cli import app

    rng = np.random.default_rng(0)
    t = np.arange(int(1.5 * 48000)) / 48000
    stereo = _wav(tmp_path / "steps.wav", np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.1 * rng.standard_normal(t.size)]))
    folder = tmp_path / "videos"
    folder.mkdir()
    pattern_clip(folder / "walk.mp4", seconds=1.0, audio=True)
    (folder / "readme.md").write_text("not media: skipped when walking a folder")
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("this is text, not audio")
    silent = _wav(tmp_path / "quiet.wav", np.zeros((1, 48000)))
    out = tmp_path / "out"
    result = runner.invoke(app, ["separate", str(stereo), str(folder), str(not_audio), str(silent),
                                 "--query", "footstep sounds", "--out", str(out)])
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "notes.wav" in text and "silent" in text and "2 ok, 2 failed" in text
    info = sf.info(str(out / "steps.separated.wav"))
    assert (info.samplerate, info.channels) == (44100, 2) and abs(info.frames - 66150) <= 2
    audio, _ = sf.read(str(out / "steps.separated.wav"))
    assert np.abs(audio).max() > 0 and not np.allclose(audio[:, 0], audio[:, 1])  # each channel separated
    assert sf.info(str(out / "walk.separated.wav")).channels == 2  # mono source: the same separation twice
    for name in ("steps", "walk"):
        assert (out / f"{name}.separated.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "quiet.separated.wav").exists() and not (out / "notes.separated.wav").exists()
    assert not list(out.glob(".*.tmp"))  # failed files leave nothing behind


def test_missing_weights_are_named_before_any_work(tmp_path):
    from flows.cli import app

    source = _wav(tmp_path / "a.wav", np.zeros((1, 4800)) + 0.1)
    result = runner.invoke(app, ["separate", str(source), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    for name in ("audiosep", *HF_STAND_INS):
        assert f"sonorize models pull {name}" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.needs_ffmpeg
def test_separated_targets_are_cached_by_content_query_and_weights(use_store, tmp_path):
    from data_catalog.separation_cache import SeparationCache

    source = _wav(tmp_path / "clip.wav", 0.2 * np.random.default_rng(1).standard_normal((2, 24000)))
    loads = []

    def loader():
        loads.append(1)
        return sep.load_separator(use_store, device="cpu")

    revision, sha, cache = sep.separation_revision(use_store), "ab" * 32, SeparationCache(tmp_path / "cache")
    first, cached, key = sep.separated_target_audio(str(source), sha, "footstep sounds", separator=loader,
                                                    revision=revision, cache=cache)
    assert not cached and key.startswith("sep-") and sf.info(str(first)).samplerate == 44100
    again, cached, key_again = sep.separated_target_audio(str(source), sha, "footstep sounds", separator=loader,
                                                          revision=revision, cache=cache)
    assert cached and again == first and key_again == key and len(loads) == 1  # no model loaded
    other = sep.separated_target_audio(str(source), sha, "dog barking", separator=loader, revision=revision,
                                       cache=cache)
    assert not other[1] and other[2] != key and len(loads) == 2
    sidecar = first.with_suffix(".json")
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "n_samples": 1}))  # tampered: a miss
    assert not sep.separated_target_audio(str(source), sha, "footstep sounds", separator=loader, revision=revision,
                                          cache=cache)[1]


@pytest.mark.needs_ffmpeg
def test_preprocess_walking_the_maps_measures_targets_on_separated_audio(use_store, tmp_path):
    from media_factory import pattern_clip

    from data_catalog import dataset_tables as tables
    from flows.preprocess_flow import preprocess

    root = tmp_path / "wtm"
    root.mkdir()
    pattern_clip(root / "abcdefghijk_0_2.2.mp4", seconds=2.2, audio=True)
    pattern_clip(root / "zyxwvutsrqp_5_7.5.mp4", seconds=2.5, audio=True)
    cold = preprocess(dataset="walking_the_maps", root=str(root))
    assert cold["n_ok"] == 2, cold["failures"]
    assert cold["separation"] == {"query": "footstep sounds", "revision": sep.separation_revision()}
    assert all(r["separated"] and r["separation_cached"] is False for r in cold["items"])
    rows = tables.read_videos(dataset="walking-the-maps", status="ok").to_pylist()
    for row in rows:
        assert row["target_source"].startswith("sep-") and row["target_spec"].endswith(row["target_source"])
        assert row["separation_query"] == "footstep sounds" and sf.info(row["target_audio_path"]).channels == 2
        features, envelope = tables.load_video_arrays(row)  # targets read from the separated audio's cache
        assert envelope.shape == (row["n_target_frames"],) and np.isfinite(envelope).all()
    warm = preprocess(dataset="walking_the_maps", root=str(root))
    assert all(r["status"] == "cached" and r["separation_cached"] for r in warm["items"])


def test_checkpoint_errors_name_the_file(audiosep_store, tmp_path):
    _, registry, state = audiosep_store
    store = ModelStore(tmp_path / "models", registry=registry)
    only_separator = {k: v for k, v in state.items() if k.startswith("ss_model.")}
    _checkpoint(tmp_path / "audiosep_base_4M_steps.ckpt", only_separator)
    store.add_file("audiosep", tmp_path / "audiosep_base_4M_steps.ckpt")
    with pytest.raises(sep.SeparationWeightsMissing, match="sonorize models pull audiosep-clap"):
        sep._load_separator(store, "cpu")
    wrong = dict(only_separator)
    wrong["ss_model.base.extra.weight"] = torch.zeros(1)
    _checkpoint(tmp_path / "other.ckpt", wrong)
    store.add_file("audiosep", tmp_path / "other.ckpt", force=True)
    with pytest.raises(StateDictMismatchError, match="1 unexpected key"):
        sep._load_separator(store, "cpu")
