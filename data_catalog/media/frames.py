"""Decode video frames resampled to a fixed rate, in bounded windows (SPEC stage 3).

ffmpeg's ``fps`` filter resamples any source rate, constant or variable, to
the target rate from the frames' timestamps; we read its raw output a window
at a time, so memory depends on the window size, never on the video length.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from data_catalog.errors import MediaError
from data_catalog.media._ffmpeg import ffmpeg_path, ffmpeg_stream, last_error_line, read_stderr
from data_catalog.media.probe import VideoInfo
from folai_models.rates import VIDEO_FRAME_RATE

WINDOW_FRAMES = 300  # FolAI IV-C: a 10 s window = 300 frames at 30 fps
ANALYSIS_MAX_SIDE = 256  # motion analysis needs no more; decoding cost scales with it
MIN_DECODED_FRACTION = 0.9  # fewer frames than this share of the probed duration = truncated
PIXEL_CHANNELS = {"gray": 1, "rgb24": 3}


def analysis_size(width: int, height: int, max_side: int = ANALYSIS_MAX_SIDE) -> tuple[int, int]:
    """Even (width, height) with the source aspect ratio and the longer side <= max_side."""
    scale = min(1.0, max_side / max(width, height))
    out_w = max(2, int(round(width * scale / 2)) * 2)
    out_h = max(2, int(round(height * scale / 2)) * 2)
    return out_w, out_h


def iter_frame_windows(
    info: VideoInfo,
    *,
    frame_rate: float = VIDEO_FRAME_RATE,
    window_frames: int = WINDOW_FRAMES,
    size: tuple[int, int] | None = None,
    pixel_format: str = "gray",
    min_decoded_fraction: float = MIN_DECODED_FRACTION,
    center_crop: bool = False,
    resize_shorter_side: int | None = None,
) -> Iterator[np.ndarray]:
    """Yield uint8 arrays ``[n, height, width(, 3)]`` of consecutive frames at ``frame_rate``.

    Every window holds ``window_frames`` frames except the last. With
    ``center_crop`` the frame is scaled to cover ``size`` (its shorter side
    made ``resize_shorter_side``, default the crop's) and its centre cut out
    (CLIP-style preprocessing), else it is squashed to ``size``. Raises
    MediaError when nothing decodes, or when decoding stops early (a
    truncated or corrupt file) after fewer than ``min_decoded_fraction`` of
    the frames the probed duration promises.
    """
    if pixel_format not in PIXEL_CHANNELS:
        raise ValueError(f"pixel_format must be one of {sorted(PIXEL_CHANNELS)}")
    width, height = size or analysis_size(info.width, info.height)
    channels = PIXEL_CHANNELS[pixel_format]
    frame_bytes = width * height * channels
    shape = (height, width) if channels == 1 else (height, width, channels)
    if center_crop:
        # cover (W, H) scaled so the shorter side is resize_shorter_side, then cut the centre
        k = (resize_shorter_side or min(width, height)) / min(width, height)
        cover_w, cover_h = int(round(width * k)), int(round(height * k))
        geometry = (f"scale={cover_w}:{cover_h}:force_original_aspect_ratio=increase:flags=area,"
                    f"crop={width}:{height}")
    else:
        geometry = f"scale={width}:{height}:flags=area"
    args = [
        "-noautorotate", "-i", ffmpeg_path(info.path), "-map", "0:v:0", "-an", "-sn",
        "-vf", f"fps={frame_rate},{geometry}",
        "-f", "rawvideo", "-pix_fmt", pixel_format, "pipe:1",
    ]
    expected = info.duration_s * frame_rate
    decoded = 0
    with ffmpeg_stream(args) as (proc, err):
        assert proc.stdout is not None
        while True:
            buf = proc.stdout.read(frame_bytes * window_frames)
            if not buf:
                break
            n = len(buf) // frame_bytes
            if n == 0:
                break
            decoded += n
            yield np.frombuffer(buf[: n * frame_bytes], dtype=np.uint8).reshape((n, *shape))
        code = proc.wait()
        stderr = read_stderr(err)
    if decoded == 0:
        reason = last_error_line(stderr, "no frames could be decoded")
        raise MediaError(info.path, f"no video frames could be decoded ({reason})")
    if decoded < min_decoded_fraction * expected - 1:
        detail = last_error_line(stderr, f"ffmpeg exit code {code}")
        raise MediaError(
            info.path,
            f"truncated or corrupt video: decoded {decoded / frame_rate:.2f} s of the "
            f"{info.duration_s:.2f} s it declares ({detail})",
        )


PREFETCH_WINDOWS = 1  # windows decoded ahead: ffmpeg decodes the next while the caller analyses this one


def prefetched(windows: Iterator[np.ndarray], depth: int = PREFETCH_WINDOWS) -> Iterator[np.ndarray]:
    """Yield what ``windows`` yields, read up to ``depth`` items ahead in a thread.

    An OS pipe holds only 64 KiB, so without this ffmpeg waits while the caller
    analyses a window, and the caller waits while ffmpeg decodes the next: on two
    cores the two now overlap. Items and their order are unchanged; an error
    raised by ``windows`` (a truncated video's MediaError) is raised here, in
    the caller, where it would have been. Stopping early closes ``windows``.
    """
    import queue
    import threading

    slots: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in windows:
                if not put((item, None)):
                    return
            put((done, None))
        except BaseException as exc:  # handed to the caller
            put((done, exc))
        finally:
            close = getattr(windows, "close", None)
            if close is not None:
                close()  # the generator's ffmpeg is killed in its own thread

    thread = threading.Thread(target=produce, name="frame-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = slots.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        thread.join()
