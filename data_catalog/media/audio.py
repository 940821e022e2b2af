"""Audio extraction through ffmpeg and atomic WAV writing (SPEC stage 4)."""

from __future__ import annotations

import os

import numpy as np
import soundfile as sf

from data_catalog.atomic import atomic_path
from data_catalog.errors import MediaError
from data_catalog.media._ffmpeg import ffmpeg_stream, last_error_line, read_stderr
from data_catalog.media.probe import probe_media

ENVELOPE_AUDIO_RATE = 16000  # FolAI IV-C / SPEC stage 4: envelopes from 16 kHz mono
SYNTH_AUDIO_RATE = 44100  # FolAI IV-D: 44.1 kHz stereo output
WAV_SUBTYPE = "PCM_24"  # 24-bit: what sound designers expect in a session


def extract_audio(
    path: str | os.PathLike,
    *,
    sample_rate: int = ENVELOPE_AUDIO_RATE,
    n_channels: int = 1,
    max_duration_s: float | None = None,
) -> np.ndarray:
    """Decode the first audio stream of any media file to float32 ``[n_channels, n_samples]``.

    Raises MediaError when the file has no audio stream or nothing decodes.
    A stream that ends early decodes to what is there (callers compare its
    length with the video's).
    """
    data = probe_media(path)
    if not any(s.get("codec_type") == "audio" for s in data.get("streams", [])):
        raise MediaError(path, "no audio stream")
    args = ["-i", os.fspath(path), "-map", "0:a:0", "-vn", "-sn"]
    if max_duration_s is not None:
        args += ["-t", f"{max_duration_s:.6f}"]
    args += ["-ac", str(n_channels), "-ar", str(sample_rate), "-f", "f32le", "pipe:1"]
    with ffmpeg_stream(args) as (proc, err):
        assert proc.stdout is not None
        raw = proc.stdout.read()
        proc.wait()
        stderr = read_stderr(err)
    samples = np.frombuffer(raw[: len(raw) // (4 * n_channels) * 4 * n_channels], dtype="<f4")
    if samples.size == 0:
        raise MediaError(path, f"no audio could be decoded ({last_error_line(stderr, 'empty stream')})")
    return samples.reshape(-1, n_channels).T.astype(np.float32, copy=True)


def write_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int) -> None:
    """Write ``[channels, samples]`` float audio as a 24-bit WAV, atomically."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None, :]
    with atomic_path(path) as tmp:
        sf.write(tmp, np.clip(audio, -1.0, 1.0).T, sample_rate, subtype=WAV_SUBTYPE, format="WAV")
