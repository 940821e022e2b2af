"""Bucket throughput: drop N small videos into an input prefix, time them through watcher + batch.

Starts, on loopback, a real Prefect server, moto's S3 server and a process worker, deploys the
repo's prefect.yaml (`sonorize/batch`, `watch-bucket/watcher`), uploads N clips to
``s3://bench/incoming/``, starts one watcher run and waits until every object has its done
record. Prints:

- videos per minute, from the watcher request to the last done record;
- the work itself: the sum of each video's pipeline time (its record's ``wall_s``: probe, hash,
  envelope, synthesis, outputs), what ``sonorize run`` would spend in one process;
- orchestration overhead per video = (end-to-end time x parallelism - work) / N: worker pick-up,
  flow-run process start, claims, heartbeats, S3 downloads and uploads, Prefect task runs.

Usage::

    .venv/bin/python benchmarks/bucket_throughput.py [--videos 40] [--seconds 2] [--size 160x120]
                                                    [--fan-out none|dask] [--dask-workers 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--size", default="160x120")
    parser.add_argument("--fan-out", default="none", choices=["none", "dask"])
    parser.add_argument("--dask-workers", type=int, default=2)
    parser.add_argument("--max-batch", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=1200)
    args = parser.parse_args()

    import os

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    import s3fs

    from live_servers import MotoServer, PrefectServer, kill_tree
    from media_factory import pattern_clip

    with tempfile.TemporaryDirectory(prefix="sonorize-bucket-bench-") as tmp:
        home = Path(tmp)
        server, moto = PrefectServer(home), MotoServer(home)
        worker = None
        try:
            clip = pattern_clip(home / "clip.mp4", seconds=args.seconds, size=args.size)
            clips = [clip] * args.videos  # same bytes under N keys: N objects, same work each
            moto.wait_ready()
            server.wait_healthy()
            server.cli("work-pool", "create", "sonorize-cpu", "--type", "process")
            server.cli("--no-prompt", "deploy", "--name", "batch", "--name", "watcher")
            fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": moto.endpoint}, key="sonorize-test",
                                   secret="sonorize-test", skip_instance_cache=True)
            fs.mkdir("bench")
            for i, clip in enumerate(clips):
                fs.put_file(str(clip), f"bench/incoming/v{i:03d}.mp4")
            env = {**moto.env, "PYTHONPATH": str(REPO), "SONORIZE_CATALOG_DIR": str(home / "catalog"),
                   "SONORIZE_CACHE_DIR": str(home / "cache")}
            worker = server.start_worker("sonorize-cpu", home, home / "worker.log", env=env)
            batch_parameters = {"envelope_engine": "preview", "synth_engine": "preview", "fan_out": args.fan_out,
                                "dask_workers": args.dask_workers}
            t0 = time.monotonic()
            server.cli("deployment", "run", "watch-bucket/watcher", "-p", "input_url=s3://bench/incoming",
                       "-p", "min_age_s=0", "-p", f"max_batch={args.max_batch}",
                       "-p", f"batch_parameters={json.dumps(batch_parameters)}")
            done: list[str] = []
            while time.monotonic() - t0 < args.timeout:
                fs.invalidate_cache()
                done = fs.find("bench/sonorize-state/done") if fs.exists("bench/sonorize-state/done") else []
                if len(done) >= args.videos:
                    break
                time.sleep(0.2)
            elapsed = time.monotonic() - t0
            if len(done) < args.videos:
                sys.exit(f"only {len(done)} of {args.videos} done after {args.timeout} s")
            fs.invalidate_cache()
            records = [json.loads(fs.cat_file(p)) for p in fs.find("bench/outputs") if p.endswith(".record.json")
                       and not p.rsplit("/", 1)[-1].startswith("sonorize-run-")]
            work = sum(r["wall_s"] for r in records)
            batch_runs = server.flow_runs("sonorize")
            watcher_runs = server.flow_runs("watch-bucket")
        finally:
            if worker is not None:
                kill_tree(worker)
            kill_tree(server.proc)
            kill_tree(moto.proc)

    parallel = args.dask_workers if args.fan_out == "dask" else 1
    n = args.videos
    overhead = (elapsed * parallel - work) / n
    print(f"videos: {n} x {args.seconds:g} s {args.size}, fan_out={args.fan_out}"
          f"{f' ({parallel} Dask workers)' if parallel > 1 else ''}, {len(batch_runs)} batch run(s), "
          f"{len(watcher_runs)} watcher run(s)")
    print(f"end to end (watcher request -> last done record): {elapsed:.1f} s = {60 * n / elapsed:.1f} videos/min")
    print(f"work itself (sum of per-video pipeline time): {work:.1f} s = {work / n:.3f} s/video")
    print(f"orchestration overhead: {overhead:.3f} s/video (goal < 0.5)")
    for run in batch_runs:
        if run.start_time and run.end_time:
            print(f"  batch run {str(run.id)[:8]}: {(run.end_time - run.start_time).total_seconds():.1f} s running, "
                  f"start {(run.start_time - run.expected_start_time).total_seconds():.1f} s after it was created")


if __name__ == "__main__":
    main()
