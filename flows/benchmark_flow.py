"""The ``benchmark`` flow: a small nightly suite that measures speed and timing accuracy.

Synthetic clips with a known answer (a ball bouncing on a floor: the impact
times are exact) go through the whole per-video pipeline with the configured
engines. For each clip the suite records wall time, real-time factor and
onset precision / recall / F1 of the predicted envelope against the true
impacts (+-0.1 s, SPEC item 14). With ``videos_dir`` (videos with their own
audio, e.g. the Greatest Hits development set) it also scores the envelope
against each video's real audio (E-L1, correlation, onset F1). Each run
appends rows to the catalog table ``benchmarks`` and publishes a table
artifact, so a regression shows up as a change between nights.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from data_catalog.atomic import json_text
from data_catalog.examples import make_bouncing_ball_video
from data_catalog.hashing import fingerprint
from data_catalog.run_records import append_rows
from data_catalog.settings import get_settings
from flows.inputs import collect_videos
from flows.video_pipeline import VideoOptions, sonorize_video
from folai_models.events import detect_onsets
from folai_models.metrics import envelope_scores, onset_scores
from tasks.envelope_tasks import predict_envelope_task
from tasks.engines import resolve_envelope_engine
from tasks.media_tasks import hash_video_task, probe_video_task, reference_envelope_task

BENCHMARKS_TABLE = "benchmarks"
BENCHMARKS_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("recorded_at", pa.timestamp("us", tz="UTC")), ("suite", pa.string()),
    ("item", pa.string()), ("envelope_engine", pa.string()), ("synth_engine", pa.string()),
    ("duration_s", pa.float64()), ("wall_s", pa.float64()), ("realtime_factor", pa.float64()),
    ("onset_f1", pa.float64()), ("metrics_json", pa.string()),
])


@flow(name="benchmark", log_prints=True)
def benchmark(
    n_clips: int = 4,
    clip_seconds: float = 6.0,
    clip_size: list[int] = (320, 240),
    envelope_engine: str = "auto",
    synth_engine: str = "preview",
    videos_dir: str | None = None,
    limit: int | None = None,
) -> dict:
    """Run the nightly suite; return its summary (also a Prefect artifact and catalog rows).

    Parameters
    ----------
    n_clips : synthetic bouncing-ball clips (known impact times), different lengths.
    clip_seconds : length of the longest clip; the others are shorter by a quarter each.
    clip_size : width and height of the clips in pixels.
    envelope_engine, synth_engine : the engines to measure (as in ``sonorize/batch``).
    videos_dir : optional folder of videos with their own audio to score envelopes against.
    limit : at most this many videos from ``videos_dir``.
    """
    logger = get_run_logger()
    run_id = str(uuid.uuid4())
    now = datetime.now(timezone.utc)
    envelope_engine = resolve_envelope_engine(envelope_engine)
    options = VideoOptions(envelope_engine=envelope_engine, synth_engine=synth_engine, force=True,
                           prompt="a rubber ball bouncing on a wooden floor")
    options.fingerprint = fingerprint({**options.public(), "benchmark": True})
    rows = []
    with tempfile.TemporaryDirectory(prefix="sonorize-benchmark-") as tmp:
        for i in range(n_clips):
            seconds = max(1.0, clip_seconds * (1 - 0.25 * i))
            clip = Path(tmp) / f"ball-{i}.mp4"
            impacts = make_bouncing_ball_video(clip, duration_s=seconds, size=tuple(clip_size))
            started = time.perf_counter()
            record = sonorize_video(str(clip), Path(tmp) / "out" / clip.stem, clip.stem, options)
            wall = time.perf_counter() - started
            envelope_csv = Path(record["outputs"]["envelope_csv"])
            predicted = _onsets_from_csv(envelope_csv)
            scores = onset_scores(impacts, predicted)
            rows.append(_row(run_id, now, "bouncing-ball", clip.name, options, seconds, wall, scores,
                             {"n_impacts": len(impacts), "timings": record["timings"]}))
        for video in collect_videos([videos_dir])[:limit] if videos_dir else []:
            started = time.perf_counter()
            try:
                info = probe_video_task(video)
                envelope, rate, _ = predict_envelope_task(info, envelope_engine, hash_video_task(video))
                reference, _ = reference_envelope_task(video, len(envelope))
            except Exception as exc:  # a bad file is reported, the suite goes on
                logger.warning("%s: skipped (%s)", video, exc)
                continue
            scores = envelope_scores(reference, envelope, rate)
            rows.append(_row(run_id, now, "videos_dir", Path(video).name, options, info.duration_s,
                             time.perf_counter() - started, scores, {}))
    if rows:
        append_rows(get_settings().catalog_dir, BENCHMARKS_TABLE, rows, f"{now:%Y%m%dT%H%M%SZ}-{run_id}",
                    schema=BENCHMARKS_SCHEMA)
    table = [{k: r[k] for k in ("suite", "item", "duration_s", "wall_s", "realtime_factor", "onset_f1")}
             for r in rows]
    create_table_artifact(key="sonorize-benchmark", table=table, description=f"benchmark {run_id}")
    summary = {"run_id": run_id, "envelope_engine": envelope_engine, "synth_engine": synth_engine,
               "n_items": len(rows), "items": table}
    for suite in sorted({r["suite"] for r in rows}):
        of_suite = [r for r in rows if r["suite"] == suite]
        summary[suite] = {
            "mean_onset_f1": round(statistics.fmean(r["onset_f1"] for r in of_suite), 4),
            "realtime_factor": round(sum(r["duration_s"] for r in of_suite) / sum(r["wall_s"] for r in of_suite), 3),
        }
    logger.info("benchmark: %s", json.dumps({k: v for k, v in summary.items() if k != "items"}))
    return summary


def _onsets_from_csv(path: Path) -> np.ndarray:
    from data_catalog.envelope_file import read_envelope

    envelope = read_envelope(path)
    return detect_onsets(envelope.envelope, envelope.frame_rate)


def _row(run_id, recorded_at, suite, item, options, duration_s, wall_s, scores, extra) -> dict:
    return {"run_id": run_id, "recorded_at": recorded_at, "suite": suite, "item": item,
            "envelope_engine": options.envelope_engine, "synth_engine": options.synth_engine,
            "duration_s": round(float(duration_s), 3), "wall_s": round(wall_s, 3),
            "realtime_factor": round(float(duration_s) / wall_s, 3) if wall_s else None,
            "onset_f1": float(scores.get("onset_f1", scores.get("f1", float("nan")))),
            "metrics_json": json_text({**_plain(scores), **extra})}


def _plain(scores: dict) -> dict:
    return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in scores.items()
            if not isinstance(v, np.ndarray)}
