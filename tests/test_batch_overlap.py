"""An overlapped batch (the next video's analysis beside the current one's outputs): same results (issue 19)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from data_catalog.atomic import is_temporary_name, json_text
from data_catalog.errors import SonorizeInputError
from data_catalog.examples import make_bouncing_ball_video
from data_catalog.settings import get_settings
from flows.fan_out import VideoItem, overlap_batch
from flows.per_item import failed_record, for_each_item_overlapped
from flows.progress import BatchProgress
from flows.video_options import VideoOptions
from media_factory import pattern_clip

REPO = Path(__file__).resolve().parents[1]
TIMING_FIELDS = ("wall_s", "timings")  # differ from run to run; everything else must not


class Progress:
    """Records what the loop reports (a BatchProgress stand-in)."""

    def __init__(self):
        self.stages, self.finished = [], []

    def stage(self, name, text, key=None):
        self.stages.append((name, text))

    def done(self, name, status, key=None):
        self.finished.append((name, status))


# --- the loop ---------------------------------------------------------------------------------

def test_the_next_first_half_runs_beside_this_second_half_two_at_most_in_order():
    lock = threading.Lock()
    in_flight, most, firsts_at_once, most_firsts = set(), [0], [0], [0]
    first_started = {i: threading.Event() for i in range(5)}
    beside = []

    def first(item, note):
        with lock:
            in_flight.add(item)
            most[0] = max(most[0], len(in_flight))
            firsts_at_once[0] += 1
            most_firsts[0] = max(most_firsts[0], firsts_at_once[0])
        first_started[item].set()
        note("analysing")
        with lock:
            firsts_at_once[0] -= 1
        return item * 10

    def then(item, value, note):
        if item + 1 in first_started:  # the next item's first half starts while this one is finished
            beside.append(first_started[item + 1].wait(timeout=60))
        note("writing")
        with lock:
            in_flight.discard(item)
        return {"item": item, "value": value, "status": "ok"}

    progress = Progress()
    results = for_each_item_overlapped(range(5), first, then, failed_record("item"), label=lambda i: f"/v/{i}.mp4",
                                       progress=progress, logger=logging.getLogger("sonorize"))
    assert [r["value"] for r in results] == [0, 10, 20, 30, 40]
    assert beside == [True] * 4
    assert most[0] <= 2 and most_firsts[0] == 1  # two videos in flight at most; analyses one at a time
    assert progress.finished == [(f"{i}.mp4", "ok") for i in range(5)]
    assert all(r["wall_s"] >= 0 for r in results)


def test_failures_of_either_half_are_recorded_in_order_and_the_others_finish(caplog):
    def first(path, note):
        if path.endswith("bad.mp4"):
            raise SonorizeInputError(path, "no video stream")
        if path.endswith("bug.mp4"):
            return 1 / 0
        return path

    def then(path, value, note):
        if path.endswith("late.mp4"):
            raise SonorizeInputError(path, "cannot write")
        return {"video_path": value, "status": "ok"}

    paths = ["/v/a.mp4", "/v/bad.mp4", "/v/bug.mp4", "/v/late.mp4", "/v/z.mp4"]
    progress = Progress()
    with caplog.at_level(logging.ERROR, logger="sonorize"):
        results = for_each_item_overlapped(paths, first, then, failed_record("video_path"), label=str,
                                           progress=progress, logger=logging.getLogger("sonorize"))
    assert [r["status"] for r in results] == ["ok", "failed", "failed", "failed", "ok"]
    assert results[1]["error"] == "/v/bad.mp4: no video stream"
    assert results[2]["error"] == "/v/bug.mp4: internal error ZeroDivisionError: division by zero"
    assert results[3]["error"] == "/v/late.mp4: cannot write"
    assert [name for name, _ in progress.finished] == ["a.mp4", "bad.mp4", "bug.mp4", "late.mp4", "z.mp4"]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "unexpected error on /v/bug.mp4" in logged and "1 / 0" in logged  # the bug's own traceback
    assert "bad.mp4" not in logged  # a user's error is its one line, no traceback


def test_ctrl_c_stops_at_once_while_the_next_video_is_analysed(tmp_path):
    """The analysis thread never keeps the command alive: Ctrl-C leaves as in a sequential batch."""
    script = (
        "import threading\n"
        "from flows.per_item import for_each_item_overlapped, failed_record\n"
        "class P:\n"
        "    def stage(self, *a, **k): pass\n"
        "    def done(self, *a, **k): pass\n"
        "def first(item, note):\n"
        "    if item == 1: threading.Event().wait()  # an analysis that would never end\n"
        "    return item\n"
        "def then(item, value, note):\n"
        "    raise KeyboardInterrupt\n"
        "try:\n"
        "    for_each_item_overlapped([0, 1], first, then, failed_record('item'), label=str, progress=P())\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "interrupted" in proc.stdout


def test_progress_shows_both_videos_in_flight():
    progress = BatchProgress(2, enabled=False)
    progress.stage("a.mp4", "synthesis", key=0)
    progress.stage("a.mp4", "envelope", key=1)  # the same file name in another folder
    assert progress.line == "a.mp4: synthesis | a.mp4: envelope"
    progress.done("a.mp4", "ok", key=0)
    assert progress.line == "a.mp4: ok | a.mp4: envelope"
    progress.stage("a.mp4", "synthesis", key=1)
    assert progress.line == "a.mp4: synthesis"


def test_which_batches_overlap():
    local = [VideoItem(local_path=f"/v/{n}.mp4", stem=n) for n in "ab"]
    bucket = [VideoItem(source_url="s3://b/in", info=None), local[0]]
    cpu, out = VideoOptions(), Path("/out")
    assert overlap_batch(None, local, out, "none", cpu, in_flow_run=False)
    assert not overlap_batch(False, local, out, "none", cpu, in_flow_run=False)
    assert not overlap_batch(None, local[:1], out, "none", cpu, in_flow_run=False)  # one video: nothing beside it
    assert not overlap_batch(None, local, out, "dask", cpu, in_flow_run=False)
    assert not overlap_batch(None, local, out, "none", cpu, in_flow_run=True)  # task runs belong to the flow run
    assert not overlap_batch(True, bucket, None, "none", cpu, in_flow_run=False)  # downloads, uploads, claims
    for gpu in (VideoOptions(synth_engine="sao"), VideoOptions(synth_engine="folai"), VideoOptions(encoder="motion")):
        assert not overlap_batch(None, local, out, "none", gpu, in_flow_run=False)
        assert overlap_batch(True, local, out, "none", gpu, in_flow_run=False)  # asked for


# --- a real batch, both ways ------------------------------------------------------------------

@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    make_bouncing_ball_video(folder / "ball.mp4", duration_s=2.5, with_audio=True)
    pattern_clip(folder / "pattern.mp4", seconds=2.0, audio=True)
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    make_bouncing_ball_video(folder / "silent.mp4", duration_s=2.0, size=(160, 120))
    return folder


def _run(videos: Path, home: Path, overlap: bool, monkeypatch) -> dict:
    """The batch as ``sonorize run`` runs it without a server, caches and catalog of its own."""
    from flows.sonorize_flow import sonorize

    monkeypatch.setenv("SONORIZE_CACHE_DIR", str(home / "cache"))  # nothing computed by the other run
    monkeypatch.setenv("SONORIZE_CATALOG_DIR", str(home / "catalog"))
    get_settings.cache_clear()
    return sonorize(paths=[str(videos)], out_dir=str(home / "out"), prefect=False, overlap=overlap)


def _files(out: Path) -> dict[str, str]:
    """SHA-256 of every output file but the records (they hold timings), by relative path."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*"))
            if p.is_file() and not p.name.endswith(".record.json") and not p.name.startswith("sonorize-run-")}


def _untimed(record: dict, home: Path) -> dict:
    """The record as its JSON file holds it (NaN as null), without timings, its folder named HOME."""
    text = json_text({k: v for k, v in record.items() if k not in TIMING_FIELDS})
    return json.loads(text.replace(str(home), "HOME"))


def test_an_overlapped_batch_gives_what_the_sequential_one_gives(videos, tmp_path, isolated_settings, monkeypatch,
                                                                  caplog):
    with caplog.at_level(logging.INFO, logger="sonorize"):
        sequential = _run(videos, tmp_path / "sequential", False, monkeypatch)
        overlapped = _run(videos, tmp_path / "overlapped", True, monkeypatch)
    assert "overlapped" in "\n".join(r.getMessage() for r in caplog.records)  # it did run overlapped
    statuses = {Path(v["video_path"]).name: v["status"] for v in overlapped["videos"]}
    assert statuses == {"ball.mp4": "ok", "broken.mp4": "failed", "pattern.mp4": "ok", "silent.mp4": "ok"}
    assert [v["video_path"] for v in overlapped["videos"]] == [v["video_path"] for v in sequential["videos"]]

    seq_files, ov_files = _files(tmp_path / "sequential" / "out"), _files(tmp_path / "overlapped" / "out")
    assert {Path(name).name for name in ov_files} >= {"ball.foley.wav", "pattern.envelope.csv", "silent.labels.txt"}
    assert ov_files == seq_files  # WAVs, MP4s, envelope CSVs and sidecars, plots, labels: the same bytes
    for seq, ov in zip(sequential["videos"], overlapped["videos"], strict=True):
        assert _untimed(ov, tmp_path / "overlapped") == _untimed(seq, tmp_path / "sequential")
        if ov["status"] == "ok":  # the record written beside the outputs too
            written = json.loads(Path(ov["output_dir"], f"{Path(ov['video_path']).stem}.record.json").read_text())
            assert _untimed(written, tmp_path / "overlapped") == _untimed(ov, tmp_path / "overlapped")
    batch_fields = ("n_videos", "n_ok", "n_failed", "n_skipped", "fan_out", "options", "engines")
    assert {k: overlapped[k] for k in batch_fields} == {k: sequential[k] for k in batch_fields}

    def rows(home: Path) -> list[dict]:
        table = ds.dataset(home / "catalog" / "video_runs", format="parquet").to_table().to_pylist()
        drop = ("run_id", "started_at", "wall_s", "timings_json")
        return [json.loads(json.dumps({k: v for k, v in r.items() if k not in drop}, default=str)
                           .replace(str(home), "HOME")) for r in table]

    assert rows(tmp_path / "overlapped") == rows(tmp_path / "sequential")


KILLABLE_SCRIPT = """
import sys
from flows.cli import app
app(["run", sys.argv[1], "--out", sys.argv[2], "--overlap"])
"""


def test_a_killed_overlapped_batch_resumes(videos, tmp_path):
    """Killed once the first video is written (the second being analysed): the re-run keeps what was done."""
    env = {k: v for k, v in os.environ.items() if k.upper() != "PREFECT_API_URL"}
    env.update(SONORIZE_CACHE_DIR=str(tmp_path / "cache"), SONORIZE_CATALOG_DIR=str(tmp_path / "catalog"),
               PYTHONPATH=str(REPO))
    out = tmp_path / "out"
    first_record = out / "ball" / "ball.record.json"
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE_SCRIPT, str(videos), str(out)], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not first_record.is_file() and proc.poll() is None:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert first_record.is_file()
    rerun = subprocess.run([sys.executable, "-c", KILLABLE_SCRIPT, str(videos), str(out)], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 1, rerun.stderr[-2000:]  # the broken file fails again; the others finish
    records = {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/*.record.json")}
    assert set(records) == {"ball", "pattern", "silent"}
    assert all(set(r["outputs"]) and all(Path(f).is_file() for f in r["outputs"].values()) for r in records.values())
    assert not [p for p in out.rglob("*") if is_temporary_name(p.name)]  # no half-written file left
    run = json.loads(max(out.glob("sonorize-run-*.json"), key=lambda p: p.stat().st_mtime_ns).read_text())
    assert {Path(v["video_path"]).name: v["status"] for v in run["videos"]}["ball.mp4"] == "cached"
