"""Hostile inputs: ~160 broken, odd and hostile media files in one batch and 60+ malformed envelopes.

Builds the seeded corpus of ``tests/fuzz_corpus.py``, runs ``sonorize run`` on
the whole media folder in a fresh process (with a time limit: a run past it
counts as a hang), then runs the command line again with a file of the same
relative name from another folder into the same ``--out``, and feeds every
envelope file to ``sonorize labels`` and ``sonorize synth``. Prints counts:
clear errors, internal errors, tracebacks on stderr, hangs, partial or leftover
files, outputs overwritten or outside ``--out``.

    python benchmarks/fuzz_inputs.py [--seed 0] [--workdir DIR] [--timeout-s 3600]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from fuzz_corpus import audit_run, make_envelope_corpus, make_media_corpus  # noqa: E402

CLI = [sys.executable, "-c", "import sys; sys.argv[0] = 'sonorize'; from flows.cli import app; app()"]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "COLUMNS": "200"}


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*")
            if p.is_file() and not p.name.startswith("sonorize-run-")}


def run_batch(paths: list[Path], out: Path, timeout_s: float) -> dict:
    """``sonorize run`` in a fresh process: its run record, stderr's tracebacks, whether it hung."""
    started = time.perf_counter()
    try:
        proc = subprocess.run([*CLI, "run", *map(str, paths), "--out", str(out), "--envelope-engine", "preview"],
                              capture_output=True, text=True, timeout=timeout_s, env=ENV)
    except subprocess.TimeoutExpired as exc:
        return {"hung": True, "wall_s": time.perf_counter() - started, "stderr": exc.stderr or "", "run": None}
    records = sorted(out.glob("sonorize-run-*.json"), key=lambda p: p.stat().st_mtime)
    return {"hung": False, "wall_s": time.perf_counter() - started, "exit": proc.returncode,
            "tracebacks": proc.stderr.count("Traceback (most recent call last)"),
            "run": json.loads(records[-1].read_text()) if records else None}


def envelope_checks(folder: Path, seed: int, count: int) -> dict:
    """Every envelope file through ``labels`` and ``synth``: exit codes, uncaught exceptions, message size."""
    from typer.testing import CliRunner

    from data_catalog.hashing import sha256_file
    from flows.cli import app
    from media_factory import pattern_clip

    video = pattern_clip(folder / "target.mp4", seconds=2.0, size="64x48")
    kinds = make_envelope_corpus(folder / "envelopes", n_frames=250, video_sha256=sha256_file(video),
                                 seed=seed, count=count)
    runner, counts = CliRunner(), {"files": len(kinds), "clear errors": 0, "accepted (valid)": 0,
                                   "accepted (should fail)": [], "uncaught exceptions": [], "unclear errors": []}
    for name, kind in sorted(kinds.items()):
        path = folder / "envelopes" / name
        for command in (["labels", str(path), "--out", str(folder / "labels.txt")],
                        ["synth", str(video), "--envelope", str(path), "--out", str(folder / "synth")]):
            started = time.perf_counter()
            result = runner.invoke(app, command)
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                counts["uncaught exceptions"].append(f"{command[0]} {name} ({kind}): {result.exception!r}"[:300])
                continue
            errors = [line for line in result.output.splitlines() if line.startswith("error:")]
            if result.exit_code == 0:
                valid = name.startswith("valid-") or (command[0] == "labels" and kind == "sidecar of another video")
                if valid:
                    counts["accepted (valid)"] += 1
                else:
                    counts["accepted (should fail)"].append(f"{command[0]} {name} ({kind})")
            elif len(errors) == 1 and name.removesuffix(".csv") in errors[0] and len(errors[0]) < 400 + len(str(path)):
                counts["clear errors"] += 1
            else:
                counts["unclear errors"].append(f"{command[0]} {name} ({kind}): {result.output[:200]!r}")
            if time.perf_counter() - started > 60:
                counts.setdefault("slow (> 60 s)", []).append(f"{command[0]} {name}")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the corpus and outputs here")
    parser.add_argument("--timeout-s", type=float, default=3600.0, help="a batch past this counts as a hang")
    parser.add_argument("--envelopes", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sonorize-fuzz-") as tmp:
        work = args.workdir or Path(tmp)
        corpus = make_media_corpus(work / "media", seed=args.seed)
        print(f"media corpus: {len(corpus.kinds)} files ({len(corpus.valid)} must succeed), "
              f"{len(set(corpus.kinds.values()))} kinds", flush=True)
        out = work / "out"
        batch = run_batch([corpus.root], out, args.timeout_s)
        summary: dict = {"hangs": int(batch["hung"]), "batch wall s": round(batch["wall_s"])}
        if batch["run"] is not None:
            audit = audit_run(batch["run"], out)
            by_name = {str(Path(v["video_path"]).relative_to(corpus.root)): v for v in batch["run"]["videos"]}
            summary.update({"videos": len(by_name), "ok": audit.ok, "clear errors": audit.clear_errors,
                            "exit code": batch["exit"], "tracebacks on stderr": batch["tracebacks"],
                            "valid inputs that failed": [f"{n}: {by_name.get(n, {}).get('error', 'not processed')}"
                                                         for n in sorted(corpus.valid)
                                                         if by_name.get(n, {}).get("status") != "ok"],
                            "hidden files skipped": sorted(set(corpus.kinds) - set(by_name)),
                            **audit.problems()})
            # a later run: the same relative name from another root, into the same --out
            before = _snapshot(out)
            other = work / "later" / "sub1" / "x.mp4"
            other.parent.mkdir(parents=True, exist_ok=True)
            other.write_bytes((corpus.root / "sub1" / "x.mp4").read_bytes() + b"later")
            hidden = [corpus.root / n for n, kind in corpus.kinds.items() if kind == "hidden name"]
            later = run_batch([work / "later", *hidden], out, args.timeout_s)  # "...mp4" given by name
            after = _snapshot(out)
            summary["outputs overwritten by a later run"] = sorted(k for k in before if after.get(k) != before[k])
            summary["hangs"] += int(later["hung"])
            if later["run"] is not None:
                summary["later run"] = {"videos": len(later["run"]["videos"]),
                                        "tracebacks on stderr": later["tracebacks"],
                                        **audit_run(later["run"], out).problems(),
                                        "statuses": sorted(v["status"] for v in later["run"]["videos"])}
        summary["envelope files"] = envelope_checks(work, args.seed, args.envelopes)
        print(json.dumps(summary, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
