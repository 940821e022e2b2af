"""Small media files for tests, made with the system ffmpeg (good and deliberately bad)."""

from __future__ import annotations

import subprocess
from pathlib import Path

FF = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y"]


def ffmpeg(*args: str) -> None:
    proc = subprocess.run([*FF, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(args)} failed: {proc.stderr[-800:]}")


def pattern_clip(path: Path, *, seconds: float = 2.0, size: str = "160x120", rate: str = "30",
                 audio: bool = False, codec: tuple[str, ...] = ("-c:v", "libx264", "-pix_fmt", "yuv420p")) -> Path:
    """A moving test pattern (testsrc2), optionally with a sine tone."""
    args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac", "-shortest"]
    ffmpeg(*args, *codec, str(path))
    return path


def audio_only(path: Path, seconds: float = 1.0) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency=300:duration={seconds}", str(path))
    return path


def variable_frame_rate(path: Path, seconds: float = 3.0) -> Path:
    """A clip whose frame timestamps are irregular (VFR): frames dropped at random."""
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=160x120:rate=30:duration={seconds}",
           "-vf", "select='gt(random(0)\\,0.4)'", "-fps_mode", "passthrough",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path))
    return path


def truncated(source: Path, path: Path, keep_fraction: float = 0.5) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])
    return path
