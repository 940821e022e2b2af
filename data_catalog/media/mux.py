"""Put new audio into a video without re-encoding the picture (SPEC stage 13)."""

from __future__ import annotations

import os

from data_catalog.atomic import atomic_path
from data_catalog.errors import MediaError
from data_catalog.media._ffmpeg import last_error_line, run_ffmpeg

AAC_BITRATE = "256k"  # transparent for Foley at 44.1 kHz stereo
FALLBACK_VIDEO_CODEC = ["-c:v", "libx264", "-crf", "18", "-preset", "veryfast", "-pix_fmt", "yuv420p"]


class _MuxAttemptFailed(Exception):
    pass


def mux_audio(video_path: str | os.PathLike, audio_path: str | os.PathLike, out_path: str | os.PathLike) -> dict:
    """Write ``out_path`` (MP4): the picture of ``video_path`` with ``audio_path`` as its sound.

    The video stream is copied as is; only when MP4 cannot hold its codec
    (e.g. Theora) is it re-encoded with x264. Returns ``{"video_copied": bool}``.
    """
    base = ["-y", "-i", os.fspath(video_path), "-i", os.fspath(audio_path),
            "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", AAC_BITRATE]
    tail = ["-movflags", "+faststart", "-f", "mp4"]
    errors = []
    for copied, vcodec in ((True, ["-c:v", "copy"]), (False, FALLBACK_VIDEO_CODEC)):
        try:
            with atomic_path(out_path) as tmp:
                code, stderr = run_ffmpeg(base + vcodec + tail + [os.fspath(tmp)])
                if code != 0:
                    raise _MuxAttemptFailed(last_error_line(stderr, f"exit code {code}"))
        except _MuxAttemptFailed as failure:  # the temporary file is already removed
            errors.append(str(failure))
            continue
        return {"video_copied": copied}
    raise MediaError(video_path, f"could not mux audio into MP4 ({'; '.join(errors)})")
