"""Separation speed: full-size AudioSep ResUNet30, random weights (same speed as trained), chunked as in use.

Prints seconds of compute per minute of audio (mono, 32 kHz, 5 s windows
overlapping by 2 s, ``--batch-windows`` windows per call) on the CPU or a GPU,
and the peak GPU memory. The CLAP query embedding is computed once per query
and is left out (a random 512-d condition stands in for it).

Usage: .venv/bin/python benchmarks/separation_speed.py [--device cpu|cuda] [--seconds 60] [--batch-windows 4]
       [--repeats 1] [--threads N] [--dtype fp32|bf16]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seconds", type=float, default=60.0, help="audio length")
    parser.add_argument("--batch-windows", type=int, nargs="+", default=[4])
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per batch size (after one warm-up)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32",
                        help="bf16: autocast on CUDA (the network trained in fp32)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import numpy as np

    from folai_models.separation.chunking import ChunkPlan
    from folai_models.separation.inference import separate
    from folai_models.separation.resunet import AUDIOSEP_BASE, create_separator

    device = torch.device(args.device)
    started = time.perf_counter()
    model = create_separator(AUDIOSEP_BASE).to(device)
    build_s = time.perf_counter() - started
    rate = AUDIOSEP_BASE.sample_rate
    audio = (0.1 * np.random.default_rng(0).standard_normal(int(args.seconds * rate))).astype(np.float32)
    condition = torch.randn(1, AUDIOSEP_BASE.condition_size)
    plan = ChunkPlan.from_seconds(rate)
    rows = []
    for batch in args.batch_windows:
        times = []
        for i in range(args.repeats + 1):  # the first run warms up (cuDNN autotuning, allocator)
            if device.type == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.dtype == "bf16"):
                separate(model, condition, audio, plan=plan, batch_windows=batch)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i:
                times.append(time.perf_counter() - t0)
        seconds = min(times)
        rows.append({"batch_windows": batch, "wall_s": round(seconds, 3),
                     "seconds_per_audio_minute": round(60 * seconds / args.seconds, 3),
                     "x_real_time": round(args.seconds / seconds, 2),
                     "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20) if device.type == "cuda" else None})
        print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"device": str(device), "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
                      "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                      "audio_s": args.seconds, "windows": plan.n_windows(audio.size), "dtype": args.dtype,
                      "build_s": round(build_s, 2), "results": rows}, indent=1))


if __name__ == "__main__":
    main()
