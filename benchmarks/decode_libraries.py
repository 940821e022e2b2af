"""Decoding frames: our ffmpeg pipe against decord and ffmpeg-python (issue 17, item 9).

For each clip, each way of decoding produces the frames the pipeline analyses
(30 fps, grey at the preview's analysis size by default; RGB at the feature
encoders' 224x224 with ``--pixel-format rgb24 --size 224x224``; ``--frame-rate 2``
for sparse sampling, where decord's random access could pay), and the table
gives wall seconds, CPU seconds (this process's threads and its ffmpeg
children), output frames per wall second and the multiple of real time; then
how far each library's frames are from ours (max and mean absolute difference
in grey levels, over frames at the same index) and whether it produced as many
frames.

- ``ffmpeg -f null``: ffmpeg decoding every source frame and discarding it,
  no resampling, scaling or copy: the floor.
- ``ours``: ``data_catalog.media.iter_frame_windows`` (one ffmpeg process,
  ``fps,scale`` filters, raw frames read from a pipe a window at a time).
- ``ffmpeg-python``: the same ffmpeg graph built with ffmpeg-python and read
  from the same pipe.
- ``decord``: ``decord.VideoReader`` decoding and resizing in its own threads,
  the output grid sampled with ``get_batch`` (the source frame ffmpeg's ``fps``
  filter would pick for each output time), a window at a time; RGB converted to
  the target pixel format with OpenCV.
- ``decord+cv2area``: decord at the source size, then OpenCV's area resize
  (ffmpeg's ``flags=area`` counterpart), to see whether the gap is the scaler.

Needs ``pip install decord ffmpeg-python`` (not dependencies of sonorize: this
script measures them; rows for a missing library say so).

Usage: .venv/bin/python benchmarks/decode_libraries.py [CLIP...] [--per-set N]
       [--pixel-format gray|rgb24] [--size analysis|WxH] [--frame-rate FPS]
       [--repeats R] [--methods NAME...]
Without clips it takes the first N videos of ../shared/data/greatest-hits-dev and
../shared/data/foley-wild-dev (skipped with a note where absent).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from data_catalog.media import analysis_size, iter_frame_windows, probe_video  # noqa: E402
from data_catalog.media._ffmpeg import FFMPEG_BASE, ffmpeg_path  # noqa: E402
from data_catalog.media.frames import PIXEL_CHANNELS, WINDOW_FRAMES  # noqa: E402
from folai_models.rates import VIDEO_FRAME_RATE as FRAME_RATE  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
DEV_SETS = ("greatest-hits-dev", "foley-wild-dev")


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (all threads) and its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def raw_null(info, size, pixel_format, frame_rate) -> Iterator[np.ndarray]:
    """ffmpeg decoding every frame into the null muxer: yields nothing, returns no frames."""
    subprocess.run(FFMPEG_BASE + ["-i", ffmpeg_path(info.path), "-map", "0:v:0", "-f", "null", "-"], check=True)
    return iter(())


def ours(info, size, pixel_format, frame_rate) -> Iterator[np.ndarray]:
    return iter_frame_windows(info, frame_rate=frame_rate, size=size, pixel_format=pixel_format)


def ffmpeg_python(info, size, pixel_format, frame_rate) -> Iterator[np.ndarray]:
    """The same graph as ours, built with ffmpeg-python."""
    import ffmpeg

    width, height = size
    channels = PIXEL_CHANNELS[pixel_format]
    frame_bytes = width * height * channels
    shape = (height, width) if channels == 1 else (height, width, channels)
    graph = (ffmpeg.input(ffmpeg_path(info.path), noautorotate=None)["v:0"]
             .filter("fps", fps=frame_rate).filter("scale", width, height, flags="area")
             .output("pipe:", format="rawvideo", pix_fmt=pixel_format, an=None, sn=None)
             .global_args("-hide_banner", "-nostdin", "-v", "error"))
    proc = graph.run_async(pipe_stdout=True)
    try:
        while buf := proc.stdout.read(frame_bytes * WINDOW_FRAMES):
            n = len(buf) // frame_bytes
            yield np.frombuffer(buf[: n * frame_bytes], dtype=np.uint8).reshape((n, *shape))
    finally:
        proc.stdout.close()
        proc.wait()


def fps_filter_indices(timestamps: np.ndarray, n_out: int, frame_rate: float) -> np.ndarray:
    """Source frame shown at each output frame by ffmpeg's ``fps`` filter (rounding "near").

    Each source frame lands on output slot ``round(t * rate)``; an output slot
    shows the last source frame at or before it (repeated over gaps).
    """
    slots = np.round((timestamps - timestamps[0]) * frame_rate)
    return np.clip(np.searchsorted(slots, np.arange(n_out), side="right") - 1, 0, len(timestamps) - 1)


def _decord_windows(info, size, pixel_format, frame_rate, *, resize_in_decord: bool) -> Iterator[np.ndarray]:
    import cv2
    import decord

    width, height = size
    kwargs = {"width": width, "height": height} if resize_in_decord else {}
    reader = decord.VideoReader(info.path, ctx=decord.cpu(0), num_threads=0, **kwargs)
    timestamps = reader.get_frame_timestamp(np.arange(len(reader)))[:, 0]
    n_out = int(round(info.duration_s * frame_rate))
    indices = fps_filter_indices(timestamps, n_out, frame_rate)
    for start in range(0, n_out, WINDOW_FRAMES):
        rgb = reader.get_batch(indices[start:start + WINDOW_FRAMES]).asnumpy()
        frames = []
        for frame in rgb:
            if not resize_in_decord:
                frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
            frames.append(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if pixel_format == "gray" else frame)
        yield np.stack(frames)


def decord_resize(info, size, pixel_format, frame_rate) -> Iterator[np.ndarray]:
    return _decord_windows(info, size, pixel_format, frame_rate, resize_in_decord=True)


def decord_cv2area(info, size, pixel_format, frame_rate) -> Iterator[np.ndarray]:
    return _decord_windows(info, size, pixel_format, frame_rate, resize_in_decord=False)


METHODS: dict[str, tuple[Callable, str | None]] = {
    "ffmpeg -f null": (raw_null, None),
    "ours": (ours, None),
    "ffmpeg-python": (ffmpeg_python, "ffmpeg"),
    "decord": (decord_resize, "decord"),
    "decord+cv2area": (decord_cv2area, "decord"),
}


def available(module: str | None) -> bool:
    if module is None:
        return True
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def measure(method: Callable, info, size, pixel_format, frame_rate) -> tuple[float, float, np.ndarray | None]:
    """Wall s, CPU s and the frames (None for the null decode) of one decode of one clip."""
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    windows = list(method(info, size, pixel_format, frame_rate))
    wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    return wall, cpu, (np.concatenate(windows) if windows else None)


def grey(frames: np.ndarray) -> np.ndarray:
    return frames if frames.ndim == 3 else frames.astype(np.float32).mean(axis=-1)


def default_clips(per_set: int) -> list[Path]:
    clips = []
    for name in DEV_SETS:
        folder = SHARED / name / "videos"
        if not folder.is_dir():
            print(f"note: {folder} absent, skipped")
            continue
        clips += sorted(folder.glob("*.mp4"))[:per_set]
    return clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", nargs="*", type=Path)
    parser.add_argument("--per-set", type=int, default=4, help="clips per development set when none are given")
    parser.add_argument("--pixel-format", choices=sorted(PIXEL_CHANNELS), default="gray")
    parser.add_argument("--size", default="analysis", help="'analysis' (the preview's) or WxH, e.g. 224x224")
    parser.add_argument("--frame-rate", type=float, default=FRAME_RATE,
                        help="output frames per second (30: the pipeline's; 2: sparse sampling, decord's random access)")
    parser.add_argument("--repeats", type=int, default=1, help="decode each clip R times per method; best wall kept")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS),
                        help="which decodes to run (ours always runs: it is the reference)")
    args = parser.parse_args()

    clips = args.clips or default_clips(args.per_set)
    if not clips:
        sys.exit("no clips: give paths or provide ../shared/data")
    chosen = {name: METHODS[name] for name in METHODS if name in args.methods or name == "ours"}
    methods = {name: fn for name, (fn, module) in chosen.items() if available(module)}
    for name, (_, module) in chosen.items():
        if name not in methods:
            print(f"note: {name} skipped: `pip install {module if module != 'ffmpeg' else 'ffmpeg-python'}`")

    totals = {name: {"wall": 0.0, "cpu": 0.0, "frames": 0, "max_diff": 0.0, "abs_sum": 0.0, "compared": 0,
                     "count_mismatch": 0} for name in methods}
    video_s = 0.0
    for clip in clips:
        info = probe_video(clip)
        size = analysis_size(info.width, info.height) if args.size == "analysis" else \
            tuple(int(v) for v in args.size.lower().split("x"))
        video_s += info.duration_s
        print(f"{clip.name}: {info.width}x{info.height} {info.frame_rate:g} fps {info.duration_s:.1f} s "
              f"-> {size[0]}x{size[1]} {args.pixel_format} @ {args.frame_rate:g} fps")
        reference = None
        for name, fn in methods.items():
            best = None
            for _ in range(args.repeats):
                wall, cpu, frames = measure(fn, info, size, args.pixel_format, args.frame_rate)
                if best is None or wall < best[0]:
                    best = (wall, cpu)
            t = totals[name]
            t["wall"] += best[0]
            t["cpu"] += best[1]
            if frames is None:
                t["frames"] += info.n_frames or int(round(info.duration_s * info.frame_rate))
                continue
            t["frames"] += len(frames)
            if name == "ours":
                reference = frames
            elif reference is not None:
                n = min(len(frames), len(reference))
                t["count_mismatch"] += abs(len(frames) - len(reference))
                diff = np.abs(grey(frames[:n]).astype(np.float32) - grey(reference[:n]).astype(np.float32))
                t["max_diff"] = max(t["max_diff"], float(diff.max()) if n else 0.0)
                t["abs_sum"] += float(diff.mean(axis=tuple(range(1, diff.ndim))).sum())
                t["compared"] += n

    print(f"\ncores: {os.cpu_count()}; {len(clips)} clips, {video_s:.0f} s of video; "
          f"{args.pixel_format} {args.size} at {args.frame_rate:g} fps; best of {args.repeats}")
    print(f"('ffmpeg -f null' counts source frames decoded; the others {args.frame_rate:g} fps frames delivered as arrays)")
    print(f"{'method':<16} {'wall s':>8} {'CPU s':>8} {'frames/s':>9} {'x real time':>12} {'vs null':>8} "
          f"{'max |diff|':>11} {'mean |diff|':>12} {'frame count':>12}")
    null_wall = totals.get("ffmpeg -f null", {}).get("wall")
    for name, t in totals.items():
        compare = (f"{t['max_diff']:>11.0f} {t['abs_sum'] / t['compared']:>12.2f}" if t["compared"]
                   else f"{'(ref)' if name == 'ours' else '-':>11} {'-':>12}")
        count = ("-" if name == "ffmpeg -f null" else "same" if name == "ours" or not t["count_mismatch"]
                 else f"{t['count_mismatch']} off")
        ratio = f"{null_wall / t['wall']:.2f}x" if null_wall else "-"
        print(f"{name:<16} {t['wall']:>8.2f} {t['cpu']:>8.2f} {t['frames'] / t['wall']:>9.0f} "
              f"{video_s / t['wall']:>11.1f}x {ratio:>8} {compare} {count:>12}")


if __name__ == "__main__":
    main()
