"""Onset confidence floor of a Video2RMS checkpoint trained before ``train-video2rms`` recorded it.

``auto`` trusts Video2RMS on footage it is at least as sure of as of the least
sure of its validation videos (:func:`folai_models.video2rms.calibrate.onset_confidence_floor`);
``train-video2rms`` records that floor in the checkpoint's sidecar. This script
measures it for an older checkpoint from the recordings named in its
``val_items`` (a folder of ``<item>.mp4``), prints each, and with ``--write``
records the floor (the weights, the config and an ONNX export stay as they are).

Usage::

    .venv/bin/python benchmarks/video2rms_confidence_floor.py [CHECKPOINT]
        [--videos ../shared/data/greatest-hits-dev/videos] [--write]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_VIDEOS = REPO.parent / "shared" / "data" / "greatest-hits-dev" / "videos"


def main(argv: list[str] | None = None) -> int:
    from data_catalog.checkpoints import load_checkpoint_meta, update_checkpoint_extra
    from data_catalog.hashing import sha256_file
    from data_catalog.media import probe_video
    from folai_models.video2rms.calibrate import onset_confidence, onset_confidence_floor
    from folai_models.video2rms.decode import predict_outputs
    from tasks.engines.video2rms import default_video2rms_checkpoint, load_video2rms
    from tasks.feature_tasks import compute_frame_features

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?", type=Path, default=None, help="default: the shipped one")
    parser.add_argument("--videos", type=Path, default=DEFAULT_VIDEOS, help="folder holding <val item>.mp4")
    parser.add_argument("--write", action="store_true", help="record the floor in the checkpoint's sidecar")
    args = parser.parse_args(argv)
    checkpoint = args.checkpoint or default_video2rms_checkpoint()
    items = load_checkpoint_meta(checkpoint)["extra"].get("val_items") or []
    missing = [item for item in items if not (args.videos / f"{item}.mp4").is_file()]
    if not items or missing:
        print(f"{checkpoint}: {'no val_items recorded' if not items else f'missing under {args.videos}: {missing}'}")
        return 1
    model, config, stage, normalizer, _ = load_video2rms(str(checkpoint), "cpu")
    outputs = []
    for item in items:
        video = args.videos / f"{item}.mp4"
        features, _ = compute_frame_features(probe_video(video), sha256_file(video), stage)
        probs, onset_probs = predict_outputs(model, normalizer(features), config)
        if onset_probs is None:
            print(f"{checkpoint}: the model has no onset head; nothing to record")
            return 1
        outputs.append((probs, onset_probs, None))
        print(f"{item}: onset confidence {onset_confidence(onset_probs):.4f}", flush=True)
    floor = onset_confidence_floor(outputs)
    print(f"floor over {len(items)} validation recordings: {floor}")
    if args.write:
        update_checkpoint_extra(checkpoint, {"onset_confidence_floor": floor})
        print(f"recorded in {checkpoint.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
