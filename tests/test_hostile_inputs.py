"""Odd and hostile names and files (issue 16, items 7, 8, 9, 11): each works or is one clear line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from data_catalog.atomic import is_temporary_name, write_text_atomic
from data_catalog.errors import MediaError
from flows.cli import app
from fs_limits import can_mount_tmpfs, on_small_tmpfs, sonorize_argv, subprocess_env
from media_factory import ffmpeg, pattern_clip

runner = CliRunner()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return pattern_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=1.0, size="64x48")


def test_a_legal_long_name_is_writable(tmp_path):
    name = "é" * 120 + ".json"  # 245 bytes: the temporary name must not push it past 255
    assert write_text_atomic(tmp_path / name, "{}").read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir()] == [name]
    assert is_temporary_name(".x.json.abcd_123.tmp") and not is_temporary_name("x.json")


@pytest.mark.needs_ffmpeg
def test_a_244_character_video_name(clip, tmp_path):
    video = tmp_path / ("v" * 240 + ".mp4")
    video.write_bytes(clip.read_bytes())
    result = runner.invoke(app, ["envelope", str(video), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(names) == 4 and all(len(n.encode()) <= 255 and n.startswith("v" * 200 + ".") for n in names)


@pytest.mark.needs_ffmpeg
@pytest.mark.parametrize("name", ["-y.mp4", "-i.mp4", "pipe:1.mp4", "concat:a.mp4"])
def test_names_that_look_like_options_or_protocols(clip, tmp_path, monkeypatch, name):
    from data_catalog.media import iter_frame_windows, probe_video

    (tmp_path / name).write_bytes(clip.read_bytes())
    monkeypatch.chdir(tmp_path)
    info = probe_video(name)
    assert info.duration_s == pytest.approx(1.0, abs=0.05)
    assert sum(len(w) for w in iter_frame_windows(info)) == 30
    result = runner.invoke(app, ["envelope", "--", name])  # our own command line needs "--" like any
    assert result.exit_code == 0, result.output


@pytest.mark.needs_ffmpeg
@pytest.mark.parametrize("container", ["mp4", "mkv", "ts"])
def test_a_large_start_timestamp_is_not_truncation(tmp_path, container):
    from data_catalog.media import iter_frame_windows, probe_video

    video = tmp_path / f"late.{container}"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=30:duration=2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-output_ts_offset", "36000", str(video))
    info = probe_video(video)
    assert info.duration_s == pytest.approx(2.0, abs=0.05)
    assert sum(len(w) for w in iter_frame_windows(info)) == pytest.approx(60, abs=1)


@pytest.mark.needs_ffmpeg
def test_special_files_are_named_for_what_they_are(tmp_path):
    from data_catalog.media import probe_video

    os.mkfifo(tmp_path / "pipe.mp4")
    (tmp_path / "loop.mp4").symlink_to("loop.mp4")
    (tmp_path / "dangling.mp4").symlink_to("nothing-here.mp4")
    for name, reason in (("pipe.mp4", "not a regular file but a FIFO"), ("loop.mp4", "symbolic link loop"),
                         ("dangling.mp4", "broken symbolic link")):
        with pytest.raises(MediaError, match=reason):
            probe_video(tmp_path / name)
    result = runner.invoke(app, ["labels", str(tmp_path / "pipe.mp4")])
    assert result.exit_code == 2 and "not a regular file but a FIFO" in result.output


def _envelope(tmp_path) -> Path:
    import numpy as np

    from data_catalog.envelope_file import write_envelope

    csv_path, _ = write_envelope(tmp_path / "e.envelope.csv", np.full(125, 0.3), 125.0, sample_rate=16000,
                                 hop_length=128, frame_length=512)
    return csv_path


def test_labels_into_an_unwritable_place_names_the_requested_file(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = runner.invoke(app, ["labels", str(_envelope(tmp_path)), "--out", str(blocker / "l.txt")])
    assert result.exit_code == 2
    assert f"{blocker / 'l.txt'}: cannot write" in result.output and ".tmp" not in result.output


@pytest.mark.skipif(not can_mount_tmpfs(), reason="cannot mount a read-only tmpfs here (no root, no user namespaces)")
def test_labels_into_a_read_only_folder(tmp_path):
    csv_path = _envelope(tmp_path)
    mount = tmp_path / "ro"
    script = ["sh", "-c", 'mount -o remount,ro "$0" && exec "$@"', str(mount),
              *sonorize_argv("labels", str(csv_path), "--out", str(mount / "l.txt"))]
    proc = on_small_tmpfs(mount, 1 << 20, script, env=subprocess_env(), timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert f"error: {mount / 'l.txt'}: cannot write: read-only file system" in proc.stderr
    assert ".tmp" not in proc.stderr and "Traceback" not in proc.stderr
