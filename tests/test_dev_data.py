"""Real Greatest Hits media from ../shared (skipped with a reason where it is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.video_options import VideoOptions
from flows.video_pipeline import sonorize_video

pytestmark = [pytest.mark.shared_data, pytest.mark.needs_ffmpeg]

PARTIAL_AUDIO_FILE = "2015-09-24-14-41-06-753_mic.mp4"  # its streams end early ("partial file")


def test_recording_whose_streams_end_early_is_processed_and_scored_on_the_overlap(dev_data, tmp_path):
    video = dev_data / "videos" / PARTIAL_AUDIO_FILE
    record = sonorize_video(str(video), tmp_path / "out", video.stem, VideoOptions(fingerprint="t"))
    assert record["status"] == "ok"
    assert any("original audio ends early" in w for w in record["warnings"]), record["warnings"]
    scores = record["metrics"]["vs_original_audio"]
    assert scores["n_reference_onsets"] > 10  # real hits were found in the real audio
    assert 0.0 <= scores["onset_f1"] <= 1.0
    assert all(Path(p).is_file() for p in record["outputs"].values())
