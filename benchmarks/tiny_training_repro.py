"""Losses and metrics of tiny training runs, to prove a refactoring leaves training unchanged.

Generates three bouncing-ball clips, preprocesses them (motion features), trains
Video2RMS with each decoding (argmax, presence with relative features, onsets,
mirror augmentation; one run resumed for a third epoch) and, when
stable-audio-tools is installed, the ControlNet on a tiny Stable Audio Open
(three steps, then resumed for a fourth); prints every epoch's / step's losses and metrics
(wall-clock seconds left out) as JSON. Same seed, same code path: identical
output before and after a change that should not touch the science.

Usage::

    .venv/bin/python benchmarks/tiny_training_repro.py > before.json   # on the old commit
    .venv/bin/python benchmarks/tiny_training_repro.py > after.json    # on the new one
    diff before.json after.json
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]  # the tiny Stable Audio Open stand-in of the tests

TINY = {"conv_channels": 16, "lstm_hidden": 8, "window_s": 2.0, "batch_size": 4, "epochs": 2,
        "train_hop_s": 1.0, "best_metric": "onset_f1"}
VARIANTS = {  # name -> (config overrides, train_video2rms keywords)
    "argmax": ({}, {}),
    "presence-relative": ({"decode_method": "presence"}, {"relative_features": True}),
    "onsets": ({"decode_method": "onsets", "onset_weight": 1.0}, {}),
    "mirror": ({}, {"mirror_augment": True}),
}
TINY_CONTROLNET = {"steps": 3, "batch_size": 2, "chunk_s": 1.0, "checkpoint_every": 1, "sample_every": 3,
                   "sample_steps": 3, "bf16": False}


def _rows(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def main() -> dict:
    root = Path(tempfile.mkdtemp(prefix="tiny-training-"))
    for name in ("CACHE", "CATALOG", "MODEL"):
        os.environ[f"SONORIZE_{name}_DIR"] = str(root / name.lower())
    import torch

    from data_catalog.examples import make_bouncing_ball_video
    from flows.preprocess_flow import preprocess
    from flows.train_video2rms_flow import train_video2rms

    torch.set_num_threads(1)  # one thread: reproducible sums, and faster for tiny models
    clips = root / "clips"
    for i, seconds in enumerate((3.0, 4.0, 3.0)):
        make_bouncing_ball_video(clips / f"clip{i}.mp4", duration_s=seconds, with_audio=True)
    done = preprocess(dataset="folder", root=str(clips), encoder="motion")
    assert done["n_failed"] == 0, done
    out: dict = {}
    for name, (overrides, keywords) in VARIANTS.items():
        result = train_video2rms(dataset="folder", encoder="motion", out_dir=str(root / "v2r" / name),
                                 config={**TINY, **overrides}, holdout=["clip2"], device="cpu", **keywords)
        out[f"video2rms/{name}"] = {"history": _rows(result["history"]), "best": result["best"],
                                    "n_train_chunks": result["n_train_chunks"]}
    resumed = train_video2rms(dataset="folder", encoder="motion", out_dir=str(root / "v2r" / "onsets"),
                              config={**TINY, **VARIANTS["onsets"][0], "epochs": 3}, holdout=["clip2"], device="cpu")
    out["video2rms/onsets-resumed-to-3"] = {"history": _rows(resumed["history"]), "best": resumed["best"]}
    try:
        import stable_audio_tools  # noqa: F401
    except ImportError:
        print("stable-audio-tools not installed: ControlNet run skipped", file=sys.stderr)
        return out
    from flows.train_controlnet_flow import train_controlnet

    from data_catalog.model_store import ModelStore
    from sao_stand_ins import add_tiny_sao_base_to_store

    add_tiny_sao_base_to_store(ModelStore(), root / "staging")  # SONORIZE_MODEL_DIR
    result = train_controlnet(dataset="folder", out_dir=str(root / "controlnet"), config=TINY_CONTROLNET,
                              model={"n_blocks": 2}, train_split="all", val_split="all", val_chunks=1,
                              device="cpu", clap=False, cavp=False)
    out["controlnet"] = {"history": _rows(result["history"]), "best_val_loss": result["best_val_loss"],
                         "samples": [{k: v for k, v in s.items() if k != "wav"} for s in result["samples"]]}
    resumed = train_controlnet(dataset="folder", out_dir=str(root / "controlnet"), config={**TINY_CONTROLNET, "steps": 4},
                               model={"n_blocks": 2}, train_split="all", val_split="all", val_chunks=1,
                               device="cpu", clap=False, cavp=False)
    out["controlnet-resumed-to-4"] = {"history": _rows(resumed["history"]), "best_val_loss": resumed["best_val_loss"],
                                      "steps_run": resumed["steps_run"]}
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=1, sort_keys=True, default=float))
