"""The ``sonorize`` flow end to end, in process (ephemeral Prefect), on generated media."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow.dataset as ds
import pytest
import soundfile as sf

from data_catalog.examples import make_bouncing_ball_video
from media_factory import audio_only, ffmpeg, pattern_clip, truncated, variable_frame_rate

pytestmark = pytest.mark.needs_ffmpeg

OUTPUT_KEYS = {"wav", "video", "envelope_csv", "envelope_json", "envelope_png", "labels"}


@pytest.fixture(scope="module")
def batch(tmp_path_factory, prefect_home):
    """A folder of good and bad videos, sonorized once (module scope: the slow part)."""
    from flows.sonorize_flow import sonorize

    root = tmp_path_factory.mktemp("batch")
    videos = root / "videos"
    videos.mkdir()
    impacts = make_bouncing_ball_video(videos / "ball with audio.mp4", duration_s=4.0, with_audio=True)
    make_bouncing_ball_video(videos / "bälle ☂ silent.mov", duration_s=3.0)
    variable_frame_rate(videos / "vfr.mp4", seconds=2.0)
    (videos / "empty.mp4").write_bytes(b"")
    (videos / "notes.mp4").write_text("not a video")
    audio_only(videos / "voice.mp4")
    truncated(pattern_clip(root / "full.mp4", seconds=3.0), videos / "cut.mp4")
    ffmpeg("-f", "lavfi", "-i", "color=c=red:size=2x2:rate=30:duration=1", "-c:v", "mpeg4", str(videos / "tiny.avi"))
    out = root / "out"
    # the preview engine by name: "auto" picks the shipped Video2RMS checkpoint when PyTorch is installed
    result = sonorize(paths=[str(videos)], out_dir=str(out), prompt="a ball on a wooden floor",
                      envelope_engine="preview")
    return {"result": result, "out": out, "videos": videos, "impacts": impacts, "root": root}


def _by_name(result: dict) -> dict:
    return {Path(v["video_path"]).name: v for v in result["videos"]}


def test_good_videos_get_every_output(batch):
    records = _by_name(batch["result"])
    for name in ("ball with audio.mp4", "bälle ☂ silent.mov", "vfr.mp4"):
        record = records[name]
        assert record["status"] == "ok", record
        assert set(record["outputs"]) == OUTPUT_KEYS
        assert all(Path(p).is_file() and Path(p).stat().st_size > 0 for p in record["outputs"].values())
        audio, rate = sf.read(record["outputs"]["wav"])
        assert rate == 44100 and audio.ndim == 2 and audio.shape[1] == 2
        assert len(audio) == pytest.approx(record["video"]["duration_s"] * 44100, abs=2)
        assert Path(record["output_dir"], f"{Path(name).stem}.record.json").is_file()


def test_bad_videos_fail_with_their_reason_and_the_batch_goes_on(batch):
    records = _by_name(batch["result"])
    expected = {
        "empty.mp4": "empty file",
        "notes.mp4": "not a media file",
        "voice.mp4": "no video stream",
        "cut.mp4": "",
        "tiny.avi": "too small",
    }
    for name, fragment in expected.items():
        record = records[name]
        assert record["status"] == "failed", record
        assert name in record["error"] and fragment in record["error"]
    assert batch["result"]["n_ok"] == 3 and batch["result"]["n_failed"] == 5
    # no partial files anywhere in the outputs
    leftovers = [p for p in batch["out"].rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    for name in expected:
        assert not (batch["out"] / Path(name).stem).exists()


def test_preview_envelope_finds_the_ball_impacts(batch):
    record = _by_name(batch["result"])["ball with audio.mp4"]
    scores = record["metrics"]["vs_original_audio"]
    assert scores["onset_f1"] >= 0.6, scores
    assert record["metrics"]["synth_follows_envelope"]["correlation"] > 0.8


def test_run_ids_are_the_prefect_flow_run_ids(batch, prefect_home):
    """Catalog rows and records join to the Prefect run that made them."""
    from prefect.client.orchestration import get_client

    run_id = batch["result"]["run_id"]
    assert batch["result"]["run_id_source"] == "prefect"
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(run_id)  # a made-up id would not be found
        assert client.read_flow(flow_run.flow_id).name == "sonorize"
    table = ds.dataset(batch["result"]["catalog_path"], format="parquet").to_table().to_pydict()
    assert set(table["run_id"]) == {str(flow_run.id)}


def test_run_record_catalog_and_resume(batch, prefect_home):
    from data_catalog.settings import get_settings
    from flows.sonorize_flow import sonorize

    record_path = Path(batch["result"]["record_path"])
    on_disk = json.loads(record_path.read_text())
    assert on_disk["envelope_engine"] == "preview" and on_disk["synth_engine"] == "foley"
    assert {v["status"] for v in on_disk["videos"]} == {"ok", "failed"}
    table = ds.dataset(batch["result"]["catalog_path"], format="parquet").to_table().to_pydict()
    assert set(table["run_id"]) == {batch["result"]["run_id"]}
    assert set(table["status"]) == {"ok", "failed"} and len(table["status"]) == 8
    assert all(isinstance(json.loads(t), dict) for t in table["timings_json"])

    good = batch["videos"] / "ball with audio.mp4"
    wav = Path(_by_name(batch["result"])["ball with audio.mp4"]["outputs"]["wav"])
    before = wav.stat().st_mtime_ns
    again = sonorize(paths=[str(good)], out_dir=str(batch["out"]), prompt="a ball on a wooden floor",
                     envelope_engine="preview")
    assert again["videos"][0]["status"] == "cached" and wav.stat().st_mtime_ns == before
    # a changed setting recomputes
    changed = sonorize(paths=[str(good)], out_dir=str(batch["out"]), prompt="a ball on a metal plate",
                       envelope_engine="preview")
    assert changed["videos"][0]["status"] == "ok" and wav.stat().st_mtime_ns != before
    # a deleted output recomputes too
    Path(changed["videos"][0]["outputs"]["envelope_png"]).unlink()
    third = sonorize(paths=[str(good)], out_dir=str(batch["out"]), prompt="a ball on a metal plate",
                     envelope_engine="preview")
    assert third["videos"][0]["status"] == "ok"
    assert get_settings().catalog_dir.is_dir()


def test_prefect_artifacts_are_published(batch):
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def latest(key):
        async with get_client() as client:
            found = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
            return found[-1] if found else None

    table = asyncio.run(latest("sonorize-videos"))
    summary = asyncio.run(latest("sonorize-summary"))
    assert table is not None and table.type == "table"
    assert summary is not None and summary.type == "markdown" and "sonorize run" in summary.data


def test_output_folder_that_cannot_be_written(batch, tmp_path):
    from flows.sonorize_flow import sonorize

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = sonorize(paths=[str(batch["videos"] / "vfr.mp4")], out_dir=str(blocker / "out"))
    assert result["n_failed"] == 1
    assert "not writable" in result["videos"][0]["error"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through directory permissions")
def test_read_only_output_folder(batch, tmp_path):
    from flows.sonorize_flow import sonorize

    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = sonorize(paths=[str(batch["videos"] / "vfr.mp4")], out_dir=str(locked))
    assert result["n_failed"] == 1 and "not writable" in result["videos"][0]["error"]


def test_unknown_engine_is_a_clear_error(prefect_home, tmp_path):
    from flows.sonorize_flow import sonorize

    with pytest.raises(ValueError, match="unknown envelope engine 'nope'; available: auto, preview, steps, video2rms"):
        sonorize(paths=[str(tmp_path)], out_dir=str(tmp_path / "o"), envelope_engine="nope")


def test_audio_prompt_path(batch, tmp_path):
    from flows.sonorize_flow import sonorize

    prompt = tmp_path / "knock.wav"
    rng = np.random.default_rng(1)
    clicks = np.zeros(44100, np.float32)
    for start in (1000, 15000, 30000):
        clicks[start:start + 2000] = rng.standard_normal(2000) * np.exp(-np.arange(2000) / 300)
    sf.write(prompt, clicks * 0.5, 44100)
    result = sonorize(paths=[str(batch["videos"] / "ball with audio.mp4")], out_dir=str(tmp_path / "o"),
                      audio_prompt=str(prompt))
    record = result["videos"][0]
    assert record["status"] == "ok" and record["engines"]["source"].startswith("sampler: 3 one-shots")
