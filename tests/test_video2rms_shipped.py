"""The Video2RMS checkpoint shipped in the package: loads strictly, is the default, runs on a clip."""

from __future__ import annotations

import numpy as np
import pytest

from data_catalog.checkpoints import load_checkpoint
from data_catalog.examples import make_bouncing_ball_video
from data_catalog.media import probe_video
from tasks.engines import SHIPPED_VIDEO2RMS, Video2RMSEnvelopeEngine, resolve_envelope_engine


def test_shipped_checkpoint_loads_and_is_the_motion_onset_model():
    assert SHIPPED_VIDEO2RMS.is_file(), f"{SHIPPED_VIDEO2RMS} is missing from the package"
    model, config, meta = load_checkpoint(SHIPPED_VIDEO2RMS)  # strict load, sha256 checked
    assert meta["extra"]["encoder"] == "motion"
    assert config.decode_method == "onsets" and model.onset_head is not None
    assert config.input_dim == 2 * 73 and meta["extra"]["relative_features"] is True
    assert SHIPPED_VIDEO2RMS.stat().st_size < 1_000_000  # small enough to ship in the wheel


def test_auto_picks_the_shipped_model(monkeypatch):
    monkeypatch.delenv("SONORIZE_VIDEO2RMS_CHECKPOINT", raising=False)
    assert resolve_envelope_engine("auto") == "video2rms"
    assert resolve_envelope_engine("preview") == "preview"


@pytest.mark.needs_ffmpeg
def test_shipped_model_gives_an_envelope_for_a_clip(tmp_path, monkeypatch):
    monkeypatch.delenv("SONORIZE_VIDEO2RMS_CHECKPOINT", raising=False)
    clip = tmp_path / "ball.mp4"
    make_bouncing_ball_video(clip, duration_s=12.5)  # longer than one 10 s window: two crossfaded windows
    info = probe_video(clip)
    envelope, rate = Video2RMSEnvelopeEngine().predict(info)
    assert rate == 125.0
    assert len(envelope) == pytest.approx(info.duration_s * rate, abs=2)
    assert np.all(np.isfinite(envelope)) and envelope.min() >= 0 and envelope.max() <= 1
