"""Video2RMS on onnxruntime: the exported graph gives the PyTorch model's results, exports are verified on
load, and the default engine's path runs without importing PyTorch."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from data_catalog.checkpoints import (  # noqa: E402
    CheckpointError,
    load_onnx_export,
    onnx_path,
    onnx_sidecar_path,
    save_checkpoint,
)
from folai_models.video2rms.config import Video2RMSConfig  # noqa: E402
from folai_models.video2rms.decode import predict_envelope, predict_outputs  # noqa: E402
from folai_models.video2rms.model import create_video2rms_from_config  # noqa: E402
from folai_models.video2rms.onnx_export import export_video2rms_onnx  # noqa: E402
from folai_models.video2rms.onnx_model import OnnxVideo2RMS  # noqa: E402
from tasks.engines import video2rms as engine  # noqa: E402
from tasks.engines.video2rms import SHIPPED_VIDEO2RMS, load_video2rms  # noqa: E402
from tasks.video2rms_export import ONNX_TOLERANCE  # noqa: E402
from tasks.video2rms_export import export_video2rms_onnx as export_checkpoint  # noqa: E402
from media_factory import pattern_clip  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TINY = dict(input_dim=8, conv_channels=16, lstm_hidden=8, kernel_size=3, window_s=2.0)
EXTRA = {"encoder": "motion", "feature_mean": [0.0] * 8, "feature_std": [1.0] * 8}  # what the engine reads


def random_model(seed: int = 0, **overrides):
    """A tiny Video2RMS with random weights and random BatchNorm statistics (so the export has real ones)."""
    torch.manual_seed(seed)
    model = create_video2rms_from_config(Video2RMSConfig(**{**TINY, **overrides}))
    for block in model.convs:
        block.norm.running_mean.normal_()
        block.norm.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.fixture(autouse=True)
def _fresh_engine_cache():
    load_video2rms.cache_clear()
    yield
    load_video2rms.cache_clear()


@pytest.mark.parametrize("overrides", [{}, {"onset_weight": 1.0, "decode_method": "onsets"},
                                       {"upsampling": "linear"}], ids=["folai", "onsets", "linear"])
def test_onnx_graph_gives_the_torch_probabilities(overrides):
    model = random_model(**overrides)
    runner = OnnxVideo2RMS(export_video2rms_onnx(model), model.config)
    assert runner.has_onset_head == (model.onset_head is not None)
    features = np.random.default_rng(1).normal(size=(437, 8)).astype(np.float32) * 2  # 14.6 s: 9 windows, a short last
    for batch_size in (1, 4):  # the graph's batch axis is dynamic
        ours, ours_onsets = predict_outputs(runner, features, batch_size=batch_size)
        theirs, theirs_onsets = predict_outputs(model, features, batch_size=batch_size)
        assert ours.shape == theirs.shape == (model.config.n_envelope_frames_for_video_frames(437), 64)
        np.testing.assert_allclose(ours, theirs, atol=ONNX_TOLERANCE, rtol=0)
        if theirs_onsets is None:
            assert ours_onsets is None
        else:
            np.testing.assert_allclose(ours_onsets, theirs_onsets, atol=ONNX_TOLERANCE, rtol=0)
    # the envelope: same decoding over probabilities within the tolerance
    np.testing.assert_allclose(predict_envelope(runner, features, method="expectation"),
                               predict_envelope(model, features, method="expectation"), atol=1e-5)
    assert model.training is False


def test_onnx_graph_refuses_a_config_it_does_not_fit():
    model = random_model()
    graph = export_video2rms_onnx(model)
    with pytest.raises(ValueError, match="takes"):
        OnnxVideo2RMS(graph, Video2RMSConfig(**{**TINY, "window_s": 4.0}))
    with pytest.raises(ValueError, match="onset"):
        OnnxVideo2RMS(graph, Video2RMSConfig(**TINY, onset_weight=1.0))
    with pytest.raises(ValueError, match="not a loadable ONNX graph"):
        OnnxVideo2RMS(b"not onnx", model.config)


@pytest.fixture
def exported(tmp_path) -> Path:
    """A tiny checkpoint with its verified ONNX export beside it."""
    path = tmp_path / "best.safetensors"
    save_checkpoint(path, random_model(onset_weight=1.0, decode_method="onsets"), random_model(
        onset_weight=1.0, decode_method="onsets").config, epoch=1, extra=EXTRA)
    export_checkpoint(path)
    return path


def test_export_is_written_with_its_sources_and_verified(exported):
    record = json.loads(onnx_sidecar_path(exported).read_text())
    meta = json.loads(exported.with_suffix(".json").read_text())
    assert record["checkpoint_weights_sha256"] == meta["weights_sha256"]
    assert record["exporter"]["max_abs_difference"] <= ONNX_TOLERANCE
    graph, loaded_meta = load_onnx_export(exported, model="Video2RMS")
    assert graph == onnx_path(exported) and loaded_meta["config"] == meta["config"]


def test_modified_or_stale_export_is_refused_naming_the_file(exported):
    graph = onnx_path(exported)
    original = graph.read_bytes()
    graph.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(CheckpointError, match=r"best\.onnx.*sha256"):
        load_onnx_export(exported)
    graph.write_bytes(original)
    load_onnx_export(exported)
    # the checkpoint retrained since (other weights, same config): its old export is stale
    save_checkpoint(exported, random_model(seed=5, onset_weight=1.0, decode_method="onsets"),
                    random_model(onset_weight=1.0, decode_method="onsets").config, epoch=2, extra=EXTRA)
    with pytest.raises(CheckpointError, match=r"best\.onnx.*stale"):
        load_onnx_export(exported)
    onnx_sidecar_path(exported).unlink()
    graph.unlink()
    with pytest.raises(CheckpointError, match="no ONNX export"):
        load_onnx_export(exported)


def test_engine_runs_the_export_and_falls_back_to_torch_on_a_bad_one(exported, monkeypatch, caplog):
    model = load_video2rms(str(exported), "auto")[0]
    assert isinstance(model, OnnxVideo2RMS)
    load_video2rms.cache_clear()
    onnx_path(exported).write_bytes(b"changed")
    with caplog.at_level(logging.WARNING, logger=engine.__name__):
        fallback = load_video2rms(str(exported), "cpu")[0]
    assert isinstance(fallback, torch.nn.Module)
    assert "best.onnx" in caplog.text and "PyTorch instead" in caplog.text
    # without PyTorch the modified export is an error naming it
    load_video2rms.cache_clear()
    monkeypatch.setattr(engine, "_installed", lambda module: module != "torch")
    with pytest.raises(CheckpointError, match=r"best\.onnx: sha256"):
        load_video2rms(str(exported), "auto")
    # and a checkpoint without any export says what it needs
    load_video2rms.cache_clear()
    onnx_path(exported).unlink()
    with pytest.raises(CheckpointError, match="needs PyTorch .* or onnxruntime and an ONNX export"):
        load_video2rms(str(exported), "auto")


def test_a_checkpoint_without_export_runs_on_torch(tmp_path):
    path = tmp_path / "user.safetensors"
    model = random_model()
    save_checkpoint(path, model, model.config, epoch=1, extra=EXTRA)
    assert isinstance(load_video2rms(str(path), "auto")[0], torch.nn.Module)


@pytest.mark.skipif(not SHIPPED_VIDEO2RMS.is_file(), reason="no shipped Video2RMS checkpoint in this install")
def test_shipped_export_verifies_and_matches_the_shipped_checkpoint():
    graph, meta = load_onnx_export(SHIPPED_VIDEO2RMS, model="Video2RMS")
    torch_model = engine.torch_video2rms(str(SHIPPED_VIDEO2RMS), "cpu")[0]
    runner = OnnxVideo2RMS(graph, torch_model.config)
    features = np.random.default_rng(0).normal(size=(500, torch_model.config.input_dim)).astype(np.float32)
    for ours, theirs in zip(predict_outputs(runner, features), predict_outputs(torch_model, features)):
        np.testing.assert_allclose(ours, theirs, atol=ONNX_TOLERANCE, rtol=0)


NO_TORCH_SCRIPT = """
import sys
from data_catalog.media import probe_video
from flows.cli import app
from tasks.engines.auto import AutoEnvelopeEngine
from tasks.engines.video2rms import Video2RMSEnvelopeEngine, load_video2rms, video2rms_available
video, out = sys.argv[1], sys.argv[2]
assert video2rms_available()
AutoEnvelopeEngine().predict(probe_video(video))
try:  # the command line's envelope command with the learned engine
    app(["envelope", video, "--out", out, "--envelope-engine", "video2rms"])
except SystemExit as stop:
    assert not stop.code, stop.code
print(type(load_video2rms(str(Video2RMSEnvelopeEngine().checkpoint), "auto")[0]).__name__)
print("torch loaded:", "torch" in sys.modules)
"""


@pytest.mark.needs_ffmpeg
@pytest.mark.skipif(not SHIPPED_VIDEO2RMS.is_file(), reason="no shipped Video2RMS checkpoint in this install")
def test_default_engines_never_import_torch(tmp_path):
    video = pattern_clip(tmp_path / "clip.mp4", seconds=1.0)
    env = {**os.environ, "SONORIZE_CACHE_DIR": str(tmp_path / "cache"), "SONORIZE_CATALOG_DIR": str(tmp_path / "cat"),
           "PYTHONPATH": str(REPO)}
    env.pop("SONORIZE_VIDEO2RMS_CHECKPOINT", None)
    proc = subprocess.run([sys.executable, "-c", NO_TORCH_SCRIPT, str(video), str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "OnnxVideo2RMS" in proc.stdout and (tmp_path / "out" / "clip.envelope.csv").is_file()
    assert "torch loaded: False" in proc.stdout
