"""Peak memory and time of ``sonorize run`` by video length (does memory stay flat?).

Makes a moving test pattern of each length at 16x16 pixels (decoding costs
little, so the pipeline's own memory shows), runs the command line on it in a
fresh process and reads that process's peak resident set size from
``wait4`` (the largest of it and the children it waited for: ffmpeg, Prefect's
temporary API server).

    python benchmarks/memory_by_length.py --minutes 5 20 60 --envelope-engine preview

``--loop VIDEO`` loops a real recording to each length instead (at 160x120), so that ``auto``
chooses as it does on that footage (Video2RMS on a still-camera Greatest Hits recording):

    python benchmarks/memory_by_length.py --minutes 10 60 --envelope-engine auto \
        --loop /work/shared/data/greatest-hits-dev/videos/2015-02-22-14-21-41_mic.mp4

Each run gets fresh cache and catalog folders (a cached feature file would skip the features).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FRAME_SIZE = "16x16"  # the smallest frame sonorize accepts (data_catalog.media.probe.MIN_FRAME_SIDE)
LOOP_SIZE = "160:120"  # a looped recording's frame size: small to decode, large enough for the motion analysis


def make_video(path: Path, minutes: float, loop: Path | None = None) -> Path:
    if loop is not None:
        subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(loop),
                        "-vf", f"scale={LOOP_SIZE}", "-t", f"{minutes * 60:g}", "-c:v", "libx264", "-preset",
                        "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)], check=True)
        return path
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size={FRAME_SIZE}:rate=30:duration={minutes * 60:g}", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def measure(video: Path, out: Path, envelope_engine: str) -> dict:
    """Wall time, exit code and peak RSS (MB) of one ``sonorize run``."""
    argv = [sys.executable, "-c", "import sys; sys.argv[0] = 'sonorize'; from flows.cli import app; app()",
            "run", str(video), "--out", str(out), "--envelope-engine", envelope_engine, "--force"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "SONORIZE_CACHE_DIR": str(out / "cache"), "SONORIZE_CATALOG_DIR": str(out / "catalog")}
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"wall_s": time.perf_counter() - started, "exit": proc.returncode,
            "peak_rss_mb": usage.ru_maxrss / 1024}  # Linux reports kilobytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[5, 20, 60])
    parser.add_argument("--envelope-engine", default="preview")
    parser.add_argument("--loop", type=Path, help="a recording to loop to each length instead of the test pattern")
    args = parser.parse_args()
    print(f"| minutes | envelope engine | wall s | peak RSS MB | exit |\n|---|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory(prefix="sonorize-memory-") as tmp:
        for minutes in args.minutes:
            video = make_video(Path(tmp) / f"pattern-{minutes:g}min.mp4", minutes, args.loop)
            row = measure(video, Path(tmp) / f"out-{minutes:g}", args.envelope_engine)
            print(f"| {minutes:g} | {args.envelope_engine} | {row['wall_s']:.0f} | {row['peak_rss_mb']:.0f} "
                  f"| {row['exit']} |", flush=True)
            video.unlink()
            shutil.rmtree(Path(tmp) / f"out-{minutes:g}")  # an hour's WAV is ~1 GB


if __name__ == "__main__":
    main()
