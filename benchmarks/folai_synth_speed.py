"""Synthesis speed: full-size Stable Audio Open + envelope ControlNet, random weights (same speed as trained).

Seconds per 10 s clip at 150 sampling steps with classifier-free guidance
(CLAP and CAVP tokens present, so both branches run), at batch 1 and batch 8,
in bfloat16 on a GPU, and the peak GPU memory. Goal (issue 5): at most 2 s per
clip at batch 1 and 0.5 s per clip batched on one H100-class GPU.

``--tiny`` builds the tiny config instead and ``--steps`` lowers the step count,
so the script can be checked on a CPU; figures from such runs are not the goal's.

Usage: .venv/bin/python benchmarks/folai_synth_speed.py [--device cuda] [--batch-sizes 1 8] [--steps 150]
       [--seconds 10] [--dtype bf16] [--repeats 2] [--tiny] [--sampler dpmpp-3m-sde] [--threads N]
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if _cuda() else "cpu")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--steps", type=int, default=150, help="sampling steps (FolAI: 150)")
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length")
    parser.add_argument("--dtype", choices=("bf16", "fp16", "fp32"), default="bf16")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per batch size (after one warm-up)")
    parser.add_argument("--sampler", default="dpmpp-3m-sde")
    parser.add_argument("--cfg-scale", type=float, default=2.0)
    parser.add_argument("--tiny", action="store_true", help="tiny config (checks the script on a CPU)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()

    import numpy as np
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from folai_models.synth import sao
    from folai_models.synth.model import FolAISynthConfig, create_folai_synth_from_config
    from folai_models.synth.sampling import generate

    device = torch.device(args.device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[args.dtype]
    base = sao.load_config("tiny_oobleck.json" if args.tiny else sao.SAO_CONFIG_FILE)
    config = FolAISynthConfig(base=base, **({"clap_dim": 16, "cavp_dim": 12} if args.tiny else {}))
    started = time.perf_counter()
    with device:
        model = create_folai_synth_from_config(config)
    model = model.to(device=device, dtype=dtype).eval()
    build_s = time.perf_counter() - started
    n_params = sum(p.numel() for p in model.parameters())
    n_control = sum(p.numel() for p in model.trainable_parameters())

    rate = 125.0
    n_frames = int(args.seconds * rate)
    envelope = np.abs(np.sin(np.linspace(0, 40, n_frames))).astype(np.float32) * 0.3
    n_samples = int(round(args.seconds * model.sample_rate))
    clap = torch.randn(config.clap_dim, device=device)
    cavp = torch.randn(int(args.seconds * config.cavp_fps), config.cavp_dim, device=device)
    results = []
    for batch in args.batch_sizes:
        def run():
            generate(model, envelope, rate, n_samples, clap=clap, cavp=cavp, batch_size=batch, device=device,
                     steps=args.steps, cfg_scale=args.cfg_scale, sampler_type=args.sampler)
            if device.type == "cuda":
                torch.cuda.synchronize()

        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        run()  # warm-up
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None
        results.append({"batch_size": batch, "seconds_per_batch": round(min(times), 3),
                        "seconds_per_clip": round(min(times) / batch, 3),
                        "peak_gpu_memory_gib": None if peak is None else round(peak, 2)})
        print(json.dumps(results[-1]), flush=True)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(json.dumps({"device": device_name, "dtype": args.dtype, "config": "tiny" if args.tiny else "SAO 1.0",
                      "parameters": n_params, "controlnet_parameters": n_control,
                      "controlnet_blocks": model.controlnet.n_blocks, "steps": args.steps,
                      "sampler": args.sampler, "cfg_scale": args.cfg_scale, "clip_seconds": args.seconds,
                      "build_seconds": round(build_s, 1), "torch_threads": torch.get_num_threads(),
                      "results": results}, indent=2))


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


if __name__ == "__main__":
    main()
