"""The video stage end to end: features flow, the content-keyed cache, and clear weight errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_catalog.examples import make_bouncing_ball_video

pytestmark = pytest.mark.needs_ffmpeg


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("feature-clips")
    make_bouncing_ball_video(root / "ball.mp4", duration_s=2.0)
    make_bouncing_ball_video(root / "short.mp4", duration_s=0.5)  # shorter than one 300-frame window
    return root


def _run(paths, **kwargs):
    from flows.features_flow import features

    return features(paths=[str(p) for p in paths], **kwargs)


def test_cold_then_warm_run_reads_the_cache_without_decoding(clips, monkeypatch):
    cold = _run([clips / "ball.mp4", clips / "short.mp4"], encoder="motion")
    assert cold["n_failed"] == 0 and cold["flow"] == "opencv"
    ball, short = cold["videos"]
    assert ball["status"] == "ok" and ball["shape"][0] == pytest.approx(60, abs=1)
    assert short["status"] == "ok" and short["shape"][0] == pytest.approx(15, abs=1)
    assert Path(ball["cache_file"]).is_file()

    import tasks.feature_tasks as feature_tasks

    def no_decoding(*args, **kwargs):
        raise AssertionError("a warm run must not decode")

    monkeypatch.setattr(feature_tasks, "iter_frame_windows", no_decoding)
    warm = _run([clips / "ball.mp4"], encoder="motion")
    assert warm["videos"][0]["status"] == "cached" and warm["videos"][0]["shape"] == ball["shape"]


def test_deleted_cache_file_and_new_revision_recompute(clips):
    first = _run([clips / "short.mp4"], encoder="motion")["videos"][0]
    Path(first["cache_file"]).unlink()
    again = _run([clips / "short.mp4"], encoder="motion")["videos"][0]
    assert again["status"] == "ok" and Path(again["cache_file"]).is_file()

    from folai_models.encoders import motion

    original = motion.FEATURE_VERSION
    motion.FEATURE_VERSION = original + 1
    try:
        bumped = _run([clips / "short.mp4"], encoder="motion")["videos"][0]
    finally:
        motion.FEATURE_VERSION = original
    assert bumped["status"] == "ok" and bumped["revision"] != again["revision"]
    assert bumped["cache_file"] != again["cache_file"]


def test_corrupted_cache_file_is_recomputed_not_served(clips):
    first = _run([clips / "short.mp4"], encoder="motion")["videos"][0]
    path = Path(first["cache_file"])
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    again = _run([clips / "short.mp4"], encoder="motion")["videos"][0]
    assert again["status"] == "ok"

    from data_catalog.feature_cache import FeatureCache
    from tasks.feature_tasks import build_video_stage, feature_key

    stage = build_video_stage("motion")
    cached = FeatureCache().get(feature_key(stage, again["video_sha256"]))
    assert cached is not None and np.isfinite(cached).all()


def test_flow_options_enter_the_revision_and_the_cache_key():
    from folai_models.optical_flow.opencv_flow import DIS_PRESET
    from tasks.feature_tasks import build_video_stage, feature_key

    other = "fast" if DIS_PRESET != "fast" else "medium"
    default, chosen = build_video_stage("motion"), build_video_stage("motion", flow_options={"preset": other})
    assert chosen.flow.preset == other and chosen.revision.endswith(f"dis-{other}")
    assert default.revision.endswith(f"dis-{DIS_PRESET}")
    # features of another preset are never read for these (the revision is part of the key)
    assert feature_key(chosen, "0" * 64) != feature_key(default, "0" * 64)


def test_bad_video_is_reported_and_others_finish(clips, tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    result = _run([bad, clips / "short.mp4"], encoder="motion")
    statuses = {Path(v["video_path"]).name: v for v in result["videos"]}
    assert statuses["notes.mp4"]["status"] == "failed" and "not a media file" in statuses["notes.mp4"]["error"]
    assert statuses["short.mp4"]["status"] in ("ok", "cached")


@pytest.mark.parametrize(("encoder", "weights"), [("tc_clip", "tc-clip"), ("bn_inception", "bn-inception")])
def test_missing_weights_name_the_file_and_the_pull_command(encoder, weights):
    from data_catalog.model_store import MissingWeightsError
    from tasks.feature_tasks import build_video_stage

    with pytest.raises(MissingWeightsError) as caught:
        build_video_stage(encoder)
    assert f"sonorize models pull {weights}" in str(caught.value)


def test_sonorize_flow_caches_features_with_encoder(clips, tmp_path):
    from flows.sonorize_flow import sonorize

    run = sonorize(paths=[str(clips / "short.mp4")], out_dir=str(tmp_path / "out"), encoder="motion")
    record = run["videos"][0]
    assert record["status"] == "ok"
    assert record["features"]["encoder"] == "motion" and record["features"]["shape"][1] > 0
    assert run["options"]["encoder"] == "motion"
    # A feature-cache hit runs no `gpu`-tagged task, so it never waits for a GPU slot.
    again = sonorize(paths=[str(clips / "short.mp4")], out_dir=str(tmp_path / "out"), encoder="motion", force=True)
    assert again["videos"][0]["features"]["cached"]
    assert "frame-features" in _gpu_tasks(run["run_id"]) and "frame-features" not in _gpu_tasks(again["run_id"])


def _gpu_tasks(flow_run_id: str) -> set[str]:
    """Names of the flow run's task runs that carry the `gpu` tag (and so wait for its slots)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return {run.name.rsplit("-", 1)[0] for run in runs if "gpu" in run.tags}


def test_cli_features_command(clips):
    from typer.testing import CliRunner

    from flows.cli import app

    result = CliRunner().invoke(app, ["features", str(clips / "short.mp4"), "--encoder", "motion"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["features", str(clips / "short.mp4"), "--encoder", "tc_clip"])
    assert result.exit_code == 2 and "sonorize models pull tc-clip" in result.output
