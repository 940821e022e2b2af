"""Video analysis stage throughput: optical flow (and, later, frame encoders).

Flow: pairs per second for RAFT large (SPEC), RAFT small and OpenCV DIS at the
sizes we analyse at. RAFT runs with random weights: the speed is the weights'.

Usage: .venv/bin/python benchmarks/video_stage.py [--device cpu|cuda] [--pairs N] [--batch B]
       [--repeats R] [--sizes 224x224 256x344] [--sections flow]
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

    from folai_models.optical_flow.opencv_flow import OpenCVFlow
    from folai_models.optical_flow.raft import RaftFlow

    print(f"## optical flow ({device}, torch threads {torch.get_num_threads()}, "
          f"{n_pairs} pairs, batch {batch}, {num_flow_updates} RAFT updates)")
    estimators = {
        "raft_large": lambda: RaftFlow.from_config("large", num_flow_updates, device=device, batch_size=batch),
        "raft_small": lambda: RaftFlow.from_config("small", num_flow_updates, device=device, batch_size=batch),
        "opencv_dis_medium": lambda: OpenCVFlow("dis", "medium"),
        "opencv_farneback": lambda: OpenCVFlow("farneback"),
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


# More sections (frame encoders: TC-CLIP, BN-Inception, ...) register here: name -> callable(args).
SECTIONS: dict[str, Callable[[argparse.Namespace], object]] = {
    "flow": lambda args: bench_flow(args.device, args.sizes, args.pairs, args.batch, args.flow_updates, args.repeats),
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
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per measurement (best and median shown)")
    parser.add_argument("--sizes", type=parse_size, nargs="+", default=list(FLOW_SIZES), help="HxW ...")
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=list(SECTIONS))
    args = parser.parse_args(argv)
    for section in args.sections:
        SECTIONS[section](args)
        print()


if __name__ == "__main__":
    main()
