"""Probe and validate media with ffprobe (SPEC stage 2)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

from data_catalog.errors import MediaError, ToolMissingError
from data_catalog.file_kinds import not_a_regular_file
from data_catalog.media._ffmpeg import ffmpeg_path

MIN_FRAME_SIDE = 16  # below this there is no motion to see; 1x1 clips are rejected
MAX_FRAME_PIXELS = 8192 * 8192  # 8K-square: larger frames are almost surely corrupt headers
VFR_TOLERANCE = 0.01  # relative r_frame_rate / avg_frame_rate gap that flags variable rate
FFPROBE_TIMEOUT_S = 120


@dataclass(frozen=True)
class VideoInfo:
    """What ffprobe says about a media file, validated."""

    path: str
    container: str
    duration_s: float
    width: int
    height: int
    frame_rate: float
    variable_frame_rate: bool
    n_frames: int | None
    video_codec: str
    has_audio: bool
    audio_codec: str | None
    audio_sample_rate: int | None
    audio_channels: int | None
    audio_duration_s: float | None
    size_bytes: int

    def to_dict(self) -> dict:
        return asdict(self)


def require_ffmpeg() -> None:
    """Raise a clear error when ffmpeg/ffprobe are not on PATH."""
    missing = [tool for tool in ("ffmpeg", "ffprobe") if shutil.which(tool) is None]
    if missing:
        raise ToolMissingError(None,
            f"{' and '.join(missing)} not found on PATH. sonorize needs the system ffmpeg: "
            "`sudo apt-get install ffmpeg` (Debian/Ubuntu), `brew install ffmpeg` (macOS)."
        )


def _rate(text: str | None) -> float:
    try:
        value = Fraction(text or "0")
    except (ValueError, ZeroDivisionError):
        return 0.0
    return float(value) if value > 0 else 0.0


def _float(text) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if value == value and value > 0 else None


def probe_media(path: str | os.PathLike) -> dict:
    """Run ffprobe and return its JSON (format + streams); raise MediaError if unreadable."""
    require_ffmpeg()
    path = Path(path)
    if problem := not_a_regular_file(path):
        raise MediaError(path, problem)
    if path.stat().st_size == 0:
        raise MediaError(path, "empty file (0 bytes)")
    cmd = ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", ffmpeg_path(path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=FFPROBE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise MediaError(path, f"ffprobe did not finish in {FFPROBE_TIMEOUT_S} s") from None
    stderr = proc.stderr.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        last = stderr.splitlines()[-1] if stderr else f"exit code {proc.returncode}"
        raise MediaError(path, f"not a media file ffmpeg can read ({last})")
    try:
        return json.loads(proc.stdout or b"{}")
    except json.JSONDecodeError:
        raise MediaError(path, "ffprobe returned unreadable output") from None


def _stream_span(path: Path, fmt: dict) -> float | None:
    """The video stream's real span when it states no duration of its own.

    The container's duration is right when the file starts at 0; with a start
    timestamp (``-output_ts_offset``, cuts of long recordings) Matroska states
    the end time instead, so the span comes from the packets' timestamps
    (demuxed, not decoded: a second or so for an hour of video).
    """
    duration, start = _float(fmt.get("duration")), _float(fmt.get("start_time"))
    if duration is None or start is None:
        return duration
    cmd = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,duration_time",
           "-of", "csv=p=0", ffmpeg_path(path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=FFPROBE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise MediaError(path, f"ffprobe did not finish in {FFPROBE_TIMEOUT_S} s") from None
    first, end = None, None
    for line in proc.stdout.decode("ascii", "replace").splitlines():
        pts, _, length = line.partition(",")
        try:
            t = float(pts)
        except ValueError:
            continue
        first = t if first is None else min(first, t)
        end = max(end if end is not None else t, t + (_float(length) or 0.0))
    return _float(end - first) if first is not None else duration


def probe_video(
    path: str | os.PathLike,
    *,
    min_frame_side: int = MIN_FRAME_SIDE,
    max_frame_pixels: int = MAX_FRAME_PIXELS,
) -> VideoInfo:
    """Probe ``path`` and check it is a usable video.

    Raises
    ------
    MediaError
        No video stream, zero duration, a frame size outside
        [min_frame_side, max_frame_pixels], or a file ffprobe cannot read.
    """
    path = Path(path)
    data = probe_media(path)
    streams = data.get("streams", [])
    fmt = data.get("format", {})
    video = [
        s for s in streams
        if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
    ]
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    if not video:
        kind = "audio-only file" if audio else "no audio either"
        raise MediaError(path, f"no video stream ({kind})")
    v = video[0]
    width, height = int(v.get("width") or 0), int(v.get("height") or 0)
    if width <= 0 or height <= 0:
        raise MediaError(path, "video stream has no frame size (corrupt header?)")
    if min(width, height) < min_frame_side:
        raise MediaError(
            path, f"frame size {width}x{height} is too small (each side must be >= {min_frame_side} px)"
        )
    if width * height > max_frame_pixels:
        raise MediaError(
            path, f"frame size {width}x{height} is too large (more than {max_frame_pixels} pixels)"
        )
    duration = _float(v.get("duration")) or _stream_span(path, fmt)
    if duration is None:
        raise MediaError(path, "video has zero or unknown duration (0 frames?)")
    n_frames = int(v["nb_frames"]) if str(v.get("nb_frames", "")).isdigit() else None
    if n_frames == 0:
        raise MediaError(path, "video stream has 0 frames")
    r_rate, avg_rate = _rate(v.get("r_frame_rate")), _rate(v.get("avg_frame_rate"))
    frame_rate = avg_rate or r_rate
    if frame_rate <= 0:
        raise MediaError(path, "video stream has no frame rate")
    vfr = bool(r_rate and avg_rate and abs(r_rate - avg_rate) / avg_rate > VFR_TOLERANCE)
    a = audio[0] if audio else {}
    return VideoInfo(
        path=str(path),
        container=str(fmt.get("format_name", "")),
        duration_s=float(duration),
        width=width,
        height=height,
        frame_rate=float(frame_rate),
        variable_frame_rate=vfr,
        n_frames=n_frames,
        video_codec=str(v.get("codec_name", "")),
        has_audio=bool(audio),
        audio_codec=a.get("codec_name"),
        audio_sample_rate=int(a["sample_rate"]) if a.get("sample_rate") else None,
        audio_channels=int(a["channels"]) if a.get("channels") else None,
        audio_duration_s=_float(a.get("duration")),
        size_bytes=path.stat().st_size,
    )
