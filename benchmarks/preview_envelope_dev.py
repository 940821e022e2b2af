"""Score the weight-free preview envelope on the Greatest Hits development recordings.

For each recording: decode grey frames at 30 fps (data_catalog.media), estimate
the preview envelope (folai_models.preview_envelope), compute the ground-truth
RMS envelope of the real audio (16 kHz mono, no smoothing, SPEC item 14) and
score the preview, a periodic chance baseline (a hit every 0.25 s) and the
silence baseline (all zeros): E-L1, envelope
correlation, onset precision / recall / F1 (+-0.1 s) and median timing error.

Usage::

    .venv/bin/python benchmarks/preview_envelope_dev.py [--data DIR] [--limit N] [--json OUT]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from data_catalog.media import iter_frame_windows, probe_video  # noqa: E402
from folai_models.envelope import n_envelope_frames_for_seconds  # noqa: E402
from folai_models.metrics import envelope_scores  # noqa: E402
from folai_models.preview_envelope import MotionFeatureExtractor, envelope_from_motion  # noqa: E402
from folai_models.rates import ENVELOPE_FRAME_RATE, VIDEO_FRAME_RATE  # noqa: E402
from tasks.media_tasks import reference_envelope  # noqa: E402  (the same reference the flow scores against)

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "greatest-hits-dev"
SHORT_AUDIO_S = 0.25  # audio shorter than the video by more than this is reported as ending early (containers differ by ~0.1 s)
METHODS = ("preview", "periodic", "silence")
PERIODIC_HZ = 4.0  # a chance baseline: one hit every 0.25 s, about the dev set's onset rate
PERIODIC_PEAK_RMS = 0.065  # median hit peak of the dev audio
PERIODIC_DECAY_S = 0.05
COLUMNS = ("e_l1", "correlation", "onset_precision", "onset_recall", "onset_f1", "onset_median_error_s")


def periodic_envelope(n_frames: int) -> np.ndarray:
    """Decaying bursts at PERIODIC_HZ: what blind, evenly spaced guessing scores."""
    t = (np.arange(n_frames) + 0.5) / ENVELOPE_FRAME_RATE
    phase = np.mod(t, 1.0 / PERIODIC_HZ)
    return (PERIODIC_PEAK_RMS * np.exp(-phase / PERIODIC_DECAY_S)).astype(np.float32)


def score_recording(path: Path) -> dict:
    info = probe_video(path)
    t0 = time.perf_counter()
    extractor = MotionFeatureExtractor()
    n_frames = 0
    decode_s = 0.0
    t_dec = time.perf_counter()
    for window in iter_frame_windows(info, frame_rate=VIDEO_FRAME_RATE):
        decode_s += time.perf_counter() - t_dec
        extractor.update(window)
        n_frames += len(window)
        t_dec = time.perf_counter()
    features_s = time.perf_counter() - t0 - decode_s
    n_out = n_envelope_frames_for_seconds(info.duration_s)
    preview = envelope_from_motion(extractor.features(), frame_rate=VIDEO_FRAME_RATE, n_frames_out=n_out)
    envelope_s = time.perf_counter() - t0 - decode_s - features_s

    reference, audio_s = reference_envelope(str(path), len(preview))
    n = min(len(preview), int(audio_s * ENVELOPE_FRAME_RATE))  # compare on the overlap when the audio ends early
    note = ""
    if info.duration_s - audio_s > SHORT_AUDIO_S:
        note = f"audio ends early: {audio_s:.2f} s of {info.duration_s:.2f} s; scored on the overlap"
    row = {
        "video": path.stem,
        "duration_s": info.duration_s,
        "n_frames": n_frames,
        "scored_s": n / ENVELOPE_FRAME_RATE,
        "decode_s": decode_s,
        "features_s": features_s,
        "envelope_s": envelope_s,
        "note": note,
    }
    for method, estimate in (("preview", preview[:n]), ("periodic", periodic_envelope(n)),
                             ("silence", np.zeros(n, dtype=np.float32))):
        row[method] = envelope_scores(reference[:n], estimate, ENVELOPE_FRAME_RATE)
    return row


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "   nan"
    return f"{value:6.3f}"


def summarize(rows: list[dict]) -> dict:
    """Mean over recordings and pooled onset P/R/F1 from summed matches."""
    summary = {}
    for method in METHODS:
        mean = {}
        for c in COLUMNS:
            values = np.array([r[method][c] for r in rows], dtype=np.float64)
            # nan where undefined (the silence baseline's correlation, no matched onsets)
            mean[c] = float(np.mean(values[np.isfinite(values)])) if np.isfinite(values).any() else float("nan")
        n_ref = sum(r[method]["n_reference_onsets"] for r in rows)
        n_est = sum(r[method]["n_estimate_onsets"] for r in rows)
        # recall * n_reference is the number of one-to-one matches
        tp = sum(round(r[method]["onset_recall"] * r[method]["n_reference_onsets"]) for r in rows)
        p = tp / n_est if n_est else 0.0
        rec = tp / n_ref if n_ref else 0.0
        pooled = {
            "onset_precision": p,
            "onset_recall": rec,
            "onset_f1": 2 * p * rec / (p + rec) if p + rec else 0.0,
            "n_reference_onsets": n_ref,
            "n_estimate_onsets": n_est,
            "n_matched": tp,
        }
        summary[method] = {"mean": mean, "pooled": pooled}
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="greatest-hits-dev folder (with videos/)")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N recordings")
    parser.add_argument("--json", type=Path, default=None, help="write per-recording and summary scores here")
    args = parser.parse_args(argv)

    video_dir = args.data / "videos"
    videos = sorted(video_dir.glob("*.mp4")) if video_dir.is_dir() else []
    if not videos:
        print(f"No development data at {args.data} (expected {video_dir}/*.mp4); nothing to score.")
        return 0
    if args.limit is not None:
        videos = videos[: max(0, args.limit)]
    labels = {}
    if (args.data / "labels.csv").is_file():
        with open(args.data / "labels.csv", newline="") as fh:
            labels = {r["video"]: f"{r['material']}/{r['action']}" for r in csv.DictReader(fh)}

    header = f"{'recording':28s} {'label':14s} {'method':8s} " + " ".join(
        f"{h:>6s}" for h in ("E-L1", "corr", "P", "R", "F1", "t_err")
    )
    print(header)
    print("-" * len(header))
    rows = []
    start = time.perf_counter()
    for path in videos:
        row = score_recording(path)
        rows.append(row)
        for method in METHODS:
            s = row[method]
            name = row["video"] if method == "preview" else ""
            label = labels.get(row["video"], "") if method == "preview" else ""
            print(f"{name[:28]:28s} {label[:14]:14s} {method:8s} " + " ".join(_fmt(s[c]) for c in COLUMNS))
        if row["note"]:
            print(f"{'':28s} note: {row['note']}")
        sys.stdout.flush()
    elapsed = time.perf_counter() - start

    summary = summarize(rows)
    print("-" * len(header))
    for method in METHODS:
        m = summary[method]["mean"]
        print(f"{'MEAN over ' + str(len(rows)) + ' recordings':43s} {method:8s} " + " ".join(_fmt(m[c]) for c in COLUMNS))
    for method in METHODS:
        p = summary[method]["pooled"]
        print(
            f"POOLED onsets {method:8s}: P {p['onset_precision']:.3f} R {p['onset_recall']:.3f} "
            f"F1 {p['onset_f1']:.3f} ({p['n_matched']} matched of {p['n_reference_onsets']} reference, "
            f"{p['n_estimate_onsets']} estimated)"
        )
    n_frames = sum(r["n_frames"] for r in rows)
    feat_s = sum(r["features_s"] for r in rows)
    dec_s = sum(r["decode_s"] for r in rows)
    env_s = sum(r["envelope_s"] for r in rows)
    video_s = sum(r["duration_s"] for r in rows)
    print(
        f"elapsed {elapsed:.1f} s for {video_s:.0f} s of video ({n_frames} frames at 30 fps): "
        f"decode {dec_s:.1f} s, motion features {feat_s:.1f} s ({n_frames / max(feat_s, 1e-9):.0f} frames/s), "
        f"envelope {env_s:.2f} s; end to end {n_frames / elapsed:.0f} frames/s incl. audio and scoring"
    )
    print("t_err: median signed onset timing error in s (positive = late).")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"recordings": rows, "summary": summary, "elapsed_s": elapsed}, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
