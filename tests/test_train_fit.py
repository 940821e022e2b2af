"""The training loops in folai_models (no flow, no files): Video2RMS and ControlNet ``fit``, ``from_checkpoint``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from folai_models.video2rms.calibrate import PRESENCE_GRID  # noqa: E402
from folai_models.video2rms.config import Video2RMSConfig  # noqa: E402
from folai_models.video2rms.fit import fit, prepare_fit_data  # noqa: E402
from folai_models.video2rms.model import create_video2rms_from_config  # noqa: E402
from folai_models.video2rms.normalizer import FeatureNormalizer  # noqa: E402
from folai_models.video2rms.train import EvalVideo, seed_everything  # noqa: E402

TOY = {"input_dim": 4, "conv_channels": 8, "lstm_hidden": 8, "window_s": 2.0, "batch_size": 4, "epochs": 6,
       "train_hop_s": 1.0, "learning_rate": 1e-2, "best_metric": "correlation", "target_smoothing": "none"}


def toy_video(seed: int, name: str, seconds: float = 4.0) -> EvalVideo:
    """Features whose first column says when it is loud: the envelope follows it (a learnable target)."""
    rng = np.random.default_rng(seed)
    n_frames = int(seconds * 30)
    features = rng.normal(size=(n_frames, 4)).astype(np.float32) * 3 + 5  # far from standard: the normaliser matters
    loud = np.repeat(rng.random(n_frames // 6) > 0.5, 6)
    features[:, 0] = np.where(loud, 9.0, 1.0)
    n_env = Video2RMSConfig(**TOY).n_envelope_frames_for_video_frames(n_frames)
    envelope = np.where(loud[np.minimum(np.arange(n_env) * 30 // 125, n_frames - 1)], 0.3, 0.001)
    return EvalVideo(features, envelope.astype(np.float32), name)


def _fit_toy(**overrides):
    train = [toy_video(i, f"v{i}") for i in range(3)]
    val = [toy_video(9, "held-out")]
    normalizer = FeatureNormalizer.fit([v.features for v in train])
    config = Video2RMSConfig.from_dict({**TOY, **overrides})
    seed_everything(config.seed, deterministic=False)
    data = prepare_fit_data(train, val, normalizer, config)
    model = create_video2rms_from_config(config)
    seen = []
    epochs = fit(model, data, config, eval_every=2, on_epoch=seen.append)
    return model, data, config, epochs, seen


def test_video2rms_fit_learns_a_toy_target(one_torch_thread):
    model, data, config, epochs, seen = _fit_toy()
    assert seen == epochs and [e.epoch for e in epochs] == list(range(1, 7))
    losses = [e.row["train_loss"] for e in epochs]
    assert losses[-1] < 0.8 * losses[0], losses
    assert [e.validated for e in epochs] == [False, True, False, True, False, True]
    assert all(e.metrics is None and set(e.row) == {"epoch", "train_loss", "seconds"} for e in epochs[::2])
    best = [e for e in epochs if e.improved]
    assert best and best[0].epoch == 2 and all(e.level_map for e in best)
    assert epochs[-1].metrics["correlation"] > 0.5, epochs[-1].metrics  # the held-out video is followed
    assert len(data.chunks) == 3 * 3 and data.train[0].features.dtype == np.float32  # 4 s, 2 s windows, 1 s hop


def test_video2rms_fit_calibrates_and_resumes(one_torch_thread):
    _, _, config, epochs, _ = _fit_toy(decode_method="presence", epochs=2)
    assert epochs[-1].row["presence_threshold"] in PRESENCE_GRID
    assert epochs[-1].config.presence_threshold == epochs[-1].row["presence_threshold"]
    assert config == Video2RMSConfig.from_dict({**TOY, "decode_method": "presence", "epochs": 2})  # not changed
    train = [toy_video(0, "v0")]
    data = prepare_fit_data(train, train, FeatureNormalizer.fit([train[0].features]), Video2RMSConfig(**TOY))
    resumed = fit(create_video2rms_from_config(Video2RMSConfig(**TOY)), data, Video2RMSConfig(**TOY),
                  start_epoch=5, best=1.0)  # a correlation of 1 cannot be beaten
    assert [e.epoch for e in resumed] == [5, 6] and not any(e.improved for e in resumed)


def test_feature_normalizer_round_trip():
    rng = np.random.default_rng(0)
    videos = [rng.normal(5, 3, size=(40, 6)) for _ in range(2)]
    normalizer = FeatureNormalizer.fit(videos, relative=True)
    assert normalizer.output_dim(6) == 12
    again = FeatureNormalizer.from_dict(normalizer.to_dict())
    np.testing.assert_allclose(again(videos[0]), normalizer(videos[0]), rtol=1e-5, atol=1e-5)
    standard = FeatureNormalizer.fit(videos)(np.concatenate(videos))
    np.testing.assert_allclose(standard.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(standard.std(axis=0), 1, atol=1e-4)



@pytest.mark.parametrize("relative", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_feature_normalizer_blocks_change_nothing(monkeypatch, relative, dtype):
    """Normalised a few rows and columns at a time (memory), the output is the one expression's, bit for bit."""
    from folai_models.video2rms import normalizer as module

    rng = np.random.default_rng(1)
    features = (rng.normal(size=(103, 11)) * rng.uniform(0.01, 50, 11)).astype(dtype)
    features[rng.random(features.shape) < 0.3] = 0.0  # percentiles between tied values
    normalizer = FeatureNormalizer.fit([features[:60]], relative=relative)
    standard = (features - normalizer.mean) / normalizer.std
    if relative:
        scale = np.percentile(np.abs(features), module.RELATIVE_PERCENTILE, axis=0) + module.FEATURE_STD_FLOOR
        expected = np.concatenate([standard, features / scale], axis=1).astype(np.float32)
    else:
        expected = standard.astype(np.float32)
    monkeypatch.setattr(module, "NORMALIZE_BLOCK_ROWS", 7)
    monkeypatch.setattr(module, "PERCENTILE_BLOCK_COLUMNS", 3)
    out = normalizer(features)
    assert out.dtype == np.float32 and out.shape == expected.shape
    assert np.array_equal(out, expected)


# --- the ControlNet ---------------------------------------------------------------------------------------


@dataclass
class ToyChunk:
    """What the ControlNet's fit reads of a chunk (as tasks.controlnet_data.SynthChunk)."""

    audio: np.ndarray
    envelope: np.ndarray
    clap: np.ndarray | None = None
    cavp: np.ndarray | None = None

    def audio_float(self) -> np.ndarray:
        return self.audio


@pytest.fixture(scope="module")
def tiny_synth():
    pytest.importorskip("stable_audio_tools")
    from folai_models.synth import sao
    from folai_models.synth.model import FolAISynthConfig, create_folai_synth_from_config, load_base_weights

    torch.manual_seed(0)
    config = FolAISynthConfig(base=sao.load_config("tiny_oobleck.json"), n_blocks=2)
    model = create_folai_synth_from_config(config)
    with torch.no_grad():  # like a pretrained base: stable-audio-tools zero-initialises every branch output
        for param in model.base.model.parameters():
            if not param.any():
                param.normal_(0.0, 0.02)
    base_state = {k: v.clone() for k, v in model.base.state_dict().items()}
    load_base_weights(model, base_state)
    return model, base_state


def _toy_chunks(n: int, n_samples: int = 4096) -> list[ToyChunk]:
    """Bursts of noise; the envelope is measured from the audio (as the training data's is)."""
    from folai_models.synth.control_signal import chunk_envelope

    rng = np.random.default_rng(0)
    chunks = []
    for _ in range(n):
        gate = np.repeat(rng.random(n_samples // 512) > 0.5, 512)
        audio = (rng.normal(size=(2, n_samples)) * 0.3 * gate).astype(np.float32)
        chunks.append(ToyChunk(audio, chunk_envelope(audio, 44100)))
    return chunks


def test_controlnet_fit_lowers_the_validation_loss(tiny_synth, one_torch_thread):
    from folai_models.synth.fit import fit, validation_loss
    from folai_models.synth.model import ControlNetWeights
    from folai_models.synth.train import ControlNetTrainConfig

    model, _ = tiny_synth
    before = {k: v.clone() for k, v in ControlNetWeights(model).state_dict().items()}
    chunks = _toy_chunks(4)
    config = ControlNetTrainConfig(steps=20, batch_size=4, learning_rate=3e-3, checkpoint_every=10, sample_every=20,
                                   sample_steps=2, bf16=False)
    torch.manual_seed(0)  # the VAE samples its posterior from the global generator
    untrained = validation_loss(model, chunks, "cpu", config.batch_size)
    validations, samples = [], []
    best = fit(model, chunks, chunks, config, on_validation=validations.append,
               on_sample=lambda sample: samples.append((sample.step, sample.audio.shape, set(sample.scores) >= {
                   "e_l1", "correlation", "onset_f1"})))
    losses = [untrained] + [v.row["val_loss"] for v in validations]
    assert [v.step for v in validations] == [10, 20] and losses[2] < losses[1] < losses[0], losses
    assert best == pytest.approx(losses[-1], abs=1e-6) and validations[-1].best == best
    assert all(v.improved for v in validations) and samples == [(20, (2, 4096), True)]
    model.load_controlnet_state(before)  # the module's model stays untrained


def test_folai_synth_from_checkpoint_round_trip(tiny_synth, tmp_path):
    from data_catalog.checkpoints import load_checkpoint_state, save_checkpoint
    from folai_models.synth.model import ControlNetWeights, FolAISynth, load_base_weights

    model, base_state = tiny_synth
    trained = {k: v + 0.01 * torch.randn_like(v) for k, v in ControlNetWeights(model).state_dict().items()}
    model.load_controlnet_state(trained)
    path = save_checkpoint(tmp_path / "last.safetensors", ControlNetWeights(model), model.config, epoch=3,
                           extra={"cavp": True})
    state, meta = load_checkpoint_state(path, model="ControlNetWeights")
    loaded = FolAISynth.from_checkpoint(state, meta, load_base=lambda m: load_base_weights(m, base_state))
    assert loaded.conditioned_on_cavp is True and loaded.training is False
    for name, value in model.state_dict().items():  # base and ControlNet: the model that was saved
        assert torch.equal(value, loaded.state_dict()[name]), name
    with pytest.raises(ValueError, match="weights do not fit the configured ControlNet"):
        FolAISynth.from_checkpoint(state, {**meta, "config": {**meta["config"], "n_blocks": 3}})
