"""Put new audio into a video without re-encoding the picture (SPEC stage 13)."""

from __future__ import annotations

import errno
import os
import signal

import soundfile as sf

from data_catalog.atomic import atomic_path
from data_catalog.errors import MediaError, OutputError
from data_catalog.media._ffmpeg import ffmpeg_path, last_error_line, run_ffmpeg
from data_catalog.media.probe import probe_media

AAC_BITRATE = "256k"  # transparent for Foley at 44.1 kHz stereo
AUDIO_SHORTFALL_S = 0.1  # AAC frames (1024 samples) and priming may shorten the stream a little
NO_SPACE = "No space left on device"
WRITE_ERROR_MARKERS = ("Error writing trailer", "Error closing file", NO_SPACE, "Disk quota exceeded",
                       "Read-only file system", "File too large")
FALLBACK_VIDEO_CODEC = ["-c:v", "libx264", "-crf", "18", "-preset", "veryfast", "-pix_fmt", "yuv420p"]


class _MuxAttemptFailed(Exception):
    pass


def mux_audio(video_path: str | os.PathLike, audio_path: str | os.PathLike, out_path: str | os.PathLike) -> dict:
    """Write ``out_path`` (MP4): the picture of ``video_path`` with ``audio_path`` as its sound.

    The video stream is copied as is; only when MP4 cannot hold its codec
    (e.g. Theora) is it re-encoded with x264. The result is verified (ffmpeg's
    write errors, which it reports with exit code 0, and ffprobe on the file)
    before it is moved into place. Returns ``{"video_copied": bool}``.
    """
    base = ["-y", "-i", ffmpeg_path(video_path), "-i", ffmpeg_path(audio_path),
            "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", AAC_BITRATE]
    tail = ["-movflags", "+faststart", "-f", "mp4"]
    audio_s = sf.info(os.fspath(audio_path)).duration
    errors = []
    for copied, vcodec in ((True, ["-c:v", "copy"]), (False, FALLBACK_VIDEO_CODEC)):
        try:
            with atomic_path(out_path) as tmp:
                code, stderr = run_ffmpeg(base + vcodec + tail + [ffmpeg_path(tmp)])
                if code == -signal.SIGXFSZ:  # killed past the file-size limit (ulimit -f)
                    raise OutputError(out_path, "cannot write: file too large (the file-size limit)", errno.EFBIG)
                if write_failed := _write_error(stderr):
                    raise OutputError(out_path, f"cannot write: {write_failed}",
                                      errno.ENOSPC if write_failed == NO_SPACE.lower() else None)
                if code != 0:
                    raise _MuxAttemptFailed(last_error_line(stderr, f"exit code {code}"))
                _verify(tmp, audio_s)
        except _MuxAttemptFailed as failure:  # the temporary file is already removed
            errors.append(str(failure))
            continue
        return {"video_copied": copied}
    raise MediaError(video_path, f"could not mux audio into MP4 ({'; '.join(errors)})")


def _write_error(stderr: str) -> str | None:
    """ffmpeg's report of a failed write (it can still exit with 0), in words."""
    lines = [line for line in stderr.splitlines() if any(marker in line for marker in WRITE_ERROR_MARKERS)]
    if not lines:
        return None
    return NO_SPACE.lower() if any(NO_SPACE in line for line in lines) else lines[-1].strip()


def _verify(mp4: os.PathLike, audio_s: float) -> None:
    """Raise unless ``mp4``'s boxes span the file exactly and it holds a video stream and the whole
    audio (ffprobe: a file cut after its index, as +faststart puts it first, still probes)."""
    if problem := _box_problem(mp4):
        raise _MuxAttemptFailed(f"the written MP4 is incomplete ({problem})")
    try:
        data = probe_media(mp4)
    except MediaError as exc:
        raise _MuxAttemptFailed(f"the written MP4 does not read back: {exc.reason}") from None
    kinds = {s.get("codec_type") for s in data.get("streams", [])}
    if not {"video", "audio"} <= kinds:
        raise _MuxAttemptFailed(f"the written MP4 lacks a stream (has {sorted(k for k in kinds if k)})")
    durations = [float(s["duration"]) for s in data["streams"]
                 if s.get("codec_type") == "audio" and s.get("duration") not in (None, "N/A")]
    if durations and durations[0] < audio_s - AUDIO_SHORTFALL_S:
        raise _MuxAttemptFailed(f"the written MP4 holds {durations[0]:.2f} s of {audio_s:.2f} s of audio")


def _box_problem(mp4: os.PathLike) -> str | None:
    """What is wrong with the top-level boxes of an MP4 (ISO/IEC 14496-12 4.2), or None."""
    size = os.path.getsize(mp4)
    seen, offset = set(), 0
    with open(mp4, "rb") as handle:
        while offset < size:
            handle.seek(offset)
            header = handle.read(16)
            if len(header) < 8:
                return f"a box header is cut at byte {offset}"
            box_size, kind = int.from_bytes(header[:4], "big"), header[4:8]
            if box_size == 1:  # 64-bit size follows the type
                if len(header) < 16:
                    return f"a box header is cut at byte {offset}"
                box_size = int.from_bytes(header[8:16], "big")
            elif box_size == 0:  # the box runs to the end of the file
                box_size = size - offset
            if box_size < 8 or offset + box_size > size:
                return f"the {kind.decode('latin-1')!r} box at byte {offset} needs {box_size} bytes, " \
                       f"the file ends after {size - offset}"
            seen.add(kind)
            offset += box_size
    missing = [k.decode() for k in (b"moov", b"mdat") if k not in seen]
    return f"no {' and no '.join(missing)} box" if missing else None
