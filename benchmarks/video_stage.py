"""Video analysis stage throughput: optical flow, frame encoders, the whole stage, the cache.

- flow: pairs per second for RAFT large (SPEC), RAFT small and OpenCV DIS at the
  sizes we analyse at.
- encoders: frames per second of TC-CLIP ViT-B/16, BN-Inception (RGB + flow) and
  the weight-free motion encoder at full size, on 224x224 frames and flow images.
- stage: the two combined per video frame (flow pair + encoder), as a multiple of
  real time for 30 fps input (goal on one H100-class GPU: >= 10x).
- cache: a cold ``frame-features`` task on a generated clip against a warm one
  (goal: warm >= 20x faster).
Models run with random weights: the speed is the weights'.

Usage: .venv/bin/python benchmarks/video_stage.py [--device cpu|cuda] [--pairs N] [--batch B]
       [--frames N] [--repeats R] [--sizes 224x224 256x344] [--sections flow encoders stage cache]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# (height, width): the frame encoders' 224x224 input; Video-Foley's RAFT size
# (jnwnlee/video-foley preprocess/extract_rgb_flow_raft.py: --height 256 --width 344).
FLOW_SIZES = ((224, 224), (256, 344))


def synthetic_pairs(n_pairs: int, size: tuple[int, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random frames and the same frames shifted by (2, 1) px: uint8 [n, H, W, 3] each."""
    rng = np.random.default_rng(seed)
    first = rng.integers(0, 256, (n_pairs, *size, 3), dtype=np.uint8)
    return first, np.roll(first, (1, 2), axis=(1, 2))


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _rates(run: Callable[[], object], n_pairs: int, device: str, repeats: int) -> list[float]:
    """Pairs per second of each of ``repeats`` timed calls of ``run`` (after one untimed warm-up)."""
    run()
    _synchronize(device)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        _synchronize(device)
        rates.append(n_pairs / (time.perf_counter() - start))
    return rates


def bench_flow(
    device: str = "cpu",
    sizes: Sequence[tuple[int, int]] = FLOW_SIZES,
    n_pairs: int = 4,
    batch: int = 4,
    num_flow_updates: int = 12,
    repeats: int = 3,
) -> list[dict]:
    """Print and return pairs/s of each flow estimator at each size (best and median of ``repeats``)."""
    import torch

    from folai_models.optical_flow.registry import create_flow_estimator_from_config as create

    print(f"## optical flow ({device}, torch threads {torch.get_num_threads()}, "
          f"{n_pairs} pairs, batch {batch}, {num_flow_updates} RAFT updates)")
    estimators = {
        f"raft_{size}": lambda size=size: create({"name": "raft", "options": {
            "size": size, "num_flow_updates": num_flow_updates, "device": device, "batch_size": batch}})
        for size in ("large", "small")
    } | {
        "opencv_dis_medium": lambda: create({"name": "opencv", "options": {"method": "dis", "preset": "medium"}}),
        "opencv_farneback": lambda: create({"name": "opencv", "options": {"method": "farneback"}}),
    }
    rows = []
    for name, build in estimators.items():
        estimator = build()
        for size in sizes:
            first, second = synthetic_pairs(n_pairs, size)
            # OpenCV runs on the CPU whatever --device says.
            rates = _rates(lambda e=estimator, a=first, b=second: e.flow(a, b), n_pairs,
                           device if "raft" in name else "cpu", repeats)
            best, median = max(rates), float(np.median(rates))
            rows.append({"estimator": name, "size": size, "pairs_per_s": best, "median_pairs_per_s": median})
            print(f"{name:18s} {size[0]:4d}x{size[1]:<4d} best {best:8.2f} pairs/s ({1000 / best:7.1f} ms/pair)"
                  f"  median {median:8.2f}", flush=True)
    return rows


ENCODER_SIZE = (224, 224)  # TC-CLIP and BN-Inception input (FolAI / Video-Foley)
STAGE_PAIRS = ("raft_large", "tc_clip"), ("raft_large", "bn_inception"), ("opencv_dis_medium", "motion")


def bench_encoders(device: str = "cpu", n_frames: int = 16, repeats: int = 2) -> list[dict]:
    """Print and return frames/s of each full-size encoder (RGB frames + flow images per frame)."""
    import torch

    from folai_models.encoders import create_encoder_from_config

    print(f"## frame encoders ({device}, torch threads {torch.get_num_threads()}, {n_frames} frames of "
          f"{ENCODER_SIZE[0]}x{ENCODER_SIZE[1]})")
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (n_frames, *ENCODER_SIZE, 3), dtype=np.uint8)
    flow_images = rng.integers(100, 156, (n_frames, *ENCODER_SIZE, 3), dtype=np.uint8)
    rows = []
    for name in ("tc_clip", "bn_inception", "motion"):
        options = {} if name == "motion" else {"device": device}
        encoder = create_encoder_from_config({"name": name, "options": options})
        rates = _rates(lambda e=encoder: e.encode(frames, flow_images), n_frames, device, repeats)
        best = max(rates)
        rows.append({"encoder": name, "frames_per_s": best, "feature_dim": encoder.feature_dim})
        print(f"{name:18s} dim {encoder.feature_dim:5d}  best {best:8.2f} frames/s ({1000 / best:8.1f} ms/frame)",
              flush=True)
    return rows


def bench_stage(args: argparse.Namespace) -> list[dict]:
    """Flow + encoder per frame, as a multiple of real time at 30 fps."""
    flow = {r["estimator"]: r["pairs_per_s"] for r in bench_flow(args.device, [ENCODER_SIZE], args.pairs,
                                                                 args.batch, args.flow_updates, args.repeats)}
    encoders = {r["encoder"]: r["frames_per_s"] for r in bench_encoders(args.device, args.frames, args.repeats)}
    print(f"## video stage per frame ({args.device}): flow + encoder, 30 fps input")
    rows = []
    for flow_name, encoder_name in STAGE_PAIRS:
        seconds_per_frame = 1 / flow[flow_name] + 1 / encoders[encoder_name]
        fps = 1 / seconds_per_frame
        rows.append({"flow": flow_name, "encoder": encoder_name, "frames_per_s": fps, "x_real_time": fps / 30})
        print(f"{flow_name:18s} + {encoder_name:13s} {fps:8.2f} frames/s = {fps / 30:7.2f}x real time", flush=True)
    return rows


def bench_cache(seconds: float = 10.0) -> dict:
    """Cold vs warm ``frame-features`` task (motion encoder + OpenCV flow) on a generated clip."""
    import tempfile

    from data_catalog.examples import make_bouncing_ball_video
    from data_catalog.feature_cache import FeatureCache
    from data_catalog.hashing import sha256_file
    from data_catalog.media import probe_video
    from tasks.feature_tasks import build_video_stage, frame_features_task

    with tempfile.TemporaryDirectory() as scratch:
        clip = Path(scratch) / "clip.mp4"
        make_bouncing_ball_video(clip, duration_s=seconds, size=(640, 360))
        info, sha = probe_video(clip), sha256_file(clip)
        stage, cache = build_video_stage("motion"), FeatureCache(Path(scratch) / "cache")
        cold_start = time.perf_counter()
        _, cold = frame_features_task.fn(info, sha, stage, cache=cache)
        cold_s = time.perf_counter() - cold_start
        warm_start = time.perf_counter()
        _, warm = frame_features_task.fn(info, sha, stage, cache=cache)
        warm_s = time.perf_counter() - warm_start
    assert not cold["cached"] and warm["cached"]
    print(f"## feature cache ({seconds:g} s clip, 640x360, motion encoder + OpenCV flow)")
    print(f"cold {cold_s:.3f} s, warm {warm_s:.4f} s: warm is {cold_s / warm_s:.0f}x faster", flush=True)
    return {"cold_s": cold_s, "warm_s": warm_s, "speedup": cold_s / warm_s}


SECTIONS: dict[str, Callable[[argparse.Namespace], object]] = {
    "flow": lambda args: bench_flow(args.device, args.sizes, args.pairs, args.batch, args.flow_updates, args.repeats),
    "encoders": lambda args: bench_encoders(args.device, args.frames, args.repeats),
    "stage": bench_stage,
    "cache": lambda args: bench_cache(),
}


def parse_size(text: str) -> tuple[int, int]:
    height, width = text.lower().split("x")
    return int(height), int(width)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    parser.add_argument("--pairs", type=int, default=4, help="frame pairs timed per estimator and size")
    parser.add_argument("--batch", type=int, default=4, help="RAFT pairs per forward pass")
    parser.add_argument("--flow-updates", type=int, default=12, help="RAFT num_flow_updates")
    parser.add_argument("--frames", type=int, default=16, help="frames per encoder call (TC-CLIP clips are 16)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per measurement (best and median shown)")
    parser.add_argument("--sizes", type=parse_size, nargs="+", default=list(FLOW_SIZES), help="HxW ...")
    parser.add_argument("--sections", nargs="+", default=["stage", "cache"], choices=list(SECTIONS))
    args = parser.parse_args(argv)
    for section in args.sections:
        SECTIONS[section](args)
        print()


if __name__ == "__main__":
    main()
