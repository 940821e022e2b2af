"""The nightly benchmark's comparison with the previous run of the same configuration, and its plot.

Thresholds (a regression past one fails the run; documented in docs/BENCHMARKS.md):

- distances, lower is better (FAD-SFX, FAD-P, FAD-C, FAD-LC, FAVD, E-L1): worse by more than 10 %
  of the previous value;
- scores, higher is better (onset F1, Acc@1/5/10, correlation): lower by more than 0.05;
  CLAP score: lower by more than 0.02 (cosines of one model move little).
"""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa

from tasks.metric_suite import LOWER_IS_BETTER, is_value

DEFAULT_THRESHOLDS: dict[str, tuple[str, float]] = {  # metric -> (kind, allowed worsening)
    **{m: ("relative", 0.10) for m in ("fad_sfx", "fad_p", "fad_c", "fad_lc", "favd", "e_l1")},
    **{m: ("absolute", 0.05) for m in ("onset_f1", "acc@1", "acc@5", "acc@10", "correlation")},
    "clap_score": ("absolute", 0.02),
}


def previous_run(table: pa.Table, config_key: str, run_id: str) -> tuple[str | None, dict[str, float | None]]:
    """The latest earlier run of ``config_key`` in the metrics table: ``(run_id, {metric: value})``."""
    rows = [r for r in table.to_pylist() if r["config_key"] == config_key and r["run_id"] != run_id]
    if not rows:
        return None, {}
    latest = max(rows, key=lambda r: r["recorded_at"])["run_id"]
    return latest, {r["metric"]: r["value"] for r in rows if r["run_id"] == latest}


def compare(previous: dict[str, float | None], current: dict[str, float | str],
            thresholds: dict[str, tuple[str, float]] | None = None) -> list[dict]:
    """One row per metric: previous, now, delta, the allowed worsening and a verdict.

    Verdicts: ``regressed`` (worse past the threshold), ``ok``, ``new`` (no previous value), or the
    ``skipped: ...`` reason when there is no value now.
    """
    thresholds = DEFAULT_THRESHOLDS if thresholds is None else thresholds
    rows = []
    for metric, now in current.items():
        before = previous.get(metric)
        row = {"metric": metric, "previous": before, "now": now if is_value(now) else None, "delta": None,
               "allowed": None, "verdict": "new" if is_value(now) else str(now)}
        if is_value(now) and before is not None and math.isfinite(before):
            delta = float(now) - before
            worse = delta if metric in LOWER_IS_BETTER else -delta
            kind, limit = thresholds.get(metric, ("relative", math.inf))
            allowed = limit * abs(before) if kind == "relative" else limit
            row.update(delta=delta, allowed=allowed, verdict="regressed" if worse > allowed else "ok")
        rows.append(row)
    return rows


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.4g}"


def deltas_markdown(title: str, previous_run_id: str | None, rows: list[dict]) -> str:
    """The comparison as a markdown table (the Prefect artifact)."""
    lines = [f"### {title}", ""]
    if previous_run_id is None:
        lines.append("First run of this configuration: nothing to compare with yet.")
        return "\n".join(lines)
    lines += [f"Previous run: `{previous_run_id}`", "",
              "| metric | previous | now | delta | allowed worsening | verdict |", "|---|---|---|---|---|---|"]
    for r in rows:
        verdict = f"**{r['verdict']}**" if r["verdict"] == "regressed" else r["verdict"]
        delta = "–" if r["delta"] is None else f"{r['delta']:+.4g}"
        lines.append(f"| {r['metric']} | {_fmt(r['previous'])} | {_fmt(r['now'])} | {delta} | "
                     f"{_fmt(r['allowed'])} | {verdict} |")
    return "\n".join(lines)


def plot_history(table: pa.Table, config_key: str, title: str, path: Path) -> Path | None:
    """Each metric of ``config_key`` over the runs (one panel per metric with a value); None if none."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in table.to_pylist() if r["config_key"] == config_key and r["value"] is not None]
    metrics = sorted({r["metric"] for r in rows})
    if not metrics:
        return None
    cols = min(3, len(metrics))
    n_rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(n_rows, cols, figsize=(4.2 * cols, 2.6 * n_rows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        points = sorted((r["recorded_at"], r["value"]) for r in rows if r["metric"] == metric)
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o")
        ax.set_title(f"{metric} ({'lower' if metric in LOWER_IS_BETTER else 'higher'} is better)", fontsize=9)
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
