"""train-controlnet flow and the folai synth engine, end to end with a tiny Stable Audio Open in a model store.

A tiny model with SAO's layout (tiny_oobleck.json) is saved as ``model.safetensors`` + ``model_config.json``
and added to a temporary model store the way a user adds a hand-fetched file
(``sonorize models pull stable-audio-open --from FILE``); the flow trains its
ControlNet on preprocessed generated clips, resumes, and the sonorize flow
renders with ``--synth-engine folai``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sao_stand_ins import add_tiny_sao_base_to_store
from settings_env import settings_environment, use_settings

torch = pytest.importorskip("torch")
pytest.importorskip("stable_audio_tools")

pytestmark = pytest.mark.needs_ffmpeg

TINY_TRAIN = {"steps": 2, "batch_size": 2, "chunk_s": 1.0, "checkpoint_every": 1, "sample_every": 2,
              "sample_steps": 3, "bf16": False}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, prefect_home):
    """Two clips with audio, preprocessed once; a model store holding a tiny SAO."""
    from data_catalog.examples import make_bouncing_ball_video
    from data_catalog.model_store import ModelStore
    from flows.preprocess_flow import preprocess

    root = tmp_path_factory.mktemp("controlnet-data")
    for i in range(2):
        make_bouncing_ball_video(root / "clips" / f"clip{i}.mp4", duration_s=2.0, with_audio=True)
    dirs = {"SONORIZE_CACHE_DIR": str(root / "cache"), "SONORIZE_CATALOG_DIR": str(root / "catalog"),
            "SONORIZE_MODEL_DIR": str(root / "models")}
    with settings_environment(dirs):
        result = preprocess(dataset="folder", root=str(root / "clips"), encoder="motion")
        assert result["n_failed"] == 0, result
        add_tiny_sao_base_to_store(ModelStore(root / "models"), root / "staging")
    return root, dirs


@pytest.fixture
def env(prepared, monkeypatch):
    from data_catalog.settings import get_settings

    root, dirs = prepared
    use_settings(monkeypatch, dirs)
    yield root
    get_settings.cache_clear()


def _train(out: Path, **overrides):
    from flows.train_controlnet_flow import train_controlnet

    return train_controlnet(dataset="folder", out_dir=str(out), config={**TINY_TRAIN, **overrides},
                            model={"n_blocks": 2}, train_split="all", val_split="all", val_chunks=1,
                            device="cpu", clap=False, cavp=False)


def test_train_resume_and_folai_engine_in_the_sonorize_flow(env, tmp_path, monkeypatch):
    from data_catalog.checkpoints import CheckpointError, load_checkpoint_state
    from data_catalog.run_records import read_table
    from data_catalog.settings import get_settings
    from flows.sonorize_flow import sonorize
    from tasks.engines.weights import load_folai_model

    torch.set_num_threads(1)
    out = tmp_path / "ckpt"
    first = _train(out)
    assert first["steps_run"] == 2 and [row["step"] for row in first["history"]] == [1, 2]
    state, meta = load_checkpoint_state(first["last_checkpoint"], model="ControlNetWeights")
    assert set(state) and all(k.startswith(("controlnet.", "semantic.")) for k in state)  # ControlNet only
    assert meta["config"]["n_blocks"] == 2 and Path(first["best_checkpoint"]).is_file()
    wav = Path(first["samples"][0]["wav"])
    assert wav.is_file() and wav.stat().st_size > 1000
    assert read_table(get_settings().catalog_dir, "controlnet_steps").num_rows == 2

    resumed = _train(out, steps=3)
    assert resumed["steps_run"] == 1 and [row["step"] for row in resumed["history"]] == [1, 2, 3]

    monkeypatch.setenv("SONORIZE_FOLAI_CONTROLNET_CHECKPOINT", resumed["last_checkpoint"])
    get_settings.cache_clear()
    load_folai_model.cache_clear()
    video = env / "clips" / "clip0.mp4"
    run = sonorize(paths=[str(video)], out_dir=str(tmp_path / "out"), synth_engine="folai")
    record = run["videos"][0]
    assert run["synth_engine"] == "folai" and record["status"] == "ok", record
    import soundfile as sf

    info = sf.info(record["outputs"]["wav"])
    assert info.samplerate == 44100 and info.channels == 2 and abs(info.duration - 2.0) < 0.05

    # a tampered checkpoint is refused with the file named
    Path(resumed["last_checkpoint"]).write_bytes(b"not weights")
    load_folai_model.cache_clear()
    with pytest.raises(CheckpointError, match="last.safetensors"):
        load_folai_model(resumed["last_checkpoint"], "cpu")


def test_missing_weights_name_the_commands_and_fallback_is_opt_in(tmp_path, monkeypatch):
    from data_catalog.examples import make_bouncing_ball_video
    from data_catalog.settings import get_settings
    from flows.sonorize_flow import sonorize
    from tasks.engines import create_synth_engine_from_config
    from tasks.engines.weights import FolAIWeightsMissing

    monkeypatch.setenv("SONORIZE_MODEL_DIR", str(tmp_path / "empty-store"))
    get_settings.cache_clear()
    with pytest.raises(FolAIWeightsMissing) as error:
        create_synth_engine_from_config("folai")
    message = str(error.value)
    assert "sonorize models pull stable-audio-open" in message
    assert "folai-controlnet" in message and "sonorize train-controlnet" in message

    video = make_bouncing_ball_video(tmp_path / "ball.mp4", duration_s=1.0) and tmp_path / "ball.mp4"
    with pytest.raises(FolAIWeightsMissing):
        sonorize(paths=[str(video)], out_dir=str(tmp_path / "out"), synth_engine="folai")
    run = sonorize(paths=[str(video)], out_dir=str(tmp_path / "out2"), synth_engine="folai",
                   synth_fallback_preview=True)
    assert run["synth_engine"] == "preview" and run["videos"][0]["status"] == "ok"


def test_train_controlnet_command_names_the_missing_base_weights(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from data_catalog.settings import get_settings
    from flows.cli import app

    monkeypatch.setenv("SONORIZE_MODEL_DIR", str(tmp_path / "empty-store"))
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["train-controlnet", "greatest-hits", "--out", str(tmp_path / "ckpt")])
    assert result.exit_code == 2, result.output
    assert "stable-audio-open" in result.output and "sonorize models pull stable-audio-open" in result.output
