"""Video2RMS envelope model: shapes, loss, decoding of any length, training, checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from data_catalog.checkpoints import (
    CheckpointError,
    load_checkpoint_state,
    load_optimizer_state,
    optimizer_path,
    save_checkpoint,
    sidecar_path,
)
from data_catalog.errors import SonorizeError
from folai_models.quantize import classes_to_rms, gaussian_label_smoothing, mu_law, rms_to_classes
from folai_models.video2rms.config import Video2RMSConfig
from folai_models.video2rms.decode import (
    logits_to_envelope,
    predict_envelope,
    predict_probabilities,
    resolve_hop_frames,
    window_starts,
)
from folai_models.video2rms.loss import IGNORE_CLASS, soft_targets, video2rms_loss
from folai_models.video2rms.model import Video2RMS, create_video2rms_from_config
from folai_models.video2rms.train import (
    EvalVideo,
    create_optimizer,
    evaluate,
    is_improvement,
    make_chunks,
    make_loader,
    seed_everything,
    train_epoch,
)

TINY = dict(input_dim=8, conv_channels=16, lstm_hidden=8, kernel_size=3)


@pytest.fixture(autouse=True)
def _restore_torch_determinism():
    """seed_everything flips a global torch switch; leave other tests as they were."""
    before = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(before)


def tiny_config(**overrides) -> Video2RMSConfig:
    return Video2RMSConfig(**{**TINY, **overrides})


def tiny_model(**overrides):
    torch.manual_seed(0)
    return create_video2rms_from_config(tiny_config(**overrides)).eval()


# --- config -----------------------------------------------------------------------------------


def test_config_json_round_trip_and_paper_defaults():
    config = Video2RMSConfig(upsampling="linear", window_s=7.3, best_metric="acc@5", conv_channels=32)
    again = Video2RMSConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    default = Video2RMSConfig()
    assert (default.n_classes, default.mu, default.rms_min) == (64, 63, 0.01)
    assert (default.learning_rate, default.weight_decay, default.batch_size, default.epochs) == (1e-3, 1e-3, 64, 500)
    assert (default.window_frames, default.window_envelope_frames, default.alignment_frames) == (300, 1250, 6)
    assert default.conv_width == 1024 and default.lstm_width == 256
    with pytest.raises(ValueError, match="unknown"):
        Video2RMSConfig.from_dict({**config.to_dict(), "lstm_hiden": 3})
    with pytest.raises(ValueError, match="upsampling"):
        Video2RMSConfig(upsampling="cubic")


# --- model ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds, n_frames, n_out", [(2.0, 60, 250), (10.0, 300, 1250), (7.3, 219, 913)])
def test_forward_shapes_folai_any_length(seconds, n_frames, n_out):
    model = tiny_model()
    assert model.config.n_envelope_frames_for_video_frames(n_frames) == n_out  # 7.3 s: 912.5 rounds half up
    logits = model(torch.randn(2, n_frames, 8))
    assert logits.shape == (2, n_out, 64)


def test_folai_upsample_sizes_follow_the_paper():
    assert tiny_model().upsample_sizes(300) == [600, 1200, 1250]


@pytest.mark.parametrize("seconds, n_frames, n_out", [(2.0, 60, 250), (10.0, 300, 1250), (7.3, 219, 913)])
def test_forward_shapes_linear_fixed_window(seconds, n_frames, n_out):
    model = tiny_model(upsampling="linear", window_s=seconds)
    assert model(torch.randn(3, n_frames, 8)).shape == (3, n_out, 64)
    with pytest.raises(ValueError, match="exactly"):
        model(torch.randn(1, n_frames + 6, 8))


# --- loss -------------------------------------------------------------------------------------


def test_soft_targets_match_label_smoothing():
    config = tiny_config()
    classes = np.array([0, 1, 5, 63, 30])
    expected = gaussian_label_smoothing(classes, n_classes=64, sigma=1.0, window=2)
    np.testing.assert_allclose(soft_targets(classes, config).numpy(), expected, atol=1e-7)
    np.testing.assert_allclose(soft_targets(np.array([[5, IGNORE_CLASS]]), config)[0, 1].numpy(), 0.0)


def test_loss_ignores_masked_and_padded_frames():
    config = tiny_config()
    torch.manual_seed(1)
    logits = torch.randn(2, 10, 64)
    targets = torch.randint(0, 64, (2, 10))
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[:, 7:] = False
    base = video2rms_loss(logits, targets, config, mask=mask)
    changed = logits.clone()
    changed[:, 7:] = torch.randn(2, 3, 64) * 50
    assert torch.allclose(video2rms_loss(changed, targets, config, mask=mask), base)
    padded = targets.clone()
    padded[:, 7:] = IGNORE_CLASS
    assert torch.allclose(video2rms_loss(changed, padded, config), base)
    nothing = video2rms_loss(logits.requires_grad_(), torch.full((2, 10), IGNORE_CLASS), config)
    assert float(nothing.detach()) == 0.0
    nothing.backward()  # still differentiable


# --- training ---------------------------------------------------------------------------------


@pytest.mark.parametrize("upsampling", ["folai", "linear"])
def test_a_few_steps_overfit_a_tiny_batch(upsampling):
    seed_everything(0)
    config = tiny_config(upsampling=upsampling, window_s=2.0, dropout=0.0, learning_rate=1e-2, weight_decay=0.0)
    model = create_video2rms_from_config(config)
    x = torch.randn(4, 60, 8)
    y = torch.from_numpy(rms_to_classes(np.abs(np.random.default_rng(0).normal(0.1, 0.1, (4, 250)))))
    optimizer = create_optimizer(model, config)
    losses = [train_epoch(model, optimizer, [(x, y)], config) for _ in range(20)]
    assert losses[1] < losses[0]  # one step already helps
    assert losses[-1] < losses[0] - 0.3  # from ln(64) = 4.16 towards the targets' entropy


def test_make_chunks_aligns_frames_and_pads_short_videos():
    config = tiny_config(window_s=2.0)
    n_frames = 150  # 5 s
    features = np.repeat(np.arange(n_frames, dtype=np.float32)[:, None], 8, axis=1)
    n_env = config.n_envelope_frames_for_video_frames(n_frames)
    classes = np.arange(n_env) % 64
    chunks = make_chunks(features, classes, config)
    starts = window_starts(n_frames, config, resolve_hop_frames(config, 2.0))
    assert starts == [0, 60, 90]  # last window ends at the video's end
    for start, (x, y) in zip(starts, chunks):
        assert x.shape == (60, 8) and y.shape == (250,)
        assert x[0, 0] == start
        e = round(start * 125 / 30)
        np.testing.assert_array_equal(y, classes[e : e + 250])
    short_x, short_y = make_chunks(features[:39], classes[:163], config)[0]
    assert short_x.shape == (60, 8) and np.all(short_x[39:, 0] == 38)  # edge padding
    assert np.all(short_y[163:] == IGNORE_CLASS) and np.all(short_y[:163] >= 0)
    with pytest.raises(ValueError, match="do not belong"):
        make_chunks(features, classes[:200], config)


def test_loader_batches_chunks_and_evaluate_reports_metrics():
    config = tiny_config(window_s=2.0, batch_size=2)
    rng = np.random.default_rng(0)
    features = rng.normal(size=(150, 8)).astype(np.float32)
    envelope = np.abs(rng.normal(0.05, 0.05, config.n_envelope_frames_for_video_frames(150))).astype(np.float32)
    chunks = make_chunks(features, rms_to_classes(envelope), config)
    x, y = next(iter(make_loader(chunks, config)))
    assert x.shape == (2, 60, 8) and y.dtype == torch.int64
    model = tiny_model(window_s=2.0)
    chunk_scores = evaluate(model, chunks, config)
    video_scores = evaluate(model, [EvalVideo(features, envelope, "clip")], config)
    for scores in (chunk_scores, video_scores):
        for key in ("e_l1", "correlation", "acc@1", "acc@5", "acc@10", "onset_f1"):
            assert key in scores
        assert scores["e_l1"] >= 0
    assert np.isfinite(chunk_scores["loss"]) and chunk_scores["n_items"] == len(chunks)
    assert is_improvement(0.5, 0.4, config) and not is_improvement(float("nan"), 0.4, config)
    assert is_improvement(0.1, None, config)


# --- decoding and videos of any length --------------------------------------------------------


def test_decoding_argmax_and_expectation():
    logits = torch.full((1, 3, 64), -30.0)
    logits[0, 0, 0] = logits[0, 1, 10] = 30.0
    logits[0, 2, 10] = logits[0, 2, 20] = 30.0  # two equal modes
    argmax = logits_to_envelope(logits, "argmax")
    centres = classes_to_rms(np.array([0, 10, 20]))
    np.testing.assert_allclose(argmax[0, :2], centres[:2])
    expectation = logits_to_envelope(logits, "expectation")
    np.testing.assert_allclose(expectation[0, :2], centres[:2], rtol=1e-5)
    assert centres[1] < expectation[0, 2] < centres[2]  # half way in the mu-law domain
    assert np.isclose(mu_law(expectation[0, 2]), (mu_law(centres[1]) + mu_law(centres[2])) / 2, atol=1e-6)


class TimeStub(nn.Module):
    """Logits peaked at a class that follows absolute time (feature 0) or the window-local time."""

    def __init__(self, config: Video2RMSConfig, local: bool = False) -> None:
        super().__init__()
        self.config, self.local = config, local
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_frames = x.shape[1]
        n_out = self.config.n_envelope_frames_for_video_frames(n_frames)
        idx = ((2 * torch.arange(n_out) + 1) * n_frames) // (2 * n_out)  # video frame under each centre
        if self.local:
            cls = 5.0 + 55.0 * idx.float() / n_frames  # away from class 0, whose level is far off
            cls = cls.expand(x.shape[0], -1)
        else:
            cls = 32.0 + 25.0 * torch.sin(2 * torch.pi * x[:, idx, 0] / 97.0)
        return -((torch.arange(64.0) - cls[..., None]) ** 2) / 2.0

    onset_head = None  # the Video2RMS interface: no onset head

    def forward_with_onsets(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self(x), None


@pytest.mark.parametrize("n_frames", [1110, 1111])
def test_windowed_prediction_is_aligned_with_a_single_long_window(n_frames):
    config = tiny_config(window_s=2.0)
    features = np.repeat(np.arange(n_frames, dtype=np.float32)[:, None], 8, axis=1)
    stub = TimeStub(config)
    windowed = predict_envelope(stub, features, config)
    assert windowed.shape == (config.n_envelope_frames_for_video_frames(n_frames),)
    whole = logits_to_envelope(stub(torch.from_numpy(features)[None]), config.decode_method, config=config)[0]
    np.testing.assert_allclose(windowed, whole, atol=1e-5)


def test_crossfade_leaves_no_seam():
    config = tiny_config(window_s=2.0)
    features = np.zeros((1110, 8), dtype=np.float32)
    envelope = predict_envelope(TimeStub(config, local=True), features, config)
    steps = np.abs(np.diff(mu_law(envelope)))
    one_class = (1 - mu_law(0.01)) / 63
    assert steps.max() < 1.5 * one_class  # a hard cut would jump ~40 classes at each join
    probabilities = predict_probabilities(TimeStub(config, local=True), features, config)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("upsampling", ["folai", "linear"])
def test_real_model_any_length_and_short_videos(upsampling):
    model = tiny_model(upsampling=upsampling, window_s=2.0)
    rng = np.random.default_rng(0)
    long = predict_envelope(model, rng.normal(size=(1110, 8)), batch_size=4)  # 37 s
    assert long.shape == (4625,) and np.all((long >= 0) & (long <= 1))
    short_features = rng.normal(size=(39, 8)).astype(np.float32)  # 1.3 s, shorter than a window
    short = predict_envelope(model, short_features)
    assert short.shape == (163,)
    padded = np.concatenate([short_features, np.repeat(short_features[-1:], 21, axis=0)])
    with torch.no_grad():
        direct = logits_to_envelope(model(torch.from_numpy(padded)[None]), config=model.config)[0, :163]
    np.testing.assert_allclose(short, direct, atol=1e-6)
    assert model.training is False


# --- checkpoints ------------------------------------------------------------------------------


def test_checkpoint_round_trip_and_optimizer_state(tmp_path):
    config = tiny_config(window_s=2.0)
    model = create_video2rms_from_config(config)
    optimizer = create_optimizer(model, config)
    x, y = torch.randn(2, 60, 8), torch.randint(0, 64, (2, 250))
    train_epoch(model, optimizer, [(x, y)], config)
    path = save_checkpoint(tmp_path / "ckpt" / "best.safetensors", model, config, optimizer=optimizer,
                           epoch=3, metrics={"onset_f1": 0.5, "correlation": float("nan")}, extra={"split": "val"})
    assert sidecar_path(path).is_file() and optimizer_path(path).is_file()
    assert not list(path.parent.glob("*.tmp"))
    state, meta = load_checkpoint_state(path, model="Video2RMS")
    loaded = Video2RMS.from_checkpoint(state, meta)
    loaded_config = loaded.config
    assert loaded_config == config and meta["epoch"] == 3 and meta["metrics"]["correlation"] is None
    assert loaded.training is False
    model.eval()
    probe = torch.randn(1, 60, 8)
    with torch.no_grad():
        assert torch.equal(model(probe), loaded(probe))
    fresh = create_optimizer(loaded, loaded_config)
    load_optimizer_state(path, fresh)
    before, after = optimizer.state_dict(), fresh.state_dict()
    for key, state in before["state"].items():
        for name, value in state.items():
            assert torch.equal(value, after["state"][key][name])


def test_tampered_or_unexplained_checkpoints_are_refused(tmp_path):
    config = tiny_config(window_s=2.0)
    path = save_checkpoint(tmp_path / "best.safetensors", tiny_model(window_s=2.0), config, epoch=1)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256") as caught:
        load_checkpoint_state(path)
    assert isinstance(caught.value, SonorizeError) and str(path) in str(caught.value)
    sidecar_path(path).unlink()
    with pytest.raises(CheckpointError, match="sidecar is missing") as caught:
        load_checkpoint_state(path)
    assert "best.json" in str(caught.value)


def test_sidecar_config_that_does_not_fit_the_weights_is_refused(tmp_path):
    config = tiny_config(window_s=2.0)
    path = save_checkpoint(tmp_path / "best.safetensors", tiny_model(window_s=2.0), config, epoch=1)
    meta = json.loads(sidecar_path(path).read_text())
    meta["config"]["conv_channels"] = 32
    sidecar_path(path).write_text(json.dumps(meta))
    state, meta = load_checkpoint_state(path)
    with pytest.raises(ValueError, match="do not load into the configured Video2RMS"):
        Video2RMS.from_checkpoint(state, meta)
    with pytest.raises(ValueError, match="invalid model config.*unknown Video2RMSConfig keys: typo"):
        Video2RMS.from_checkpoint(state, {**meta, "config": {**meta["config"], "typo": 1}})


def test_a_checkpoint_of_another_model_is_refused(tmp_path):
    config = tiny_config(window_s=2.0)
    path = save_checkpoint(tmp_path / "best.safetensors", tiny_model(window_s=2.0), config, epoch=1)
    with pytest.raises(CheckpointError, match="checkpoint of 'Video2RMS', not of 'ControlNetWeights'"):
        load_checkpoint_state(path, model="ControlNetWeights")


def test_checkpoints_module_imports_no_model():
    """data_catalog.checkpoints stores and verifies; the models build themselves (``from_checkpoint``)."""
    import ast
    import subprocess
    import sys

    import data_catalog.checkpoints as module

    tree = ast.parse(open(module.__file__, encoding="utf-8").read())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not {name for name in imported if name.split(".")[0] == "folai_models"}, imported  # not even lazily
    code = ("import sys, data_catalog.checkpoints as c; "
            "print(sorted(m for m in sys.modules if m.startswith(('folai_models', 'torch', 'safetensors'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
