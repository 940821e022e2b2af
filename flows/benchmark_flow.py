"""The ``benchmark`` flow: the nightly benchmark of pinned engines on a real test split.

For every engine configuration (``engines``: envelope and synthesis engine named, never
``auto``) and every dataset (``datasets``: ``folder`` datasets of videos with their own audio, e.g.
the Greatest Hits development set, each with its split), the flow sonorizes the split's videos and
scores the outputs against the videos' own sound with every metric (tasks/metric_suite.py: FAD-SFX,
FAD-P, FAD-C, FAD-LC, CLAP score, FAVD, E-L1, Acc@k, onset F1, correlation; metrics whose weights
are absent are named as skipped). Without ``datasets`` it falls back to synthetic bouncing-ball
clips with clicks at the impacts, labelled ``synthetic-smoke``: a smoke test, not a benchmark.

Per configuration: one row per metric in the catalog table ``benchmark_metrics`` (engines, data,
commit), a table artifact, a comparison with the previous run of the same configuration (markdown
artifact of deltas; a regression past :data:`flows.benchmark_compare.DEFAULT_THRESHOLDS` fails the
run) and a plot of each metric over the runs (``<catalog>/benchmark_plots/<config>.png``). Per video:
wall time and real-time factor in the catalog table ``benchmarks``.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.states import Completed, Failed

from data_catalog.atomic import json_text
from data_catalog.datasets import get_dataset_adapter
from data_catalog.errors import OptionError, SonorizeInputError
from data_catalog.examples import make_bouncing_ball_video
from data_catalog.hashing import fingerprint
from data_catalog.run_records import read_table
from data_catalog.settings import get_settings
from flows import run_ids
from flows.benchmark_compare import (
    DEFAULT_THRESHOLDS,
    compare,
    deltas_markdown,
    plot_history,
    previous_run,
)
from flows.per_item import run_item
from flows.video_options import VideoOptions
from flows.video_pipeline import sonorize_video
from folai_models.events import detect_onsets
from folai_models.metrics import onset_scores
from tasks.catalog_tasks import append_catalog_rows_task
from tasks.metric_suite import is_value, score_sets

BENCHMARKS_TABLE = "benchmarks"
BENCHMARKS_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("recorded_at", pa.timestamp("us", tz="UTC")), ("suite", pa.string()),
    ("item", pa.string()), ("envelope_engine", pa.string()), ("synth_engine", pa.string()),
    ("duration_s", pa.float64()), ("wall_s", pa.float64()), ("realtime_factor", pa.float64()),
    ("onset_f1", pa.float64()), ("metrics_json", pa.string()),
])
METRICS_TABLE = "benchmark_metrics"
METRICS_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("recorded_at", pa.timestamp("us", tz="UTC")), ("config_key", pa.string()),
    ("envelope_engine", pa.string()), ("synth_engine", pa.string()), ("data", pa.string()),
    ("data_kind", pa.string()), ("n_items", pa.int64()), ("commit", pa.string()), ("metric", pa.string()),
    ("value", pa.float64()), ("note", pa.string()),
])
DEFAULT_ENGINES = ({"envelope_engine": "preview", "synth_engine": "foley"},)
ENGINE_CHOICES = {"envelope_engine": ("preview", "video2rms"), "synth_engine": ("foley", "preview", "folai")}
SMOKE = "synthetic-smoke"
SMOKE_PROMPT = "a rubber ball bouncing on a wooden floor"


def code_commit() -> str:
    """The repository commit the code runs from (``-dirty`` with uncommitted changes), or ``unknown``."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def pinned_engines(engines) -> list[dict]:
    """The engine configurations, checked: each names both engines (``auto`` is refused)."""
    out = []
    for config in engines:
        config = dict(config)
        for key, choices in ENGINE_CHOICES.items():
            if config.get(key) not in choices:
                raise OptionError(f"benchmark engines must be pinned: {key} must be one of {', '.join(choices)} "
                                 f"(got {config.get(key)!r})")
        out.append({k: config[k] for k in ENGINE_CHOICES})
    return out


def _dataset_items(spec: dict, limit: int | None) -> tuple[str, list]:
    """``(label, items)`` of one ``folder`` dataset's split (first ``limit`` by id)."""
    spec = dict(spec)
    root, split = spec.pop("root"), spec.pop("split", "all")
    adapter = get_dataset_adapter(spec.pop("adapter", "folder"), **spec)
    items = [i for i in adapter.items(root) if i.split == split]
    if not items:
        raise SonorizeInputError(root, f"dataset has no videos in split {split!r}")
    return f"{adapter.name}:{split}", items[:limit] if limit else items


def _smoke_items(folder: Path, n_clips: int, clip_seconds: float, clip_size) -> list[tuple[str, str, list]]:
    clips = []
    for i in range(n_clips):
        path = folder / f"ball-{i}.mp4"
        impacts = make_bouncing_ball_video(path, duration_s=max(1.0, clip_seconds * (1 - 0.25 * i)),
                                           size=tuple(clip_size), with_audio=True)
        clips.append((path.stem, str(path), impacts))
    return clips


@flow(name="benchmark", log_prints=True)
def benchmark(
    datasets: list[dict] | None = None,
    engines: list[dict] = DEFAULT_ENGINES,
    limit: int | None = 8,
    thresholds: dict | None = None,
    device: str = "cpu",
    n_clips: int = 4,
    clip_seconds: float = 6.0,
    clip_size: list[int] = (320, 240),
):
    """Run the benchmark; return its summary (a Failed state carrying it when a metric regressed).

    Parameters
    ----------
    datasets : ``folder`` datasets to benchmark on, each ``{"root": FOLDER, "name": NAME, "split": SPLIT,
        ...}`` plus any option of the folder adapter (``labels``, ``holdout_fraction``, ``seed``); None:
        the synthetic smoke fallback.
    engines : engine configurations, each ``{"envelope_engine": "preview"|"video2rms",
        "synth_engine": "foley"|"preview"|"folai"}``.
    limit : at most this many videos per dataset (the first by id).
    thresholds : ``{metric: ["relative"|"absolute", allowed worsening]}`` overriding the defaults.
    device : where the metric networks run.
    n_clips, clip_seconds, clip_size : the synthetic smoke clips (used only without ``datasets``).
    """
    logger = get_run_logger()
    (run_id, run_id_source), now, commit = run_ids.run_id(), datetime.now(timezone.utc), code_commit()
    engines = pinned_engines(engines)
    limits = {**DEFAULT_THRESHOLDS, **{k: tuple(v) for k, v in (thresholds or {}).items()}}
    catalog = get_settings().catalog_dir
    summary = {"run_id": run_id, "run_id_source": run_id_source, "commit": commit, "configs": [], "regressions": []}
    item_rows, metric_rows = [], []
    with tempfile.TemporaryDirectory(prefix="sonorize-benchmark-") as tmp:
        if datasets:
            sources = [(label, "folder", [(i.item_id, i.video_path, None, i.prompt) for i in items])
                       for label, items in (_dataset_items(spec, limit) for spec in datasets)]
        else:
            logger.warning("no datasets given: synthetic bouncing-ball clips (%s), a smoke test, not a benchmark", SMOKE)
            sources = [(SMOKE, SMOKE, [(s, p, imp, SMOKE_PROMPT) for s, p, imp in
                                       _smoke_items(Path(tmp) / "smoke", n_clips, clip_seconds, clip_size)])]
        for config in engines:
            for data, kind, items in sources:
                result = _run_config(config, data, kind, items, Path(tmp) / "out", run_id, now, logger)
                item_rows += result["item_rows"]
                key = fingerprint({**config, "data": data, "items": [i[0] for i in items]})
                for metric, value in result["metrics"].items():
                    metric_rows.append({"run_id": run_id, "recorded_at": now, "config_key": key, **config,
                                        "data": data, "data_kind": kind, "n_items": result["n_items"],
                                        "commit": commit, "metric": metric,
                                        "value": float(value) if is_value(value) else None,
                                        "note": "" if is_value(value) else str(value)})
                summary["configs"].append({"config_key": key, **config, "data": data, "data_kind": kind,
                                           "n_items": result["n_items"], "metrics": result["metrics"],
                                           "realtime_factor": result["realtime_factor"]})
    stamp = f"{now:%Y%m%dT%H%M%SZ}-{run_id}"
    if item_rows:
        append_catalog_rows_task(catalog, BENCHMARKS_TABLE, item_rows, stamp, schema=BENCHMARKS_SCHEMA)
    history = read_table(catalog, METRICS_TABLE) if (Path(catalog) / METRICS_TABLE).is_dir() else None
    if metric_rows:
        append_catalog_rows_task(catalog, METRICS_TABLE, metric_rows, stamp, schema=METRICS_SCHEMA)
    _publish_table(summary)
    full_history = read_table(catalog, METRICS_TABLE)
    for config in summary["configs"]:
        title = f"{config['envelope_engine']}+{config['synth_engine']} on {config['data']} ({config['data_kind']})"
        prev_id, prev = previous_run(history, config["config_key"], run_id) if history is not None else (None, {})
        rows = compare(prev, config["metrics"], limits)
        config["previous_run_id"], config["comparison"] = prev_id, rows
        create_markdown_artifact(key=f"benchmark-deltas-{config['config_key']}", markdown=deltas_markdown(
            f"{title}, commit {commit}", prev_id, rows), description=f"benchmark {run_id}: change since the last run")
        plot = plot_history(full_history, config["config_key"], title,
                            Path(catalog) / "benchmark_plots" / f"{config['config_key']}.png")
        config["plot"] = str(plot) if plot else None
        summary["regressions"] += [{"config_key": config["config_key"], **r} for r in rows if r["verdict"] == "regressed"]
    logger.info("benchmark: %s", json.dumps({k: v for k, v in summary.items() if k != "configs"}, default=str))
    if summary["regressions"]:
        names = ", ".join(f"{r['metric']} ({r['previous']:.4g} -> {r['now']:.4g})" for r in summary["regressions"])
        return Failed(message=f"benchmark regressed past its thresholds: {names}", data=summary)
    return Completed(message="benchmark done", data=summary)


def _run_config(config, data, kind, items, out_root, run_id, now, logger) -> dict:
    """Sonorize ``items`` with ``config`` and score them; the per-video rows and the set's metrics."""
    generated, reference, rows, total_s, total_wall = [], [], [], 0.0, 0.0
    for stem, video, impacts, prompt in items:
        options = VideoOptions(**config, force=True, prompt=prompt)
        options = replace(options, fingerprint=fingerprint({**options.public(), "benchmark": True}))
        started = time.perf_counter()
        folder = out_root / fingerprint(config) / data.replace(":", "-") / stem
        record = run_item(video, lambda v: sonorize_video(v, folder, stem, options),  # noqa: B023 (called now)
                          lambda v, reason: {"status": "failed", "error": reason}, label=str(video), logger=logger)
        if record.get("status") == "failed":  # a bad file (or a bug, logged with its traceback): the suite goes on
            logger.warning("%s: skipped (%s)", video, record["error"])
            continue
        wall = time.perf_counter() - started
        duration = float(record["video"]["duration_s"])
        total_s, total_wall = total_s + duration, total_wall + wall
        extra = {"timings": record["timings"]}
        onset_f1 = float("nan")
        if impacts is not None:  # synthetic clips: the impact times are exact
            from data_catalog.envelope_file import read_envelope

            envelope = read_envelope(Path(record["outputs"]["envelope_csv"]))
            scores = onset_scores(impacts, detect_onsets(envelope.envelope, envelope.frame_rate))
            onset_f1, extra["onsets_vs_impacts"] = float(scores["f1"]), {k: float(v) for k, v in scores.items()
                                                                        if isinstance(v, (int, float, np.floating))}
        rows.append({"run_id": run_id, "recorded_at": now, "suite": data, "item": stem, **config,
                     "duration_s": round(duration, 3), "wall_s": round(wall, 3),
                     "realtime_factor": round(duration / wall, 3) if wall else None, "onset_f1": onset_f1,
                     "metrics_json": json_text(extra)})
        generated.append(record["outputs"]["video"])
        reference.append(video)
    if not generated:
        raise SonorizeInputError(None, f"benchmark on {data}: no video could be sonorized")
    suite = score_sets(generated, reference, logger=logger)
    return {"item_rows": rows, "metrics": suite["metrics"], "n_items": len(generated),
            "realtime_factor": round(total_s / total_wall, 3) if total_wall else None}


def _publish_table(summary: dict) -> None:
    """One row per configuration: engines, data, commit, every metric (skipped ones say why)."""
    table = []
    for c in summary["configs"]:
        row = {"envelope_engine": c["envelope_engine"], "synth_engine": c["synth_engine"], "data": c["data"],
               "data_kind": c["data_kind"], "n_items": c["n_items"], "commit": summary["commit"],
               "realtime_factor": c["realtime_factor"]}
        for metric, value in c["metrics"].items():
            row[metric] = round(value, 4) if is_value(value) else str(value)
        table.append(row)
    create_table_artifact(key="sonorize-benchmark", table=table,
                          description=f"benchmark {summary['run_id']} at commit {summary['commit']}")
