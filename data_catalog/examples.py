"""A shipped example: a synthetic clip with visible impacts at known times.

Used by ``sonorize demo`` (a user's clone has no dataset) and by the tests,
which make all their media themselves.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np

from data_catalog.atomic import atomic_path
from data_catalog.media._ffmpeg import FFMPEG_BASE, ffmpeg_path
from data_catalog.media.audio import write_wav

GRAVITY_PX_S2 = 1800.0  # pixels / s^2: a bounce period a viewer reads as "a ball"
RESTITUTION = 0.78  # each bounce keeps 78 % of the speed, so hits get softer
MIN_BOUNCE_SPEED_PX_S = 120.0  # below this the ball rests (no more impacts)
CLICK_DECAY_S = 0.04  # decay of the impact sound written with ``with_audio``


def bouncing_ball_trajectory(duration_s: float, frame_rate: float, height_px: int,
                             radius_px: int) -> tuple[np.ndarray, list[float]]:
    """Ball centre heights per frame and the impact times (s), by exact kinematics."""
    floor = height_px - radius_px - 4
    y0 = radius_px + 6.0
    t, y, v, impacts = 0.0, y0, 0.0, []
    dt = 1.0 / (frame_rate * 50)  # fine steps so impact times are exact to < 1 ms
    ys = []
    next_frame = 0.0
    while t < duration_s:
        if t >= next_frame:
            ys.append(y)
            next_frame += 1.0 / frame_rate
        v += GRAVITY_PX_S2 * dt
        y += v * dt
        if y >= floor:
            y = floor
            if v > MIN_BOUNCE_SPEED_PX_S:
                impacts.append(round(t, 4))
                v = -v * RESTITUTION
            else:
                v = 0.0
        t += dt
    n = int(round(duration_s * frame_rate))
    ys = (ys + [ys[-1]] * n)[:n]
    return np.asarray(ys), impacts


def make_bouncing_ball_video(
    path: str | os.PathLike,
    *,
    duration_s: float = 6.0,
    frame_rate: float = 30.0,
    size: tuple[int, int] = (320, 240),
    with_audio: bool = False,
    codec_args: tuple[str, ...] = ("-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"),
) -> list[float]:
    """Write a clip of a ball bouncing on a wooden floor; return the impact times in seconds.

    With ``with_audio`` the clip carries a click at every impact (for
    scoring against "original" audio); without it the clip is silent.
    """
    width, height = size
    radius = max(4, height // 14)
    ys, impacts = bouncing_ball_trajectory(duration_s, frame_rate, height, radius)
    background = np.zeros((height, width, 3), np.uint8)
    background[:] = (235, 228, 214)
    background[height - 4:] = (120, 78, 40)  # the floor
    with atomic_path(path) as tmp, tempfile.TemporaryDirectory() as scratch:
        cmd = FFMPEG_BASE + ["-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
                             "-r", f"{frame_rate}", "-i", "pipe:0"]
        if with_audio:
            wav = Path(scratch) / "clicks.wav"
            write_wav(wav, impact_clicks(impacts, duration_s), 44100)
            cmd += ["-i", ffmpeg_path(wav), "-c:a", "aac", "-shortest"]
        cmd += [*codec_args, "-f", _muxer(path), ffmpeg_path(tmp)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        for y in ys:
            frame = background.copy()
            cv2.circle(frame, (width // 2, int(round(y))), radius, (200, 40, 30), -1, cv2.LINE_AA)
            proc.stdin.write(frame.tobytes())
        proc.stdin.close()
        err = proc.stderr.read().decode("utf-8", "replace")
        if proc.wait() != 0:
            raise RuntimeError(f"ffmpeg could not write the example video: {err.strip()[-500:]}")
    return impacts


def _muxer(path: str | os.PathLike) -> str:
    """ffmpeg's muxer for a file name (the temporary file's own suffix is .tmp)."""
    suffix = Path(path).suffix.lower().lstrip(".")
    return {"mkv": "matroska", "m4v": "mp4", "": "mp4"}.get(suffix, suffix)


def impact_clicks(impacts: list[float], duration_s: float, sample_rate: int = 44100) -> np.ndarray:
    """A mono track of decaying noise bursts at the impact times, louder for earlier hits."""
    rng = np.random.default_rng(0)
    audio = np.zeros(int(duration_s * sample_rate), np.float32)
    n = int(6 * CLICK_DECAY_S * sample_rate)
    burst = rng.standard_normal(n) * np.exp(-np.arange(n) / (CLICK_DECAY_S * sample_rate))
    for i, t in enumerate(impacts):
        start = int(t * sample_rate)
        seg = audio[start:start + n]
        seg += (0.6 * RESTITUTION ** i * burst[: len(seg)]).astype(np.float32)
    return np.clip(audio, -1, 1)[None, :]
