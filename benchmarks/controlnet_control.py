"""Does the envelope ControlNet control? Tiny FolAI model on synthetic hits, CPU, ControlNet on vs off.

Runs :func:`folai_models.synth.control_experiment.run_control_experiment`:
pretrains a tiny base (stable-audio-tools DiT, patched pretransform) on
synthetic noise/tone hits, freezes it, trains the ControlNet on the envelope,
then generates audio for new random envelopes with the ControlNet on and off
(same noise) and prints E-L1, envelope correlation and onset F1 of each
against the reference envelopes.

Usage: .venv/bin/python benchmarks/controlnet_control.py [--base-steps N] [--controlnet-steps N]
       [--eval-clips N] [--sampling-steps N] [--controlnet-lr LR] [--seed S] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, fields
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    from folai_models.synth.control_experiment import ExperimentConfig, run_control_experiment

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for f in fields(ExperimentConfig):
        parser.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1: a small model gains nothing from more, and loses a lot "
                             "when the cores are shared)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    config = ExperimentConfig(**{f.name: getattr(args, f.name) for f in fields(ExperimentConfig)})
    result = run_control_experiment(config)
    result["config"] = asdict(config)
    print(json.dumps(result, indent=2))
    on, off = result["scores"]["on"], result["scores"]["off"]
    print(f"\n{'':12s}{'E-L1':>10s}{'corr':>10s}{'onset F1':>10s}")
    for name, s in (("ControlNet", on), ("without", off)):
        print(f"{name:12s}{s['e_l1']:10.4f}{s['correlation']:10.3f}{s['onset_f1']:10.3f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
