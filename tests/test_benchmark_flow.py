"""The nightly benchmark: pinned engines, a folder dataset, every metric into the catalog, the comparison
with the previous run of the same configuration (a Failed state past a threshold), the plot."""

from __future__ import annotations

import shutil

import pyarrow.dataset as ds
import pytest

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not on PATH")

ENGINES = [{"envelope_engine": "preview", "synth_engine": "foley"}]


def test_engines_must_be_pinned():
    from flows.benchmark_flow import pinned_engines

    assert pinned_engines(ENGINES) == ENGINES
    with pytest.raises(ValueError, match="must be pinned: envelope_engine"):
        pinned_engines([{"envelope_engine": "auto", "synth_engine": "foley"}])


def test_smoke_fallback_is_labelled_and_scores_known_impacts(isolated_settings):
    from flows.benchmark_flow import BENCHMARKS_TABLE, SMOKE, benchmark

    summary = benchmark(engines=ENGINES, n_clips=1, clip_seconds=2.0, clip_size=[160, 120])
    (config,) = summary["configs"]
    assert config["data"] == config["data_kind"] == SMOKE and config["n_items"] == 1
    assert config["metrics"]["fad_p"].startswith("skipped: weights for panns-wavegram-logmel missing")
    assert 0 <= config["metrics"]["onset_f1"] <= 1
    rows = ds.dataset(str(isolated_settings / "catalog" / BENCHMARKS_TABLE), format="parquet").to_table().to_pylist()
    assert rows[0]["suite"] == SMOKE and rows[0]["onset_f1"] >= 0.6  # the preview envelope finds the impacts


def test_folder_dataset_twice_compares_with_the_previous_run(isolated_settings, tmp_path):
    from data_catalog.examples import make_bouncing_ball_video
    from flows.benchmark_flow import METRICS_TABLE, benchmark

    data = tmp_path / "dev"
    make_bouncing_ball_video(data / "videos" / "take0.mp4", duration_s=2.0, size=(160, 120), with_audio=True)
    (data / "videos" / "broken.mp4").write_bytes(b"not a video")
    datasets = [{"root": str(data), "name": "dev", "labels": None}]
    first = benchmark(datasets=datasets, engines=ENGINES, limit=2)
    (config,) = first["configs"]
    assert config["data"] == "dev:all" and config["n_items"] == 1  # the broken file is skipped, the suite goes on
    assert config["previous_run_id"] is None and first["regressions"] == []
    assert config["plot"] and (isolated_settings / "catalog" / "benchmark_plots").is_dir()
    # the same configuration again, with a threshold no run can meet: the run fails, naming the metric
    state = benchmark(datasets=datasets, engines=ENGINES, limit=2, thresholds={"e_l1": ["absolute", -1.0]},
                      return_state=True)
    assert state.is_failed() and "e_l1" in state.message
    second = state.result(raise_on_failure=False)
    (config2,) = second["configs"]
    assert config2["previous_run_id"] == first["run_id"] and config2["config_key"] == config["config_key"]
    e_l1 = next(r for r in config2["comparison"] if r["metric"] == "e_l1")
    assert e_l1["verdict"] == "regressed" and e_l1["delta"] == pytest.approx(0.0, abs=1e-9)  # same engines, same data
    table = ds.dataset(str(isolated_settings / "catalog" / METRICS_TABLE), format="parquet").to_table().to_pylist()
    assert {r["run_id"] for r in table} == {first["run_id"], second["run_id"]}
    assert {r["commit"] for r in table} == {first["commit"]} and all(r["synth_engine"] == "foley" for r in table)
