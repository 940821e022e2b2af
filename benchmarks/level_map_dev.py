"""The Video2RMS level map on the Greatest Hits development recordings: what it changes.

Predicts each recording's envelope with a checkpoint *without* its level map,
fits the map on the checkpoint's training recordings (its ``train_items``)
and scores the held-out ones (``val_items``) raw and mapped against the real
audio: onset F1, correlation, E-L1 and the 99th percentile of the level.

Usage::

    .venv/bin/python benchmarks/level_map_dev.py [--checkpoint PATH] [--cache DIR] [--quantiles 50 75 90 95 98]
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from data_catalog.media import probe_video  # noqa: E402
from folai_models.metrics import envelope_scores  # noqa: E402
from folai_models.rates import ENVELOPE_FRAME_RATE  # noqa: E402
from folai_models.video2rms import level_map as lm  # noqa: E402
from tasks.media_tasks import reference_envelope  # noqa: E402

DATA = REPO_ROOT.parent / "shared" / "data" / "greatest-hits-dev"


def raw_envelope(engine, video: Path, cache: Path) -> np.ndarray:
    """The checkpoint's envelope before its level map (cached as ``<stem>.raw.npy``)."""
    path = cache / f"{video.stem}.raw.npy"
    if not path.is_file():
        from folai_models.video2rms import predict_envelope
        from tasks.engines.video2rms import load_video2rms
        from tasks.feature_tasks import frame_features_task

        model, config, stage, normalizer, _ = load_video2rms(str(engine.checkpoint), engine.device)
        info = probe_video(video)
        from data_catalog.hashing import sha256_file

        features, _ = frame_features_task.fn(info, sha256_file(video), stage)
        np.save(path, np.asarray(predict_envelope(model, normalizer(features), config), np.float32))
    return np.load(path).astype(np.float64)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the shipped one")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "sonorize" / "bench-level-map")
    parser.add_argument("--quantiles", type=float, nargs="+", default=list(lm.LEVEL_MAP_QUANTILES))
    args = parser.parse_args(argv)
    if not (DATA / "videos").is_dir():
        print(f"skipped: {DATA} not found (development data lives beside the repository)")
        return 0
    from tasks.engines.video2rms import Video2RMSEnvelopeEngine

    engine = Video2RMSEnvelopeEngine(args.checkpoint)
    meta = json.loads(Path(engine.checkpoint).with_suffix(".json").read_text())["extra"]
    split = {k: set(v if isinstance(v, list) else ast.literal_eval(v)) for k, v in
             (("train", meta["train_items"]), ("val", meta["val_items"]))}
    args.cache.mkdir(parents=True, exist_ok=True)
    pairs = {}
    for video in sorted((DATA / "videos").glob("*.mp4")):
        env = raw_envelope(engine, video, args.cache)
        ref, covered_s = reference_envelope(str(video), env.size)
        n = min(env.size, int(covered_s * ENVELOPE_FRAME_RATE))
        pairs[video.stem] = (env[:n], ref[:n])
    lm.LEVEL_MAP_QUANTILES = tuple(args.quantiles)
    train = [pairs[k] for k in sorted(split["train"]) if k in pairs]
    knots = lm.fit_level_map([p for p, _ in train], [r for _, r in train])
    print("knots (predicted -> real):", [(round(x, 4), round(y, 4)) for x, y in knots])
    print("| recordings | envelope | onset F1 | correlation | E-L1 | p99 level (median) |")
    print("|---|---|---|---|---|---|")
    for name in ("train", "val"):
        items = [pairs[k] for k in sorted(split[name]) if k in pairs]
        for label, f in (("raw", lambda e: e), ("level map", lambda e: lm.apply_level_map(e, knots))):
            scores = [envelope_scores(r, f(e), ENVELOPE_FRAME_RATE) for e, r in items]
            p99 = np.median([np.percentile(f(e), 99) for e, _ in items])
            print(f"| {name} ({len(items)}) | {label} | {np.mean([s['onset_f1'] for s in scores]):.3f} | "
                  f"{np.mean([s['correlation'] for s in scores]):.3f} | {np.mean([s['e_l1'] for s in scores]):.4f} | "
                  f"{p99:.3f} |")
    real_p99 = np.median([np.percentile(r, 99) for _, r in pairs.values()])
    print(f"real audio p99 level (median over {len(pairs)}): {real_p99:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
