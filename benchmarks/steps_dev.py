"""Footsteps, hits and ``auto`` on both development sets, against the real audio.

For every clip of ``greatest-hits-dev`` (kind = its action: hit / scratch)
and ``foley-wild-dev`` (kind from labels.csv: hit / scratch / steps) each
envelope engine predicts an envelope from the picture alone; its onsets
(:func:`folai_models.events.detect_onsets`) are scored against two references
from the clip's own audio:

- ``mix``: onsets of the full mix's RMS envelope (what the flow scores);
- ``step``: transients of the percussive band (:mod:`folai_models.steps.reference`,
  HPSS + band-limited spectral flux; music and ambience removed), for steps clips.

Scores per kind: pooled onset P/R/F1 at +-0.1 s and +-0.05 s, the median
absolute timing error of matched onsets, and the mean envelope correlation.
Beside the engines: ``silence`` and the blind periodic baseline ``periodic``
(clicks at k / rate from t = 0, the rate in 1.6-3.0 per second chosen per
clip and reference with hindsight for the best F1 at +-0.1 s), and
``periodic-loo``: the same clicks with one rate chosen without the clip's
audio (the best pooled F1 at +-0.1 s over the other clips of its set, kind
and reference: leave one clip out), which shows how much of ``periodic``
is hindsight. ``auto`` records its choice and reason per clip.
``--per-clip`` adds, for each steps clip, the step rate the ``steps`` engine
placed, the hindsight rate, the median signed timing error (estimate minus
reference) and F1 at +-0.05 s beside ``periodic``'s.

Usage::

    .venv/bin/python benchmarks/steps_dev.py [--sets foley-wild-dev greatest-hits-dev]
        [--engines preview video2rms steps auto] [--kinds steps] [--limit N] [--per-clip] [--json OUT]
    .venv/bin/python benchmarks/steps_dev.py --pose-speed     # the pose pass alone, frames/s
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from data_catalog.media import probe_video  # noqa: E402
from data_catalog.media.audio import extract_audio  # noqa: E402
from folai_models.events import detect_onsets  # noqa: E402
from folai_models.metrics import envelope_correlation, onset_scores  # noqa: E402
from folai_models.steps.reference import step_reference_onsets  # noqa: E402
from tasks.envelope_tasks import predict_envelope_task  # noqa: E402
from tasks.media_tasks import reference_envelope  # noqa: E402

DATA = REPO_ROOT.parent / "shared" / "data"
RATE = 125.0  # envelope frames/s
PERIODIC_RATES = np.round(np.arange(1.6, 3.0001, 0.1), 2)  # the blind click track: 1.6-3.0 per second
CLICK_RMS, CLICK_DECAY_S = 0.065, 0.05  # the periodic baseline's envelope: decaying bursts
WINDOWS = (0.1, 0.05)


def clips(set_name: str) -> list[tuple[Path, str]]:
    root = DATA / set_name
    if not (root / "labels.csv").is_file():
        return []
    with open(root / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if "kind" in rows[0]:
        return [(root / "videos" / r["file"], r["kind"]) for r in rows]
    return [(root / "videos" / f"{r['video']}.mp4", r["action"]) for r in rows]


def click_track(rate: float, duration_s: float) -> np.ndarray:
    """The blind click track: clicks at k / rate from t = 0."""
    return np.arange(0.0, duration_s, 1.0 / rate)


def pooled_f1(scores: list[dict], window: float = WINDOWS[0]) -> float:
    """F1 of matches pooled over clips' :func:`score` results at ``window``."""
    tp = sum(s[f"{window}"]["n_matched"] for s in scores)
    n_ref = sum(s[f"{window}"]["n_reference"] for s in scores)
    n_est = sum(s[f"{window}"]["n_estimate"] for s in scores)
    return 2.0 * tp / (n_ref + n_est) if n_ref + n_est else 0.0


def leave_one_out_rates(by_rate: list[dict]) -> list[float]:
    """For each clip, the click rate with the best pooled F1 at +-0.1 s over the other clips.

    Parameters
    ----------
    by_rate : list of dict
        Per clip, ``{rate: score}`` (:func:`score` of that rate's click track), the same rates for all.

    Returns
    -------
    list of float
        One rate per clip, chosen without that clip (ties: the slower rate).
    """
    rates = sorted(by_rate[0]) if by_rate else []
    return [max(rates, key=lambda rate: (pooled_f1([other[rate] for j, other in enumerate(by_rate) if j != i]),
                                         -rate))
            for i in range(len(by_rate))]


def add_periodic_loo(rows: list[dict]) -> None:
    """``periodic-loo`` per clip and reference: the click rate chosen on the other clips of its set and kind."""
    for set_name, kind in sorted({(r["set"], r["kind"]) for r in rows}):
        for ref in ("mix", "step"):
            sub = [r for r in rows if r["set"] == set_name and r["kind"] == kind and ref in r.get("clicks", {})]
            if len(sub) < 2:
                continue
            for row, rate in zip(sub, leave_one_out_rates([r["clicks"][ref] for r in sub])):
                row["engines"][ref]["periodic-loo"] = row["clicks"][ref][rate]
                row.setdefault("loo_rate", {})[ref] = rate


def clicks_envelope(times: np.ndarray, n: int) -> np.ndarray:
    t = (np.arange(n) + 0.5) / RATE
    env = np.zeros(n)
    for t0 in times:
        env = np.maximum(env, np.where(t >= t0, CLICK_RMS * np.exp(-np.maximum(t - t0, 0.0) / CLICK_DECAY_S), 0.0))
    return env


def score(reference_onsets, estimate_onsets, reference_env, estimate_env) -> dict:
    out = {}
    for w in WINDOWS:
        s = onset_scores(reference_onsets, estimate_onsets, window_s=w)
        out[f"{w}"] = {k: s[k] for k in ("n_reference", "n_estimate", "n_matched", "median_abs_error_s",
                                          "median_error_s")}
    out["correlation"] = envelope_correlation(reference_env, estimate_env) if np.std(estimate_env) > 0 else float("nan")
    return out


def run_clip(path: Path, kind: str, engines: list[str]) -> dict:
    info = probe_video(path)
    row = {"clip": path.name, "kind": kind, "duration_s": info.duration_s, "engines": {}, "choice": None,
           "seconds": {}}
    estimates = {}
    for engine in engines:
        if engine == "steps" and kind != "steps" and path.parent.parent.name == "greatest-hits-dev":
            continue  # full pose over 20 min of drumstick footage: not a steps engine's job (auto decides)
        start = time.perf_counter()
        env, _, details = predict_envelope_task.fn(info, engine)
        row["seconds"][engine] = round(time.perf_counter() - start, 2)
        if engine == "auto":
            row["choice"] = {"engine": details.get("chosen"), "reason": details.get("reason"),
                             "evidence": details.get("evidence"), "steps": details.get("steps")}
        if engine == "steps":
            row["steps"] = details
        estimates[engine] = env
    n = len(next(iter(estimates.values())))
    ref_env, covered = reference_envelope(str(path), n)
    n = min(n, int(covered * RATE))
    ref_env = ref_env[:n]
    references = {"mix": detect_onsets(ref_env, RATE)}
    if kind == "steps":
        audio = extract_audio(str(path), sample_rate=16000)[0]
        references["step"] = step_reference_onsets(audio, 16000)
    row["references"] = {name: len(onsets) for name, onsets in references.items()}
    for ref_name, ref_onsets in references.items():
        ref_onsets = ref_onsets[ref_onsets < n / RATE]
        scores = {}
        for engine, env in estimates.items():
            scores[engine] = score(ref_onsets, detect_onsets(env[:n], RATE), ref_env, env[:n])
        by_rate = {}
        for rate in PERIODIC_RATES:
            clicks = click_track(float(rate), n / RATE)
            by_rate[float(rate)] = score(ref_onsets, clicks, ref_env, clicks_envelope(clicks, n))
        # hindsight: this clip's best rate at +-0.1 s (the first of equals, as max() over the rates)
        best = max(by_rate, key=lambda rate: pooled_f1([by_rate[rate]]))
        scores["periodic"] = by_rate[best]
        scores["silence"] = score(ref_onsets, np.zeros(0), ref_env, np.zeros(n))
        row["engines"][ref_name] = scores
        row.setdefault("clicks", {})[ref_name] = by_rate
        row.setdefault("hindsight_rate", {})[ref_name] = best
    if "steps" in estimates:
        row["steps_rate"] = len(detect_onsets(estimates["steps"][:n], RATE)) / (n / RATE)
    return row


def pooled(rows: list[dict], ref: str, method: str) -> dict | None:
    got = [r["engines"][ref][method] for r in rows if ref in r["engines"] and method in r["engines"][ref]]
    if not got:
        return None
    out = {"n_clips": len(got)}
    for w in WINDOWS:
        tp = sum(g[f"{w}"]["n_matched"] for g in got)
        n_ref = sum(g[f"{w}"]["n_reference"] for g in got)
        n_est = sum(g[f"{w}"]["n_estimate"] for g in got)
        p, r = (tp / n_est if n_est else 0.0), (tp / n_ref if n_ref else 0.0)
        out[f"{w}"] = {"P": p, "R": r, "F1": 2 * p * r / (p + r) if p + r else 0.0}
    errors = [g["0.1"]["median_abs_error_s"] for g in got if np.isfinite(g["0.1"]["median_abs_error_s"])]
    out["median_abs_error_s"] = float(np.median(errors)) if errors else float("nan")
    corr = [g["correlation"] for g in got if np.isfinite(g["correlation"])]
    out["correlation"] = float(np.mean(corr)) if corr else float("nan")
    return out


def report(rows: list[dict], methods: list[str]) -> list[str]:
    lines = ["| set | kind | reference | method | clips | P@0.1 | R@0.1 | F1@0.1 | F1@0.05 | median |err| s | correlation |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    groups = sorted({(r["set"], r["kind"]) for r in rows})
    for set_name, kind in groups:
        sub = [r for r in rows if r["set"] == set_name and r["kind"] == kind]
        for ref in ("mix", "step"):
            for method in methods:
                s = pooled(sub, ref, method)
                if s is None:
                    continue
                lines.append(f"| {set_name} | {kind} | {ref} | {method} | {s['n_clips']} | {s['0.1']['P']:.3f} | "
                             f"{s['0.1']['R']:.3f} | {s['0.1']['F1']:.3f} | {s['0.05']['F1']:.3f} | "
                             f"{s['median_abs_error_s']:.3f} | {s['correlation']:.3f} |")
    return lines


def per_clip(rows: list[dict]) -> list[str]:
    """Per steps clip: the ``steps`` engine's step rate, the hindsight rate, its signed timing error and F1."""
    lines = ["| clip | steps/s placed | hindsight rate mix / step | median signed error (s) mix / step | "
             "F1@0.05 steps mix / step | F1@0.05 periodic mix / step |", "|---|---|---|---|---|---|"]
    for row in rows:
        if row["kind"] != "steps" or "steps" not in row["engines"]["mix"]:
            continue
        refs = [ref for ref in ("mix", "step") if ref in row["engines"]]
        cells = []
        for got in (lambda ref: f"{row['hindsight_rate'][ref]:.1f}",
                    lambda ref: f"{row['engines'][ref]['steps']['0.1']['median_error_s']:+.3f}",
                    lambda ref: f"{pooled_f1([row['engines'][ref]['steps']], 0.05):.2f}",
                    lambda ref: f"{pooled_f1([row['engines'][ref]['periodic']], 0.05):.2f}"):
            cells.append(" / ".join(got(ref) for ref in refs))
        lines.append(f"| {row['clip']} | {row['steps_rate']:.2f} | " + " | ".join(cells) + " |")
    return lines


def pose_speed(set_name: str) -> None:
    """Frames per second of the pose pass alone (BlazePose tracking, analysis size) over a set's steps clips."""
    import os

    from folai_models.steps.pose import PoseTracker
    from tasks.engines.video_cues import analysis_frames

    frames = [np.concatenate(list(analysis_frames(probe_video(path)))) for path, kind in clips(set_name)
              if kind == "steps"]
    n = sum(len(f) for f in frames)
    wall, cpu = time.perf_counter(), time.process_time()
    for video in frames:
        with PoseTracker() as tracker:
            tracker.update(video)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"pose pass: {n} frames ({n / 30:.1f} s of video at 30 fps) in {wall:.1f} s wall, {cpu:.1f} s CPU: "
          f"{n / wall:.1f} frames/s wall ({n / wall / 30:.2f}x real time), {n / cpu:.1f} frames per CPU second; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["foley-wild-dev", "greatest-hits-dev"])
    parser.add_argument("--engines", nargs="+", default=["preview", "video2rms", "steps", "auto"])
    parser.add_argument("--kinds", nargs="+", default=None, help="only clips of these kinds (hit, scratch, steps)")
    parser.add_argument("--limit", type=int, default=None, help="first N clips of each set")
    parser.add_argument("--per-clip", action="store_true", help="per steps clip: step rate, hindsight rate, timing")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--pose-speed", action="store_true", help="only time the pose pass on the steps clips")
    args = parser.parse_args(argv)
    if args.pose_speed:
        pose_speed("foley-wild-dev")
        return 0
    rows = []
    for set_name in args.sets:
        found = [(path, kind) for path, kind in clips(set_name) if args.kinds is None or kind in args.kinds]
        found = found[: args.limit]
        if not found:
            which = f" of kind {', '.join(args.kinds)}" if args.kinds else ""
            print(f"no clips{which} for {set_name} under {DATA}; skipped")
        for path, kind in found:
            row = run_clip(path, kind, args.engines)
            row["set"] = set_name
            rows.append(row)
            choice = row["choice"] or {}
            f1 = {m: row["engines"]["mix"][m]["0.1"]["n_matched"] for m in row["engines"]["mix"]}
            print(f"{set_name}/{path.name} [{kind}] auto -> {choice.get('engine')}: {choice.get('reason')} | "
                  f"matched@0.1 {f1} | s {row['seconds']}", flush=True)
    add_periodic_loo(rows)
    for row in rows:
        row.pop("clicks", None)  # every rate's scores: only needed for periodic-loo
    methods = [*args.engines, "periodic", "periodic-loo", "silence"]
    lines = report(rows, methods)
    if args.per_clip:
        lines += ["", *per_clip(rows)]
    print("\n".join(lines))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "table": lines}, indent=1, default=float))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
