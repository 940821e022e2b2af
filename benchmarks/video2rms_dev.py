"""Train Video2RMS on the Greatest Hits development set with the weight-free motion encoder.

Preprocesses ``../shared/data/greatest-hits-dev`` (folder adapter: motion features
+ OpenCV flow, unsmoothed 16 kHz RMS targets), holds out a seeded set of whole
recordings, trains on the rest on CPU, then scores on the held-out recordings
(E-L1, envelope correlation, Acc@5, onset F1 against the real audio):
(a) the trained model, (b) the preview envelope, (c) silence. With ``--ship``
the best checkpoint is copied into the package as the default envelope model.

Usage: .venv/bin/python benchmarks/video2rms_dev.py [--data DIR] [--epochs N] [--holdout-count K] [--ship]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_DATA = REPO.parent / "shared" / "data" / "greatest-hits-dev"
HOLDOUT_COUNT = 7  # ~20 % of the 34 recordings, whole recordings only
HOLDOUT_SEED = "sonorize-dev-holdout-v1"
CPU_CONFIG = {  # sized for a 2-core CPU; the paper defaults (batch 64, 500 epochs) assume a GPU
    "conv_channels": 64, "lstm_hidden": 32, "batch_size": 16, "train_hop_s": 2.5,
    "learning_rate": 1e-3, "weight_decay": 1e-3, "best_metric": "onset_f1",
    # 27 recordings: unsmoothed targets keep the attacks the onset metric looks for (kernel-15
    # smoothing spreads them over 120 ms); "presence" decoding with a threshold calibrated on the
    # training recordings, because argmax decodes silence wherever class 0 is the single most likely
    # class (nearly everywhere on sparse hits) and the plain expectation flattens every hit.
    "target_smoothing": "none", "decode_method": "presence",
}
SHIP_TO = REPO / "folai_models" / "checkpoints" / "video2rms-motion.safetensors"
COLUMNS = ("e_l1", "correlation", "acc@5", "onset_precision", "onset_recall", "onset_f1")


def choose_holdout(item_ids: list[str], count: int) -> list[str]:
    """A fixed, content-independent choice: the ``count`` ids with the smallest seeded hash."""
    ranked = sorted(item_ids, key=lambda i: hashlib.sha256(f"{HOLDOUT_SEED}:{i}".encode()).hexdigest())
    return sorted(ranked[:count])


def score_holdout(best_checkpoint: str, videos: dict) -> dict[str, list[dict]]:
    """Per held-out recording: scores of the model, the preview and silence vs the real audio."""
    from data_catalog.checkpoints import load_checkpoint
    from data_catalog.media import probe_video
    from folai_models.metrics import envelope_scores
    from folai_models.video2rms import predict_envelope
    from tasks.engines import PreviewEnvelopeEngine
    from tasks.training_data import FeatureNormalizer

    model, config, meta = load_checkpoint(best_checkpoint)
    normalizer = FeatureNormalizer.from_dict(meta["extra"])
    rows: dict[str, list[dict]] = {"video2rms": [], "preview": [], "silence": []}
    for item_id, (video_path, arrays) in videos.items():
        features, reference = arrays
        learned = predict_envelope(model, normalizer(features), config)
        preview, _ = PreviewEnvelopeEngine().predict(probe_video(video_path))
        n = min(len(reference), len(learned), len(preview))
        for name, estimate in (("video2rms", learned), ("preview", preview), ("silence", np.zeros(n))):
            rows[name].append({"item": item_id, **envelope_scores(reference[:n], estimate[:n], config.envelope_rate)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--holdout-count", type=int, default=HOLDOUT_COUNT)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="checkpoint folder")
    parser.add_argument("--json", type=Path, default=None, help="write the scores here")
    parser.add_argument("--ship", action="store_true", help="copy the best checkpoint into the package")
    parser.add_argument("--config", type=json.loads, default={}, help="JSON of Video2RMSConfig overrides")
    args = parser.parse_args()
    if not (args.data / "videos").is_dir():
        print(f"No development data at {args.data}; nothing to do.")
        return

    from data_catalog.dataset_tables import load_video_arrays, read_videos
    from flows.preprocess_flow import preprocess
    from flows.train_video2rms_flow import train_video2rms

    start = time.perf_counter()
    summary = preprocess(dataset="folder", root=str(args.data), encoder="motion")
    print(f"preprocess: {summary.get('n_ok', '?')} ok, {summary.get('n_failed', '?')} failed "
          f"({time.perf_counter() - start:.0f} s)")
    rows = [r for r in read_videos(dataset="folder", status="ok").to_pylist()
            if (r["feature_encoder"] or "").startswith("motion")]
    holdout = choose_holdout([r["item_id"] for r in rows], args.holdout_count)
    print(f"held out ({len(holdout)} of {len(rows)}): {', '.join(holdout)}")

    start = time.perf_counter()
    result = train_video2rms(dataset="folder", encoder="motion", out_dir=str(args.out) if args.out else None,
                             config={**CPU_CONFIG, **args.config, "epochs": args.epochs}, holdout=holdout,
                             eval_every=args.eval_every, device="cpu", relative_features=True)
    print(f"trained {result['epochs_run']} epochs in {time.perf_counter() - start:.0f} s; "
          f"best epoch {result['best'].get('epoch')} -> {result['best_checkpoint']}")

    videos = {r["item_id"]: (r["video_path"], load_video_arrays(r)) for r in rows if r["item_id"] in holdout}
    scores = score_holdout(result["best_checkpoint"], videos)
    print(f"\n{'held-out recording':28s} {'method':10s} " + " ".join(f"{c:>9s}" for c in COLUMNS))
    for i, item in enumerate(sorted(videos)):
        for method in scores:
            row = scores[method][i]
            print(f"{item[:28] if method == 'video2rms' else '':28s} {method:10s} "
                  + " ".join(f"{row[c]:9.3f}" for c in COLUMNS))
    print()
    means = {m: {c: float(np.nanmean([r[c] for r in rs])) for c in COLUMNS} for m, rs in scores.items()}
    for method, mean in means.items():
        print(f"{'MEAN':28s} {method:10s} " + " ".join(f"{mean[c]:9.3f}" for c in COLUMNS))
    if args.json:
        args.json.write_text(json.dumps({"holdout": holdout, "train": result, "scores": scores, "means": means},
                                        indent=1, default=float))
    if args.ship:
        best = Path(result["best_checkpoint"])
        SHIP_TO.parent.mkdir(parents=True, exist_ok=True)
        for suffix in (".safetensors", ".json"):
            shutil.copyfile(best.with_suffix(suffix), SHIP_TO.with_suffix(suffix))
        print(f"shipped {best} -> {SHIP_TO}")


if __name__ == "__main__":
    main()
