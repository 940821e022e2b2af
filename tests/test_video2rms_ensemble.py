"""Video2RMS ensembles (ours): averaged probabilities, summed losses, strict checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from data_catalog.checkpoints import load_checkpoint, save_checkpoint
from folai_models.video2rms.config import Video2RMSConfig
from folai_models.video2rms.decode import predict_envelope, predict_outputs
from folai_models.video2rms.loss import total_loss
from folai_models.video2rms.model import Video2RMS, Video2RMSEnsemble, create_video2rms_from_config

TINY = dict(input_dim=8, conv_channels=16, lstm_hidden=8, kernel_size=3, window_s=1.0, onset_weight=1.0,
            decode_method="onsets")


def test_size_one_is_the_single_network_and_sizes_are_checked():
    assert type(create_video2rms_from_config(TINY)) is Video2RMS
    ensemble = create_video2rms_from_config({**TINY, "ensemble_size": 3})
    assert isinstance(ensemble, Video2RMSEnsemble) and len(ensemble.members) == 3
    single_keys = set(create_video2rms_from_config(TINY).state_dict())
    assert set(ensemble.state_dict()) == {f"members.{i}.{k}" for i in range(3) for k in single_keys}
    with pytest.raises(ValueError, match="ensemble_size"):
        Video2RMSConfig(**{**TINY, "ensemble_size": 0})


def test_members_differ_and_the_output_is_their_mean_probability():
    torch.manual_seed(0)
    ensemble = create_video2rms_from_config({**TINY, "ensemble_size": 3}).eval()
    x = torch.randn(2, 30, 8)
    logits, onset_logits = ensemble.forward_with_onsets(x)
    outputs = [member.forward_with_onsets(x) for member in ensemble.members]
    assert not torch.allclose(outputs[0][0], outputs[1][0])  # initialised independently
    mean_probs = torch.stack([torch.softmax(lg, -1) for lg, _ in outputs]).mean(0)
    mean_onsets = torch.stack([torch.sigmoid(o) for _, o in outputs]).mean(0)
    torch.testing.assert_close(torch.softmax(logits, -1), mean_probs)
    torch.testing.assert_close(torch.sigmoid(onset_logits), mean_onsets)
    torch.testing.assert_close(ensemble(x), logits)


def test_loss_is_the_sum_of_the_members_and_a_step_lowers_it():
    torch.manual_seed(1)
    config = Video2RMSConfig(**{**TINY, "ensemble_size": 2, "dropout": 0.0})
    ensemble = create_video2rms_from_config(config)
    x, classes = torch.randn(4, 30, 8), torch.randint(0, 64, (4, 125))
    onsets = (torch.rand(4, 125) < 0.1).long()
    ensemble.eval()  # BatchNorm in eval: the same function in both calls
    summed = sum(total_loss(m, x, classes, onsets, config) for m in ensemble.members)
    torch.testing.assert_close(total_loss(ensemble, x, classes, onsets, config), summed)
    ensemble.train()
    optimizer = torch.optim.Adam(ensemble.parameters(), lr=1e-2)
    first = float(total_loss(ensemble, x, classes, onsets, config).detach())
    for _ in range(5):
        optimizer.zero_grad()
        loss = total_loss(ensemble, x, classes, onsets, config)
        loss.backward()
        optimizer.step()
    assert float(total_loss(ensemble, x, classes, onsets, config).detach()) < first


def test_checkpoint_round_trip_is_strict_and_exact(tmp_path):
    config = Video2RMSConfig(**{**TINY, "ensemble_size": 2})
    ensemble = create_video2rms_from_config(config).eval()
    path = save_checkpoint(tmp_path / "ens.safetensors", ensemble, config, epoch=1)
    loaded, loaded_config, meta = load_checkpoint(path)
    assert isinstance(loaded, Video2RMSEnsemble) and loaded_config.ensemble_size == 2
    assert meta["model"] == "Video2RMSEnsemble"
    features = np.random.default_rng(0).normal(size=(75, 8)).astype(np.float32)  # 2.5 s: several windows
    np.testing.assert_array_equal(predict_envelope(ensemble, features, config),
                                  predict_envelope(loaded, features, loaded_config))
    probs, onset_probs = predict_outputs(loaded, features, loaded_config)
    assert probs.shape == (config.n_envelope_frames(75), 64) and onset_probs.shape == (config.n_envelope_frames(75),)
