"""Where the time of the default ``sonorize run`` path goes, stage by stage (issue 19).

For each video: decode (ffmpeg to 224x224 RGB at 30 fps, decoded a window
ahead in a thread: the time spent waiting for frames), optical flow (OpenCV DIS), flow images, motion features,
the Video2RMS model, the original audio's envelope (the score), the envelope
files (CSV, plot, labels), synthesis (foley, streamed to WAV) and the mux; and
once per process the imports and Prefect's temporary API start. Stages run in
this process, one after another, as the flow runs them (no Prefect around the
video stages: its task overhead is reported by ``--prefect``). Figures are wall
seconds, the multiple of real time (video length / seconds) and the CPU seconds
of the whole video (this process's threads and ffmpeg): on a busy shared machine
wall time varies with the load, CPU time much less.

Generate test videos outside the repository, e.g.::

    ffmpeg -f lavfi -i testsrc2=size=850x480:rate=30 -f lavfi -i sine -t 60 -shortest \
        -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac /tmp/t_850x480_60s.mp4

Usage: .venv/bin/python benchmarks/profile_stages.py VIDEO... [--prefect] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

STAGES = ("decode", "flow", "flow_images", "features", "model", "reference", "envelope_files", "synthesis", "mux")


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def profile_video(path: Path, scratch: Path) -> dict:
    """Seconds per stage of the default path (video2rms + foley) on one video."""
    import numpy as np

    from data_catalog.hashing import sha256_file
    from data_catalog.media import iter_frame_windows, probe_video
    from data_catalog.media.frames import prefetched
    from folai_models.features import CHUNK_FRAMES
    from data_catalog.output_folders import output_paths
    from folai_models.optical_flow.flow_images import flow_to_image
    from folai_models.envelope import n_envelope_frames_for_seconds
    from folai_models.video2rms import predict_envelope
    from folai_models.video2rms.level_map import apply_level_map
    from tasks.engines.video2rms import default_video2rms_checkpoint, load_video2rms
    from tasks.media_tasks import reference_envelope
    from tasks.output_tasks import mux_video_task, write_envelope_outputs_task
    from tasks.synth_tasks import synthesize_task

    seconds: dict[str, float] = defaultdict(float)
    info = probe_video(path)
    sha256_file(path)
    model, config, stage, normalizer, level_map = load_video2rms(str(default_video2rms_checkpoint()), "cpu")
    encoder, flow = stage.encoder, stage.flow
    encoder.reset()
    size = encoder.input_size
    windows = prefetched(iter_frame_windows(info, size=(size[1], size[0]), pixel_format="rgb24"))
    outputs, previous = [], None
    while True:
        start = time.perf_counter()
        window = next(windows, None)
        seconds["decode"] += time.perf_counter() - start  # waiting for frames (decoding overlaps the rest)
        if window is None:
            break
        for first in range(0, len(window), CHUNK_FRAMES):  # as folai_models.features.extract_features
            frames = window[first : first + CHUNK_FRAMES]
            firsts = np.concatenate([frames[:1] if previous is None else previous, frames[:-1]])
            fields, t = _timed(flow.flow, firsts, frames)
            seconds["flow"] += t
            if previous is None:
                fields[0] = 0.0
            images, t = _timed(flow_to_image, fields)
            seconds["flow_images"] += t
            rows, t = _timed(encoder.encode, frames, images)
            seconds["features"] += t
            outputs.append(rows)
            previous = frames[-1:]
    features = np.concatenate(outputs)
    envelope, t = _timed(lambda: apply_level_map(predict_envelope(model, normalizer(features), config), level_map))
    seconds["model"] = t
    rate = config.envelope_rate
    n = n_envelope_frames_for_seconds(info.duration_s)
    if info.has_audio:
        (reference, _), seconds["reference"] = _timed(reference_envelope, str(path), n)
    else:
        reference = None
    paths = output_paths(scratch, path.stem)
    _, seconds["envelope_files"] = _timed(write_envelope_outputs_task.fn, paths, envelope[:n], rate,
                                          title=path.name, metadata={"source": str(path)}, reference=reference)
    _, seconds["synthesis"] = _timed(synthesize_task.fn, envelope[:n], rate, info.duration_s, "foley", paths["wav"])
    _, seconds["mux"] = _timed(mux_video_task.fn, paths, str(path))
    return {"video": str(path), "size": f"{info.width}x{info.height}", "duration_s": info.duration_s,
            "seconds": {k: round(seconds.get(k, 0.0), 3) for k in STAGES}}


def _cpu_seconds() -> float:
    """CPU seconds of this process (all its threads) and of its finished children (ffmpeg)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="+", type=Path)
    parser.add_argument("--prefect", action="store_true", help="also time Prefect's temporary API start")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)

    once = {}
    start = time.perf_counter()
    import prefect  # noqa: F401

    once["import_prefect"] = time.perf_counter() - start
    start = time.perf_counter()
    import torch  # noqa: F401

    from tasks import engines  # noqa: F401

    once["import_torch_tasks"] = time.perf_counter() - start
    if args.prefect:
        from flows.prefect_api import start_ephemeral_api

        _, once["prefect_start"] = _timed(start_ephemeral_api)
    from tasks.engines.video2rms import default_video2rms_checkpoint, load_video2rms

    _, once["load_model"] = _timed(load_video2rms, str(default_video2rms_checkpoint()), "cpu")
    print("once per process: " + ", ".join(f"{k} {v:.2f} s" for k, v in once.items()), flush=True)
    print(f"{'video':28s} {'size':>9s} {'len s':>6s} " + " ".join(f"{s[:9]:>9s}" for s in STAGES)
          + f" {'total':>7s} {'x real':>6s} {'cpu s':>6s}")
    rows = []
    for video in args.videos:
        cpu_before = _cpu_seconds()
        with tempfile.TemporaryDirectory() as scratch:
            row = profile_video(video, Path(scratch))
        total = sum(row["seconds"].values())
        cpu = _cpu_seconds() - cpu_before
        row.update(total_s=round(total, 3), x_real_time=round(row["duration_s"] / total, 2), cpu_s=round(cpu, 2))
        rows.append(row)
        print(f"{video.name[:28]:28s} {row['size']:>9s} {row['duration_s']:6.1f} "
              + " ".join(f"{row['seconds'][s]:9.2f}" for s in STAGES)
              + f" {total:7.2f} {row['x_real_time']:6.1f} {cpu:6.1f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"once": once, "videos": rows}, indent=1))


if __name__ == "__main__":
    main()
