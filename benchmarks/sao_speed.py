"""Speed of the sao engine's model: full-size Stable Audio Open 1.0 + t5-base, random weights (same speed as published).

Seconds per 10 s clip of audio-to-audio regeneration (the clip's latent noised
to ``--init-noise-level``, ``--steps`` sampling steps with classifier-free
guidance, so both branches run, then decoding), at batch 1 and batch 8 (eight
seeds of one window, as ``--candidates 8`` runs them, or eight windows), in
bfloat16 on a GPU, and the peak GPU memory. Also the seconds of the T5 prompt
encoding and of the VAE round trip alone (init noise level 0).

Full size runs on CUDA only; ``--tiny`` builds the tiny configs (tests' size)
and is what runs on a CPU, to check the script; its figures say nothing about
the real model. Random T5 weights need no tokenizer from the hub: a word-level
stand-in (tests/sao_stand_ins.py) gives the token ids.

Usage: .venv/bin/python benchmarks/sao_speed.py [--device cuda] [--batch-sizes 1 8] [--steps 100]
       [--seconds 10] [--init-noise-level 2] [--dtype bf16] [--repeats 2] [--tiny] [--sampler dpmpp-3m-sde]
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
sys.path.insert(0, str(REPO / "tests"))  # the word-level T5 tokenizer stand-in


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", help="default: cuda when there is a GPU, else cpu")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--steps", type=int, default=100, help="sampling steps (SAO model card: 100)")
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length")
    parser.add_argument("--init-noise-level", type=float, default=2.0)
    parser.add_argument("--cfg-scale", type=float, default=7.0)
    parser.add_argument("--sampler", default="dpmpp-3m-sde")
    parser.add_argument("--dtype", choices=("bf16", "fp16", "fp32"), default="bf16")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per batch size (after one warm-up)")
    parser.add_argument("--tiny", action="store_true", help="tiny configs (checks the script on a CPU)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()

    import numpy as np
    import torch

    from folai_models.synth import sao
    from folai_models.synth.audio_to_audio import create_sao_text_model, regenerate
    from folai_models.synth.t5_conditioner import T5_BASE_CONFIG_FILE, load_t5_config
    from sao_stand_ins import tiny_t5_tokenizer

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type != "cuda" and not args.tiny:
        parser.error("full size runs on CUDA only; on a CPU use --tiny")
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[args.dtype]
    if device.type == "cpu":
        dtype = torch.float32
    started = time.perf_counter()
    with device:
        model = create_sao_text_model(sao.load_config("tiny_oobleck.json" if args.tiny else sao.SAO_CONFIG_FILE),
                                      load_t5_config("tiny_t5.json" if args.tiny else T5_BASE_CONFIG_FILE),
                                      tiny_t5_tokenizer())
    model = model.to(device=device, dtype=dtype).eval()
    build_s = time.perf_counter() - started
    n_params = sum(p.numel() for p in model.parameters())

    n = int(round(args.seconds * model.sample_rate))
    rng = np.random.default_rng(0)
    clip = torch.from_numpy((rng.standard_normal((2, n)) * 0.1).astype(np.float32))
    prompt = "a rubber ball bouncing on a wooden floor"

    def timed(fn) -> float:
        fn()  # warm-up
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        return min(times)

    def encode_prompt():
        with torch.no_grad():
            model.conditioner.conditioners["prompt"]([prompt], device)

    extra = {"t5_prompt_seconds": round(timed(encode_prompt), 4),
             "vae_round_trip_seconds_per_clip": round(timed(lambda: regenerate(
                 model, clip[None], [prompt], seeds=[0], init_noise_level=0.0, device=device)), 3)}
    print(json.dumps(extra), flush=True)
    results = []
    for batch in args.batch_sizes:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        seconds = timed(lambda: regenerate(model, clip[None].expand(batch, -1, -1), [prompt] * batch,
                                           seeds=list(range(batch)), init_noise_level=args.init_noise_level,
                                           steps=args.steps, cfg_scale=args.cfg_scale, sampler_type=args.sampler,
                                           device=device))
        peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None
        results.append({"batch_size": batch, "seconds_per_batch": round(seconds, 3),
                        "seconds_per_clip": round(seconds / batch, 3),
                        "peak_gpu_memory_gib": None if peak is None else round(peak, 2)})
        print(json.dumps(results[-1]), flush=True)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(json.dumps({"device": device_name, "dtype": str(dtype).removeprefix("torch."),
                      "config": "tiny" if args.tiny else "SAO 1.0 + t5-base", "parameters": n_params,
                      "steps": args.steps, "sampler": args.sampler, "cfg_scale": args.cfg_scale,
                      "init_noise_level": args.init_noise_level, "clip_seconds": args.seconds,
                      "build_seconds": round(build_s, 1), "torch_threads": torch.get_num_threads(),
                      **extra, "results": results}, indent=2))


if __name__ == "__main__":
    main()
