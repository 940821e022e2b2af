"""Video2RMS's onset head (ours): config, targets, loss, "onsets" decoding, training flow."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from folai_models.events import detect_onsets
from folai_models.video2rms.config import Video2RMSConfig
from folai_models.video2rms.decode import (
    onset_peaks,
    predict_envelope,
    predict_outputs,
    probabilities_to_envelope,
    render_onsets,
)
from folai_models.video2rms.loss import onset_loss, onset_targets, total_loss
from folai_models.video2rms.model import create_video2rms_from_config
from folai_models.video2rms.train import make_chunks, make_loader, train_epoch

TINY = dict(input_dim=8, conv_channels=16, lstm_hidden=8, kernel_size=3, onset_weight=1.0)
RATE = 125.0


def hits(times_s, n_frames: int, level: float = 0.3) -> np.ndarray:
    """An RMS envelope with exponentially decaying hits at ``times_s``."""
    env = np.zeros(n_frames)
    t = np.arange(n_frames) / RATE
    for onset in times_s:
        env = np.maximum(env, np.where(t >= onset, level * np.exp(-(t - onset) / 0.05), 0.0))
    return env


def test_onsets_decoding_needs_the_head():
    with pytest.raises(ValueError, match="onset_weight > 0"):
        Video2RMSConfig(input_dim=8, decode_method="onsets")
    with pytest.raises(ValueError, match="onset_threshold"):
        Video2RMSConfig(**TINY, onset_threshold=1.5)
    assert Video2RMSConfig(**TINY, decode_method="onsets").has_onset_head


def test_state_dict_keys_with_and_without_the_head():
    plain = create_video2rms_from_config({**TINY, "onset_weight": 0.0}).state_dict()
    with_head = create_video2rms_from_config(TINY).state_dict()
    assert not any(k.startswith("onset_head") for k in plain)  # the papers' model is unchanged
    assert set(with_head) - set(plain) == {"onset_head.weight", "onset_head.bias"}


@pytest.mark.parametrize("n_frames", [30, 61, 300])
def test_forward_with_onsets_shapes(n_frames):
    config = Video2RMSConfig(**TINY)
    model = create_video2rms_from_config(config).eval()
    logits, onsets = model.forward_with_onsets(torch.randn(2, n_frames, 8))
    n_out = config.n_envelope_frames_for_video_frames(n_frames)
    assert logits.shape == (2, n_out, 64) and onsets.shape == (2, n_out)
    torch.testing.assert_close(model(torch.zeros(1, n_frames, 8)),
                               model.forward_with_onsets(torch.zeros(1, n_frames, 8))[0])


def test_onset_targets_mark_frames_around_each_onset():
    config = Video2RMSConfig(**TINY, onset_target_width=2)
    env = hits([0.5, 1.2], 250)
    targets = onset_targets(env, config)
    marked = np.flatnonzero(targets)
    onset_frames = np.floor(detect_onsets(env, RATE) * RATE).astype(int)
    assert len(onset_frames) == 2
    assert set(marked) == {f + d for f in onset_frames for d in range(-2, 3)}


def test_onset_loss_ignores_padding_and_weights_positives():
    config = Video2RMSConfig(**TINY, onset_pos_weight=10.0)
    logits = torch.zeros(1, 4)
    targets = torch.tensor([[1, 0, -1, -1]])
    expected = (10.0 * np.log(2) + np.log(2)) / 2  # mean over the two scored frames
    assert float(onset_loss(logits, targets, config)) == pytest.approx(expected, rel=1e-6)


def test_one_step_lowers_the_total_loss_on_a_fixed_batch():
    config = Video2RMSConfig(**TINY, window_s=2.0, batch_size=4, learning_rate=3e-3)
    torch.manual_seed(0)
    model = create_video2rms_from_config(config)
    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 8)).astype(np.float32)
    env = hits([0.3, 0.9, 1.5], config.n_envelope_frames_for_video_frames(60))
    from folai_models.quantize import rms_to_classes

    chunks = make_chunks(features, rms_to_classes(env), config, onsets=onset_targets(env, config))
    assert len(chunks[0]) == 3
    x, y, o = (torch.from_numpy(np.stack([c[i] for c in chunks])) for i in range(3))
    model.eval()  # no dropout: compare like with like
    with torch.no_grad():
        before = float(total_loss(model, x, y, o, config))
    train_epoch(model, torch.optim.Adam(model.parameters(), lr=3e-3), make_loader(chunks, config), config)
    model.eval()
    with torch.no_grad():
        assert float(total_loss(model, x, y, o, config)) < before
    with pytest.raises(ValueError, match="onsets"):
        total_loss(model, x, y, None, config)


def test_make_chunks_rejects_bad_onset_targets():
    config = Video2RMSConfig(**TINY, window_s=2.0)
    classes = np.zeros(config.n_envelope_frames_for_video_frames(60), dtype=np.int64)
    with pytest.raises(ValueError, match="0/1"):
        make_chunks(np.zeros((60, 8), np.float32), classes, config, onsets=np.full(len(classes), 2))


def test_rendered_onsets_are_found_by_the_onset_detector():
    # a sustained sound (no dips): the class decoding alone shows no onset inside it
    n = 500
    levels = np.full(n, 0.2)
    onset_probs = np.zeros(n)
    for frame, p in ((100, 0.9), (103, 0.8), (250, 0.7), (400, 0.3)):  # 103: within 50 ms of 100
        onset_probs[frame] = p
    peaks = onset_peaks(onset_probs, 0.5, RATE)
    assert list(peaks) == [100, 250]
    assert len(detect_onsets(levels, RATE)) == 0
    env = render_onsets(levels, levels, peaks, RATE)
    found = np.floor(detect_onsets(env, RATE) * RATE).astype(int)
    assert list(found) == [100, 250]
    assert env[99] == pytest.approx(0.2 * 0.2) and env[100] == pytest.approx(0.2)


def test_onsets_decoding_through_probabilities():
    probs = np.zeros((300, 64))
    probs[:, 0] = 1.0  # the classes say silence everywhere
    onset_probs = np.zeros(300)
    onset_probs[120] = 0.9
    env = probabilities_to_envelope(probs, "onsets", presence_threshold=0.5, onset_probabilities=onset_probs,
                                    onset_threshold=0.5)
    assert env[:119].max() == 0 and env[120] >= 0.02  # an audible hit even where classes said silence
    assert np.allclose(np.floor(detect_onsets(env, RATE) * RATE), [120])
    with pytest.raises(ValueError, match="onset probabilities"):
        probabilities_to_envelope(probs, "onsets")


def test_windowed_onset_probabilities_match_the_whole_model():
    config = Video2RMSConfig(**TINY, window_s=2.0, decode_method="onsets")
    torch.manual_seed(1)
    model = create_video2rms_from_config(config).eval()
    features = np.random.default_rng(1).normal(size=(95, 8)).astype(np.float32)
    probs, onset_probs = predict_outputs(model, features, config)
    assert probs.shape == (config.n_envelope_frames_for_video_frames(95), 64) and onset_probs.shape == (len(probs),)
    assert np.all((onset_probs >= 0) & (onset_probs <= 1))
    env = predict_envelope(model, features, config)
    assert env.shape == (len(probs),) and np.all(np.isfinite(env))
    plain = create_video2rms_from_config({**TINY, "onset_weight": 0.0})
    assert predict_outputs(plain, features, Video2RMSConfig(**{**TINY, "onset_weight": 0.0}, window_s=2.0))[1] is None


def test_auto_engine_follows_the_configured_checkpoint(monkeypatch, tmp_path):
    from data_catalog.settings import get_settings
    from tasks.engines import resolve_envelope_engine
    from tasks.engines.video2rms import SHIPPED_VIDEO2RMS, video2rms_available

    monkeypatch.delenv("SONORIZE_VIDEO2RMS_CHECKPOINT", raising=False)
    get_settings.cache_clear()
    assert video2rms_available() == SHIPPED_VIDEO2RMS.is_file()
    monkeypatch.setenv("SONORIZE_VIDEO2RMS_CHECKPOINT", str(tmp_path / "best.safetensors"))
    get_settings.cache_clear()
    assert video2rms_available()  # auto may pick it (per video, from evidence: tests/test_steps.py)
    assert resolve_envelope_engine("auto") == "auto" and resolve_envelope_engine("preview") == "preview"
    with pytest.raises(ValueError, match="available: auto, preview, steps, video2rms"):
        resolve_envelope_engine("stepz")
    get_settings.cache_clear()


def test_onset_confidence_and_its_floor():
    from folai_models.video2rms.calibrate import ONSET_CONFIDENCE_PERCENTILE, onset_confidence, onset_confidence_floor

    sure = np.zeros(1000)
    sure[:20] = 0.9  # 2 % of frames are confident onsets
    unsure = np.full(1000, 0.3)
    assert ONSET_CONFIDENCE_PERCENTILE == 99.0
    assert onset_confidence(sure) == pytest.approx(0.9) and onset_confidence(unsure) == pytest.approx(0.3)
    assert np.isnan(onset_confidence(np.zeros(0)))
    outputs = [(None, sure, None), (None, unsure, None), (None, None, None)]  # no onset head: not counted
    assert onset_confidence_floor(outputs) == pytest.approx(0.3)  # the least sure validation video
    assert onset_confidence_floor([(None, None, None)]) is None


@pytest.mark.parametrize("bad", ["high", 1.5, -0.1, True, [0.7]])
def test_a_tampered_confidence_floor_names_the_sidecar(tmp_path, bad):
    import shutil

    from data_catalog.checkpoints import CheckpointError, update_checkpoint_extra
    from tasks.engines.video2rms import SHIPPED_VIDEO2RMS, confidence_floor

    if not SHIPPED_VIDEO2RMS.is_file():
        pytest.skip("no shipped Video2RMS checkpoint in this install")
    ckpt = tmp_path / "v.safetensors"
    shutil.copy(SHIPPED_VIDEO2RMS, ckpt)
    shutil.copy(SHIPPED_VIDEO2RMS.with_suffix(".json"), tmp_path / "v.json")
    assert confidence_floor(str(ckpt)) == pytest.approx(0.6992)  # as recorded for the shipped checkpoint
    update_checkpoint_extra(ckpt, {"onset_confidence_floor": bad})
    with pytest.raises(CheckpointError, match=r"v\.json.*onset_confidence_floor must be a probability"):
        confidence_floor(str(ckpt))
