"""A full disk: one line naming the file, nothing partial left (issue 16, items 3 and 4)."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest

from data_catalog.envelope_file import write_envelope
from fs_limits import (can_mount_tmpfs, file_size_limited, files_left, on_small_tmpfs, sonorize_argv,
                       subprocess_env)
from media_factory import pattern_clip

pytestmark = pytest.mark.needs_ffmpeg

SECONDS = 2.0
WAV_BYTES = 44 + int(SECONDS * 44100) * 2 * 3  # 24-bit stereo at 44.1 kHz, plus the header
needs_tmpfs = pytest.mark.skipif(not can_mount_tmpfs(), reason="cannot mount a tmpfs here (no root, no user "
                                                                "namespaces); the file-size-limit tests stand in")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> dict:
    """A 2 s video whose muxed MP4 is bigger than its WAV (high-quality MPEG-4 picture) and its envelope."""
    root = tmp_path_factory.mktemp("clip")
    video = pattern_clip(root / "v.mp4", seconds=SECONDS, size="640x480",
                         codec=("-c:v", "mpeg4", "-q:v", "1"))
    assert video.stat().st_size > WAV_BYTES + 200_000
    envelope = root / "v.envelope.csv"
    write_envelope(envelope, np.full(int(SECONDS * 125), 0.2), 125.0, sample_rate=16000, hop_length=128,
                   frame_length=512)
    return {"video": video, "envelope": envelope}


def _synth(clip: dict, out: Path) -> list[str]:
    return sonorize_argv("synth", str(clip["video"]), "--envelope", str(clip["envelope"]), "--out", str(out),
                         "--prompt", "wood")


def _one_line_error(stderr: str, file_name: str, reason: str) -> None:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and file_name in lines[0] and reason in lines[0], stderr
    assert ".tmp" not in lines[0], "the error names the temporary file, not the output"


@needs_tmpfs
@pytest.mark.parametrize("size, failing, reason", [
    (WAV_BYTES // 2, "v.foley.wav", "no space left on device"),  # the WAV does not fit
    (WAV_BYTES + 150_000, "v.foley.mp4", "no space left on device"),  # the WAV fits, the MP4 does not
])
def test_synth_on_a_full_tmpfs(clip, tmp_path, size, failing, reason):
    mount = tmp_path / "small"
    proc = on_small_tmpfs(mount, size, _synth(clip, mount), env=subprocess_env(), timeout=300)
    assert proc.returncode == 2, proc.stderr
    _one_line_error(proc.stderr, failing, reason)
    left = files_left(proc.stdout)
    assert not [n for n in left if n.endswith(".tmp")], left
    assert failing not in left and "v.foley.mp4" not in left


@pytest.mark.parametrize("limit, failing", [
    (WAV_BYTES // 2, "v.foley.wav"),
    (WAV_BYTES + 150_000, "v.foley.mp4"),
])
def test_synth_past_a_file_size_limit(clip, tmp_path, limit, failing):
    out = tmp_path / "out"
    proc = file_size_limited(limit, _synth(clip, out), env=subprocess_env(), timeout=300)
    assert proc.returncode == 2, proc.stderr
    _one_line_error(proc.stderr, failing, "file too large")
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert not [n for n in left if n.endswith(".tmp")] and failing not in left, left


def _mux_damaged(clip: dict, tmp_path: Path, monkeypatch, keep_bytes, stderr_line: str):
    """Mux with ffmpeg's output cut to ``keep_bytes(size)`` and ``stderr_line`` added, exit code 0."""
    import data_catalog.media.mux as mux
    from data_catalog.media import write_wav

    wav = tmp_path / "a.wav"
    write_wav(wav, np.zeros((2, int(SECONDS * 44100)), np.float32), 44100)
    real = mux.run_ffmpeg

    def damaging(args):
        _, stderr = real(args)
        target = Path(args[-1].removeprefix("file:"))
        target.write_bytes(target.read_bytes()[: keep_bytes(target.stat().st_size)])
        return 0, stderr + stderr_line.format(target=target)

    monkeypatch.setattr(mux, "run_ffmpeg", damaging)
    return mux.mux_audio(clip["video"], wav, tmp_path / "out.mp4")


def test_ffmpeg_trailer_error_with_exit_code_0_is_a_failure(clip, tmp_path, monkeypatch):
    """ffmpeg 5.1 exits 0 after 'Error writing trailer': the mux must not trust the code."""
    from data_catalog.errors import OutputError

    with pytest.raises(OutputError, match="out.mp4: cannot write: no space left on device") as caught:
        _mux_damaged(clip, tmp_path, monkeypatch, lambda size: size // 2,
                     "Error writing trailer of {target}: No space left on device\n")
    assert caught.value.errno == errno.ENOSPC
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]


def test_a_truncated_mux_without_an_error_line_is_caught_before_the_rename(clip, tmp_path, monkeypatch):
    from data_catalog.errors import MediaError

    with pytest.raises(MediaError, match="the written MP4 is incomplete"):
        _mux_damaged(clip, tmp_path, monkeypatch, lambda size: 4096, "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]


@needs_tmpfs
def test_run_on_a_full_tmpfs_reports_one_line_and_leaves_nothing(clip, tmp_path):
    mount = tmp_path / "small"
    argv = sonorize_argv("run", str(clip["video"]), "--out", str(mount), "--envelope-engine", "preview")
    proc = on_small_tmpfs(mount, WAV_BYTES // 2, argv, env={**subprocess_env(), "COLUMNS": "400"}, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "v.foley.wav: cannot write: no space left on device" in proc.stdout
    assert "LibsndfileError" not in proc.stdout + proc.stderr and "internal error" not in proc.stdout
    left = files_left(proc.stdout)
    assert not [n for n in left if n.endswith(".tmp") or n == "v"], left  # nothing partial, no folder
