"""The default envelope engine (``auto``) on both development sets: accuracy and speed.

For each recording of ``greatest-hits-dev`` and ``foley-wild-dev``: the
envelope ``sonorize run`` would write (engine ``auto``: the shipped Video2RMS
checkpoint on motion features), scored against the recording's own audio
(onset P/R/F1 at +-0.1 s, envelope correlation, E-L1; on the overlap when the
audio ends early), and the seconds it took. Prints per-set means (F1 also
pooled over all onsets) and the envelope's multiple of real time. Optionally
saves each envelope (``--save DIR``) so two versions of the code can be
compared frame by frame (``--compare DIR``: the largest absolute difference).
The shipped checkpoint runs on onnxruntime from its ONNX export; for the PyTorch
path point ``SONORIZE_VIDEO2RMS_CHECKPOINT`` at a copy of the checkpoint without
its ``.onnx`` files.

Usage: .venv/bin/python benchmarks/default_envelope_dev.py [--data DIR] [--limit N] [--save DIR]
       [--compare DIR] [--json OUT] [--held-out] [--per-clip]

The motion features are made with the optical flow the checkpoint names (its
``feature_revision``, e.g. DIS ``ultrafast``); to score another flow, train a checkpoint on it
(``benchmarks/video2rms_dev.py --flow-preset``) and point ``SONORIZE_VIDEO2RMS_CHECKPOINT`` at it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from folai_models.rates import ENVELOPE_FRAME_RATE  # noqa: E402

DATA = REPO.parent / "shared" / "data"
SETS = ("greatest-hits-dev", "foley-wild-dev")


def held_out_items() -> list[str] | None:
    """The Greatest Hits recordings the default checkpoint was not trained on (its ``val_items``)."""
    from data_catalog.checkpoints import load_checkpoint_meta
    from tasks.engines.video2rms import default_video2rms_checkpoint

    checkpoint = default_video2rms_checkpoint()
    return load_checkpoint_meta(checkpoint)["extra"].get("val_items") if checkpoint else None


def score_set(folder: Path, limit: int | None, save: Path | None, compare: Path | None,
              only: list[str] | None = None, per_clip: bool = False) -> dict:
    from data_catalog.media import probe_video
    from folai_models.metrics import envelope_scores
    from tasks.envelope_tasks import predict_envelope_task
    from tasks.media_tasks import reference_envelope

    videos = [v for v in sorted((folder / "videos").glob("*.mp4")) if only is None or v.stem in only][:limit]
    rows, seconds, length, max_diff = [], 0.0, 0.0, 0.0
    for video in videos:
        info = probe_video(video)
        start = time.perf_counter()
        envelope, _, details = predict_envelope_task.fn(info, "auto")
        seconds += time.perf_counter() - start
        length += info.duration_s
        if save:
            save.mkdir(parents=True, exist_ok=True)
            np.save(save / f"{video.stem}.npy", envelope)
        if compare and (compare / f"{video.stem}.npy").is_file():
            max_diff = max(max_diff, float(np.abs(np.load(compare / f"{video.stem}.npy") - envelope).max()))
        reference, covered = reference_envelope(str(video), len(envelope))
        n = min(len(envelope), int(covered * ENVELOPE_FRAME_RATE))
        rows.append(envelope_scores(reference[:n], envelope[:n], ENVELOPE_FRAME_RATE))
        if per_clip:  # which engine auto chose matters: only some clips reach the learned model
            print(f"  {video.stem[:32]:32s} {str(details.get('chosen', '?')):10s} onset F1 {rows[-1]['onset_f1']:.3f}  "
                  f"correlation {rows[-1]['correlation']:.3f}", flush=True)
    matched = sum(round(r["onset_recall"] * r["n_reference_onsets"]) for r in rows)
    n_ref, n_est = sum(r["n_reference_onsets"] for r in rows), sum(r["n_estimate_onsets"] for r in rows)
    p, r = matched / max(n_est, 1), matched / max(n_ref, 1)
    summary = {key: float(np.nanmean([row[key] for row in rows])) for key in ("onset_f1", "correlation", "e_l1")}
    summary.update(pooled_onset_f1=2 * p * r / (p + r) if p + r else 0.0, n_videos=len(rows),
                   seconds=round(seconds, 2), x_real_time=round(length / seconds, 2) if seconds else None)
    if compare:
        summary["max_abs_diff_vs_compare"] = max_diff
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding the development sets")
    parser.add_argument("--limit", type=int, help="only the first N recordings of each set")
    parser.add_argument("--save", type=Path, help="save each envelope as DIR/<set>/<stem>.npy")
    parser.add_argument("--compare", type=Path, help="compare with envelopes saved by --save")
    parser.add_argument("--json", type=Path, help="write the summary here")
    parser.add_argument("--per-clip", action="store_true", help="print each recording's scores and engine")
    parser.add_argument("--held-out", action="store_true",
                        help="Greatest Hits: only the recordings the default checkpoint was not trained on")
    args = parser.parse_args(argv)
    results = {}
    for name in SETS:
        folder = args.data / name
        if not (folder / "videos").is_dir():
            print(f"{name}: not found under {args.data}; skipped")
            continue
        only = held_out_items() if args.held_out and name == "greatest-hits-dev" else None
        results[name] = score_set(folder, args.limit, args.save / name if args.save else None,
                                  args.compare / name if args.compare else None, only, args.per_clip)
        print(name, json.dumps({k: round(v, 4) if isinstance(v, float) else v
                                for k, v in results[name].items()}), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
