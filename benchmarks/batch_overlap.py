"""A batch of short videos, one after the other against overlapped (issue 19).

Runs ``/usr/bin/time -v sonorize run INPUT... --out OUT --no-overlap`` and
``--overlap`` in turns (sequential first, then overlapped, ``--rounds`` times),
each with fresh ``SONORIZE_CACHE_DIR`` and ``SONORIZE_CATALOG_DIR`` (nothing
cached), and prints per run the wall seconds, CPU seconds (user + system, the
process and its ffmpeg children), peak RSS and the 1-minute load average at
the start and end (``os.getloadavg``: on a shared machine wall time follows the
load). Every run's WAVs and envelope CSVs are checked to be the same bytes as
the first run's.

Make test videos outside the repository (``--make-testsrc N`` writes N ten-second
850x480 testsrc2 clips with a sine track, the command of
``benchmarks/profile_stages.py``, into ``--scratch``), e.g.::

    .venv/bin/python benchmarks/batch_overlap.py --make-testsrc 6 --scratch /tmp/ov --rounds 2
    .venv/bin/python benchmarks/batch_overlap.py /tmp/gh15 --scratch /tmp/ov --rounds 2

``--halves`` instead runs the batch once in this process, one video after the
other, and prints each video's CPU seconds (this process and its ffmpeg children)
in its first half (probe, envelope, original audio: what an overlapped batch
runs ahead) and its second (envelope files, synthesis, mux, record): the second
half's share is what can hide behind the next video's analysis on an idle core.

Usage: .venv/bin/python benchmarks/batch_overlap.py [INPUT...] --scratch DIR [--rounds N] [--make-testsrc N] [--halves]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SONORIZE = REPO / ".venv" / "bin" / "sonorize"
TESTSRC_SECONDS = 10  # the "batch of short videos"
TESTSRC_SIZE = "850x480"  # Greatest Hits' frame size


def make_testsrc(folder: Path, n: int) -> Path:
    """``n`` ten-second 850x480 testsrc2 clips with a sine track of its own pitch each."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        out = folder / f"t{i + 1}.mp4"
        if not out.is_file():
            subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                            f"testsrc2=size={TESTSRC_SIZE}:rate=30", "-f", "lavfi", "-i",
                            f"sine=frequency={200 * (i + 1)}", "-t", str(TESTSRC_SECONDS), "-shortest",
                            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac",
                            str(out)], check=True)
    return folder


def _time_field(text: str, name: str) -> str:
    match = re.search(rf"{re.escape(name)}: (.+)", text)
    return match.group(1).strip() if match else ""


def _seconds(clock: str) -> float:
    parts = [float(p) for p in clock.split(":")]
    return sum(p * 60 ** i for i, p in enumerate(reversed(parts)))


def output_sums(out: Path) -> dict[str, str]:
    """SHA-256 of every WAV and envelope CSV below ``out``, by relative path."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.name.endswith((".foley.wav", ".envelope.csv"))}


def run_once(inputs: list[str], scratch: Path, mode: str) -> dict:
    """One ``sonorize run`` with fresh cache and catalog folders; its figures."""
    folder = scratch / "run"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    env = dict(os.environ, SONORIZE_CACHE_DIR=str(folder / "cache"), SONORIZE_CATALOG_DIR=str(folder / "catalog"))
    load_start = os.getloadavg()[0]
    proc = subprocess.run(["/usr/bin/time", "-v", str(SONORIZE), "run", *inputs, "--out", str(folder / "out"),
                           f"--{mode}"], capture_output=True, text=True, env=env)
    load_end = os.getloadavg()[0]
    err = proc.stderr
    return {
        "mode": mode, "rc": proc.returncode,
        "wall_s": _seconds(_time_field(err, "Elapsed (wall clock) time (h:mm:ss or m:ss)")),
        "cpu_s": float(_time_field(err, "User time (seconds)")) + float(_time_field(err, "System time (seconds)")),
        "peak_mb": int(_time_field(err, "Maximum resident set size (kbytes)")) / 1000,
        "load": (load_start, load_end), "sums": output_sums(folder / "out"),
    }


def _cpu_s() -> float:
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def halves(inputs: list[str], scratch: Path) -> None:
    """Each video's CPU and wall seconds in the two halves an overlapped batch runs side by side."""
    import time

    shutil.rmtree(scratch / "halves", ignore_errors=True)
    os.environ.update(SONORIZE_CACHE_DIR=str(scratch / "halves" / "cache"),
                      SONORIZE_CATALOG_DIR=str(scratch / "halves" / "catalog"))
    sys.path.insert(0, str(REPO))
    from flows.inputs import collect_inputs
    from flows.video_options import VideoContext, VideoOptions
    from flows.video_pipeline import analyse_video, finish_video

    options, context = VideoOptions(), VideoContext()
    print("| video | first half: CPU / wall | second half: CPU / wall | second half's share of the CPU |\n"
          "|---|---|---|---|")
    total = [0.0, 0.0]
    for video in collect_inputs(inputs):
        out = scratch / "halves" / "out" / Path(video.path).stem
        cpu, wall = _cpu_s(), time.perf_counter()
        analysed = analyse_video(video.path, out, Path(video.path).stem, options, context=context)
        first = (_cpu_s() - cpu, time.perf_counter() - wall)
        cpu, wall = _cpu_s(), time.perf_counter()
        finish_video(analysed, options, context)
        second = (_cpu_s() - cpu, time.perf_counter() - wall)
        total[0] += first[0]
        total[1] += second[0]
        print(f"| {Path(video.path).name} | {first[0]:.2f} / {first[1]:.2f} s | {second[0]:.2f} / {second[1]:.2f} s | "
              f"{second[0] / (first[0] + second[0]):.0%} |", flush=True)
    print(f"| all | {total[0]:.2f} s | {total[1]:.2f} s | {total[1] / sum(total):.0%} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("inputs", nargs="*", help="video files or folders (one batch)")
    parser.add_argument("--scratch", type=Path, required=True, help="working folder (outputs, caches, test videos)")
    parser.add_argument("--rounds", type=int, default=2, help="sequential + overlapped pairs")
    parser.add_argument("--make-testsrc", type=int, default=0, help="also batch N testsrc2 clips made here")
    parser.add_argument("--halves", action="store_true", help="CPU seconds of each video's two halves, in process")
    args = parser.parse_args()
    inputs = list(args.inputs)
    if args.make_testsrc:
        inputs.append(str(make_testsrc(args.scratch / "testsrc", args.make_testsrc)))
    if not inputs:
        parser.error("give videos or --make-testsrc N")
    if args.halves:
        halves(inputs, args.scratch)
        return 0
    runs = []
    print("| run | wall | CPU (user + sys) | peak RSS | load (1 min) |\n|---|---|---|---|---|")
    for round_ in range(1, args.rounds + 1):
        for mode in ("no-overlap", "overlap"):
            run = run_once(inputs, args.scratch, mode)
            runs.append(run)
            name = "sequential" if mode == "no-overlap" else "overlapped"
            same = "" if run["sums"] == runs[0]["sums"] else " (outputs DIFFER)"
            print(f"| {name} {round_} | {run['wall_s']:.1f} s | {run['cpu_s']:.1f} s | {run['peak_mb']:.0f} MB | "
                  f"{run['load'][0]:.2f}–{run['load'][1]:.2f} |{same}" + (f" rc={run['rc']}" if run["rc"] else ""),
                  flush=True)
    return 0 if all(r["sums"] == runs[0]["sums"] and r["sums"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
