"""Latency of the interactive single-file commands: ``sonorize envelope`` and ``sonorize synth``.

Makes a 10 s test clip (tests/media_factory.py), then times each command as a
subprocess (a fresh interpreter: imports included, as a user sees it), median
of ``--repeats`` runs, and prints the figures. ``synth`` re-renders from the
envelope ``envelope`` wrote. Then the edit -> listen loop as a sound designer
runs it: ``sonorize synth --watch`` is started once, the envelope is saved
``--repeats`` times (an edit each time), and the time from each save to the
new WAV on disk is measured. Target: <= 2 s on 2 cores. Besides wall time it prints the commands' CPU time (user + system),
which a busy shared machine inflates far less. ``--compare-repo`` also times
another checkout (e.g. the main branch, with its own ``.venv``), runs
interleaved, for a before/after under the same load.

Usage: .venv/bin/python benchmarks/interactive_latency.py [--repeats 3] [--seconds 10] [--workdir DIR]
       [--compare-repo /path/to/other/checkout]
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from media_factory import pattern_clip  # noqa: E402


def timed(command: list[str], repo: Path) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of ``command`` in ``repo``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, cwd=repo)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def python_of(repo: Path) -> str:
    venv = repo / ".venv" / "bin" / "python"
    return str(venv) if repo != REPO and venv.exists() else sys.executable


def watch_loop(synth: list[str], out: Path, saves: int) -> list[float]:
    """Seconds from each save of the envelope to the new WAV, with ``synth --watch`` running."""
    csv_path, wav = out / "clip.envelope.csv", out / "clip.foley.wav"
    original = csv_path.read_text().splitlines()
    proc = subprocess.Popen([*synth, "--watch"], stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        while "watching" not in (line := proc.stderr.readline()):
            if not line and proc.poll() is not None:
                raise SystemExit(f"synth --watch exited ({proc.returncode})")
        results = []
        for k in range(saves):
            scale = 0.5 + 0.25 * k  # a different edit each time: the whole envelope louder or softer
            lines = [original[0]] + [f"{t},{float(v) * scale:.6f}" for t, v in (x.split(",") for x in original[1:])]
            before = wav.stat().st_mtime_ns
            start = time.perf_counter()
            csv_path.write_text("\n".join(lines) + "\n")
            while "rendered" not in (line := proc.stderr.readline()):  # an error line (a save read half
                if not line and proc.poll() is not None:  # written) is followed by the render of the whole one
                    raise SystemExit(f"synth --watch exited ({proc.returncode})")
            assert wav.stat().st_mtime_ns != before
            results.append(time.perf_counter() - start)
        return results
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        csv_path.write_text("\n".join(original) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--compare-repo", type=Path, default=None, help="another checkout to time too")
    args = parser.parse_args()
    repos = {"this": REPO, **({"compare": args.compare_repo.resolve()} if args.compare_repo else {})}
    with tempfile.TemporaryDirectory(prefix="sonorize-latency-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        clip = pattern_clip(work / "clip.mp4", seconds=args.seconds, size="320x240", audio=True)

        def commands(repo: Path) -> dict[str, list[str]]:
            out = work / repo.name
            sonorize = [python_of(repo), "-m", "flows.cli"]
            return {
                "envelope": [*sonorize, "envelope", str(clip), "--out", str(out), "--envelope-engine", "preview"],
                "synth": [*sonorize, "synth", str(clip), "--envelope", str(out / "clip.envelope.csv"),
                          "--out", str(out), "--prompt", "footsteps on gravel"],
            }

        for repo in repos.values():
            timed([python_of(repo), "-c", "import flows.cli"], repo)  # warm the file cache, not measured
        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(args.repeats):  # interleaved: each checkout sees the same load
            for label, repo in repos.items():
                for name, command in commands(repo).items():
                    times.setdefault((label, name), []).append(timed(command, repo))
        print(f"{os.cpu_count()} cores; {args.seconds:.0f} s clip; median of {args.repeats}")
        for (label, name), runs in times.items():
            walls, cpus = [w for w, _ in runs], [c for _, c in runs]
            print(f"{label:<8} sonorize {name:<9} wall {statistics.median(walls):5.2f} s  "
                  f"cpu {statistics.median(cpus):5.2f} s  (wall runs: {', '.join(f'{w:.2f}' for w in walls)})")
        saves = watch_loop(commands(REPO)["synth"], work / REPO.name, args.repeats)
        print(f"{'this':<8} edit -> listen (synth --watch): save to new WAV {statistics.median(saves):5.2f} s  "
              f"(runs: {', '.join(f'{w:.2f}' for w in saves)})")


if __name__ == "__main__":
    main()
