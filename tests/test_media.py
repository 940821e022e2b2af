"""Media I/O on real files made with ffmpeg: probe, windowed decode, audio, mux, bad input."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from data_catalog.errors import MediaError
from data_catalog.media import extract_audio, iter_frame_windows, mux_audio, probe_video, write_wav
from media_factory import audio_only, ffmpeg, pattern_clip, truncated, variable_frame_rate

pytestmark = pytest.mark.needs_ffmpeg


def test_probe_reports_stream_facts(tmp_path):
    info = probe_video(pattern_clip(tmp_path / "a.mp4", seconds=2.0, rate="25", audio=True))
    assert info.width == 160 and info.height == 120
    assert info.frame_rate == pytest.approx(25.0)
    assert info.duration_s == pytest.approx(2.0, abs=0.05)
    assert info.has_audio and info.audio_sample_rate == 44100
    assert not info.variable_frame_rate


@pytest.mark.parametrize("rate", ["25", "24000/1001", "60"])
def test_frames_are_resampled_to_30_fps_in_bounded_windows(tmp_path, rate):
    info = probe_video(pattern_clip(tmp_path / "a.mp4", seconds=2.0, rate=rate))
    windows = list(iter_frame_windows(info, window_frames=16))
    assert all(len(w) == 16 for w in windows[:-1]) and 0 < len(windows[-1]) <= 16
    assert sum(len(w) for w in windows) == pytest.approx(60, abs=2)
    assert windows[0].dtype == np.uint8 and windows[0].shape[1:] == (120, 160)


def test_large_frames_are_scaled_down_for_analysis(tmp_path):
    info = probe_video(pattern_clip(tmp_path / "big.mp4", seconds=0.5, size="1920x1080"))
    window = next(iter_frame_windows(info))
    assert window.shape[1:] == (144, 256)


def test_variable_frame_rate_is_detected_and_resampled(tmp_path):
    info = probe_video(variable_frame_rate(tmp_path / "vfr.mp4", seconds=3.0))
    assert info.variable_frame_rate
    n = sum(len(w) for w in iter_frame_windows(info))
    assert n == pytest.approx(info.duration_s * 30, rel=0.06)  # ±1 frame period at each end


def test_audio_extraction_rates_and_channels(tmp_path):
    clip = pattern_clip(tmp_path / "a.mp4", seconds=1.0, audio=True)
    mono16 = extract_audio(clip, sample_rate=16000, n_channels=1)
    stereo44 = extract_audio(clip, sample_rate=44100, n_channels=2)
    assert mono16.shape[0] == 1 and abs(mono16.shape[1] - 16000) < 1200
    assert stereo44.shape[0] == 2 and abs(stereo44.shape[1] - 44100) < 3000
    assert 0.1 < np.abs(mono16).max() <= 0.2  # lavfi sine: amplitude 1/8


def test_mux_copies_the_picture_and_adds_audio(tmp_path):
    clip = pattern_clip(tmp_path / "a.mp4", seconds=1.0)
    wav = tmp_path / "a.wav"
    write_wav(wav, np.zeros((2, 44100), np.float32), 44100)
    out = tmp_path / "out" / "a.foley.mp4"
    assert mux_audio(clip, wav, out) == {"video_copied": True}
    streams = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(out)], capture_output=True).stdout)["streams"]
    assert {s["codec_type"] for s in streams} == {"video", "audio"}
    assert [p.name for p in out.parent.iterdir()] == ["a.foley.mp4"]  # no temporary left


def test_mux_reencodes_codecs_mp4_cannot_hold(tmp_path):
    clip = pattern_clip(tmp_path / "a.ogv", seconds=0.5, codec=("-c:v", "libtheora"))
    wav = tmp_path / "a.wav"
    write_wav(wav, np.zeros((2, 22050), np.float32), 44100)
    result = mux_audio(clip, wav, tmp_path / "a.foley.mp4")
    assert result["video_copied"] is False
    assert probe_video(tmp_path / "a.foley.mp4").video_codec == "h264"


# --- bad input: every case names the file and the reason -------------------------

def _expect(path: Path, fragment: str) -> MediaError:
    with pytest.raises(MediaError) as caught:
        info = probe_video(path)
        for _ in iter_frame_windows(info):
            pass
    assert str(path) in str(caught.value)
    assert fragment in str(caught.value)
    return caught.value


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    _expect(tmp_path / "empty.mp4", "empty file")


def test_text_file_named_mp4(tmp_path):
    (tmp_path / "notes.mp4").write_text("this is not a video\n")
    _expect(tmp_path / "notes.mp4", "not a media file")


def test_missing_file(tmp_path):
    _expect(tmp_path / "nope.mp4", "does not exist")


def test_audio_only_file(tmp_path):
    _expect(audio_only(tmp_path / "voice.m4a"), "no video stream")


def test_truncated_file(tmp_path):
    # moov atom at the end (no faststart): cutting the file loses the index
    source = pattern_clip(tmp_path / "full.mp4", seconds=3.0)
    _expect(truncated(source, tmp_path / "cut.mp4"), "")


def test_truncated_stream_with_index_first_is_reported_as_truncated(tmp_path):
    # faststart MPEG-TS style: the header survives, the picture data does not
    source = tmp_path / "full.ts"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30:duration=6", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", "-f", "mpegts", str(source))
    cut = truncated(source, tmp_path / "cut.ts", keep_fraction=0.4)
    info = probe_video(cut)
    # mpegts declares no duration; judge against the full clip's duration like a header would
    from dataclasses import replace
    with pytest.raises(MediaError, match="truncated or corrupt"):
        for _ in iter_frame_windows(replace(info, duration_s=6.0)):
            pass


def test_one_by_one_pixel_video(tmp_path):
    clip = tmp_path / "tiny.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=red:size=2x2:rate=30:duration=1", "-c:v", "mpeg4", str(clip))
    _expect(clip, "too small")


def test_huge_frame_size_is_refused(tmp_path):
    clip = tmp_path / "huge.mkv"  # 9000x9000 (81 Mpx): PNG frames in Matroska can hold it
    ffmpeg("-f", "lavfi", "-i", "color=c=gray:size=9000x9000:rate=25:duration=0.04", "-c:v", "png", str(clip))
    _expect(clip, "9000x9000 is too large")


def test_very_large_frame_size_is_refused_by_limit(tmp_path):
    clip = pattern_clip(tmp_path / "big.mp4", seconds=0.2, size="640x480")
    with pytest.raises(MediaError, match="too large"):
        probe_video(clip, max_frame_pixels=100_000)


def test_zero_frame_video(tmp_path):
    clip = tmp_path / "zero.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30:duration=1", "-frames:v", "0",
           "-c:v", "libx264", str(clip))
    _expect(clip, "")


def test_video_without_audio_has_no_audio_error(tmp_path):
    clip = pattern_clip(tmp_path / "silent.mp4", seconds=0.5)
    assert probe_video(clip).has_audio is False
    with pytest.raises(MediaError, match="no audio stream"):
        extract_audio(clip)


def test_non_ascii_and_spaces_in_names(tmp_path):
    clip = pattern_clip(tmp_path / "clip ünïcødé 日本 (1).mp4", seconds=0.5)
    info = probe_video(clip)
    assert sum(len(w) for w in iter_frame_windows(info)) == pytest.approx(15, abs=1)
