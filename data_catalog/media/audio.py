"""Audio extraction through ffmpeg and atomic WAV writing (SPEC stage 4)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator

import numpy as np
import soundfile as sf

from data_catalog.atomic import atomic_path
from data_catalog.errors import MediaError, OutputError, output_error
from data_catalog.media._ffmpeg import ffmpeg_path, ffmpeg_stream, last_error_line, read_stderr
from data_catalog.media.probe import probe_media
from folai_models.rates import ENVELOPE_SAMPLE_RATE

WAV_SUBTYPE = "PCM_24"  # 24-bit: what sound designers expect in a session
AUDIO_BLOCK_SAMPLES = 1 << 18  # ~16 s at 16 kHz per read: bounded memory for any length
WRITE_PROBE_BYTES = 1 << 16  # more than a full disk's last partial page can take


def extract_audio(
    path: str | os.PathLike,
    *,
    sample_rate: int = ENVELOPE_SAMPLE_RATE,
    n_channels: int = 1,
    max_duration_s: float | None = None,
    start_s: float = 0.0,
) -> np.ndarray:
    """Decode the first audio stream of any media file to float32 ``[n_channels, n_samples]``.

    ``start_s`` skips that many seconds first (ffmpeg input seeking), so a
    chunk of a long file decodes without the rest.

    Raises MediaError when the file has no audio stream or nothing decodes.
    A stream that ends early decodes to what is there (callers compare its
    length with the video's).
    """
    blocks = iter_audio_blocks(path, sample_rate=sample_rate, n_channels=n_channels, start_s=start_s)
    if max_duration_s is None:
        return np.concatenate(list(blocks), axis=1)
    limit, out, total = int(round(max_duration_s * sample_rate)), [], 0
    for block in blocks:
        out.append(block[:, : limit - total])
        total += out[-1].shape[1]
        if total >= limit:
            break
    return np.concatenate(out, axis=1)


def iter_audio_blocks(
    path: str | os.PathLike,
    *,
    sample_rate: int = ENVELOPE_SAMPLE_RATE,
    n_channels: int = 1,
    block_samples: int = AUDIO_BLOCK_SAMPLES,
    start_s: float = 0.0,
) -> Iterator[np.ndarray]:
    """Decode the first audio stream in blocks of float32 ``[n_channels, <= block_samples]``.

    Memory stays flat for any length. Raises MediaError when the file has no
    audio stream or nothing decodes.
    """
    data = probe_media(path)
    if not any(s.get("codec_type") == "audio" for s in data.get("streams", [])):
        raise MediaError(path, "no audio stream")
    seek = ["-ss", f"{start_s:.6f}"] if start_s > 0 else []
    args = [*seek, "-i", ffmpeg_path(path), "-map", "0:a:0", "-vn", "-sn",
            "-ac", str(n_channels), "-ar", str(sample_rate), "-f", "f32le", "pipe:1"]
    frame_bytes = 4 * n_channels
    total = 0
    with ffmpeg_stream(args) as (proc, err):
        assert proc.stdout is not None
        while raw := proc.stdout.read(block_samples * frame_bytes):
            usable = len(raw) // frame_bytes * frame_bytes
            samples = np.frombuffer(raw[:usable], dtype="<f4")
            total += samples.size
            yield samples.reshape(-1, n_channels).T.astype(np.float32, copy=True)
        proc.wait()
        stderr = read_stderr(err)
    if total == 0:
        raise MediaError(path, f"no audio could be decoded ({last_error_line(stderr, 'empty stream')})")


def write_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int) -> None:
    """Write ``[channels, samples]`` float audio as a 24-bit WAV, atomically."""
    audio = np.asarray(audio, dtype=np.float32)
    write_wav_blocks(path, [audio[None, :] if audio.ndim == 1 else audio], sample_rate)


def write_wav_blocks(path: str | os.PathLike, blocks: Iterable[np.ndarray], sample_rate: int) -> int:
    """Write consecutive ``[channels, n]`` blocks as one 24-bit WAV, atomically; return its length.

    The file only appears once every block is written, so a failure midway
    leaves nothing behind.
    """
    total = 0
    with atomic_path(path) as tmp:
        handle = None
        try:
            for block in blocks:
                block = np.asarray(block, dtype=np.float32)
                if handle is None:
                    handle = sf.SoundFile(tmp, "w", samplerate=sample_rate, channels=block.shape[0],
                                          subtype=WAV_SUBTYPE, format="WAV")
                handle.write(np.clip(block, -1.0, 1.0).T)
                total += block.shape[1]
            if handle is None:
                raise ValueError(f"{path}: no audio to write")
            handle.close()
        except sf.LibsndfileError as exc:  # libsndfile says only "System error.": find which
            raise _system_write_error(path, tmp) or exc from None
        finally:
            if handle is not None and not handle.closed:
                with contextlib.suppress(Exception):
                    handle.close()
        written = sf.info(tmp)
        if written.frames != total or written.samplerate != sample_rate:
            raise OutputError(path, f"the written WAV holds {written.frames} of {total} frames")
    return total


def _system_write_error(path: str | os.PathLike, tmp: os.PathLike) -> OutputError | None:
    """The OS error behind a failed libsndfile write: append a little to the file ourselves."""
    try:
        with open(tmp, "ab") as handle:
            handle.write(bytes(WRITE_PROBE_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        return output_error(path, exc)
    return None
