"""Preview path throughput, decode speed against ffmpeg, and peak memory vs video length.

Prints, for synthetic clips of each length (850x480, 25 fps, like Greatest Hits):
- ffmpeg's own decode time (``ffmpeg -i CLIP -f null -``) and our 30 fps windowed decode;
- the preview path (probe, hash, envelope + synthesis + every output file) inside
  the ``sonorize`` flow, in seconds of video per second of wall time, and the whole
  flow call (which adds Prefect's ephemeral start, ~5-20 s once per process);
- the peak resident memory of a fresh process running the preview path, which
  must stay flat as the video gets longer.

Usage: .venv/bin/python benchmarks/preview_throughput.py [--minutes 1 5] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def make_clip(path: Path, seconds: float) -> None:
    if path.exists():
        return
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size=850x480:rate=25:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=220:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
        check=True)


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def child_measure(clip: str, out_dir: str) -> dict:
    """Run in a fresh process: the sonorize flow on one clip, with its timings and peak RSS."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from data_catalog.media import iter_frame_windows, probe_video
    from flows.sonorize_flow import sonorize

    info = probe_video(clip)
    decode_s, n_frames = timed(lambda: sum(len(w) for w in iter_frame_windows(info)))
    flow_s, run = timed(sonorize, paths=[clip], out_dir=out_dir, force=True)
    record = run["videos"][0]
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"duration_s": info.duration_s, "decode_s": decode_s, "decoded_frames": n_frames,
            "path_s": record["wall_s"], "flow_s": flow_s, "timings": record["timings"],
            "peak_rss_mib": peak_kib / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 5.0])
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "sonorize-bench")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_measure(*args.child)))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"cores: {os.cpu_count()}  (clips: 850x480 @ 25 fps, h264; preview envelope + preview synth)")
    header = (f"{'length':>8} {'ffmpeg -f null':>15} {'our decode':>11} {'preview path':>13} "
              f"{'x real time':>12} {'whole flow':>11} {'peak RSS':>9}")
    print(header)
    for minutes in args.minutes:
        clip = args.workdir / f"bench-{minutes:g}min.mp4"
        make_clip(clip, minutes * 60)
        null_s, _ = timed(subprocess.run, ["ffmpeg", "-v", "error", "-i", str(clip), "-f", "null", "-"], check=True)
        proc = subprocess.run([sys.executable, __file__, "--child", str(clip), str(args.workdir / "out")],
                              capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        m = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{minutes:>6g} m {null_s:>13.1f} s {m['decode_s']:>9.1f} s {m['path_s']:>11.1f} s "
              f"{m['duration_s'] / m['path_s']:>11.1f}x {m['flow_s']:>9.1f} s {m['peak_rss_mib']:>6.0f} MiB")
        print("         stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in m["timings"].items()))


if __name__ == "__main__":
    main()
