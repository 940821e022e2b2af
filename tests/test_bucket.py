"""Bucket building blocks: key validation, locations, claim records, quarantine reports.

Claims are exercised on a local folder and on moto's real S3 server on loopback,
with concurrent claimers (threads and processes): exactly one wins each time.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest

from data_catalog.bucket_keys import (BadKeyError, MAX_KEY_CHARS, is_pending_or_hidden, output_folder,
                                      validate_key)
from data_catalog.claims import ClaimBook, new_holder, object_id
from data_catalog.locations import Location, ObjectInfo
from data_catalog.quarantine import error_report, parse_report, quarantine_object


@pytest.mark.parametrize("key", ["a.mp4", "shoots/day 1/take-3.MOV", "ünïcødé/ファイル.mp4", "x" * 196 + ".mp4"])
def test_safe_keys_pass(key):
    assert validate_key(key) == key


@pytest.mark.parametrize("key, reason", [
    ("", "empty"),
    ("../etc/passwd", "traversal"),
    ("a/../../b.mp4", "traversal"),
    ("a/./b.mp4", "traversal"),
    ("/abs/path.mp4", "absolute"),
    ("C:/Windows/x.mp4", "absolute"),
    ("a\\b.mp4", "backslash"),
    ("a//b.mp4", "empty path segment"),
    ("dir/", "empty path segment"),
    ("bad\x00name.mp4", "control"),
    ("new\nline.mp4", "control"),
    ("x" * (MAX_KEY_CHARS + 1), "characters long"),
    ("a/" + "é" * 101 + ".mp4", "bytes long"),
])
def test_unsafe_keys_are_refused_with_the_reason(key, reason):
    with pytest.raises(BadKeyError) as err:
        validate_key(key)
    assert reason in str(err.value)


def test_pending_hidden_and_output_names():
    assert is_pending_or_hidden("clip.mp4.part") and is_pending_or_hidden(".DS_Store")
    assert is_pending_or_hidden("a/.hidden/clip.mp4") and is_pending_or_hidden("x.MP4.TMP")
    assert not is_pending_or_hidden("a/clip.mp4") and not is_pending_or_hidden("../x.mp4")
    assert output_folder("shoots/day1/take3.mp4") == "shoots/day1/take3"
    assert output_folder("noext") == "noext"


def test_local_location_lists_copies_and_writes_whole_objects(tmp_path):
    loc = Location(tmp_path / "bucket")
    loc.put_bytes("a/b.bin", b"hello")
    (tmp_path / "elsewhere.bin").write_bytes(b"x" * 10)
    loc.put_file(tmp_path / "elsewhere.bin", "c.bin")
    listed = loc.list()
    assert [o.key for o in listed] == ["a/b.bin", "c.bin"] and [o.size for o in listed] == [5, 10]
    before = loc.info("a/b.bin")
    time.sleep(0.01)
    loc.put_bytes("a/b.bin", b"hello")  # same bytes, rewritten: a new version locally (mtime)
    assert loc.info("a/b.bin").etag != before.etag
    assert loc.put_exclusive("lock", b"one") and not loc.put_exclusive("lock", b"two")
    assert loc.read_bytes("lock") == b"one"
    assert not [p for p in (tmp_path / "bucket").rglob("*") if p.name.endswith(".tmp")]
    assert loc.info("missing") is None and loc.list("nothing-here") == []
    assert ObjectInfo.from_dict(before.to_dict()) == before


def _claim_in_process(args):
    state_url, info_dict, env = args
    os.environ.update(env)
    book = ClaimBook(Location(state_url))
    return book.claim(ObjectInfo.from_dict(info_dict), "s3://in", new_holder()) is not None


def _race(book: ClaimBook, info: ObjectInfo, n: int = 8) -> list[bool]:
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: book.claim(info, "in", new_holder()) is not None, range(n)))


def _info(key="clip.mp4", etag="e1", size=10) -> ObjectInfo:
    return ObjectInfo(key=key, size=size, etag=etag, modified=datetime.now(timezone.utc))


def test_concurrent_claimers_on_a_folder_only_one_wins(tmp_path):
    book = ClaimBook(Location(tmp_path / "state"))
    assert sum(_race(book, _info())) == 1
    with multiprocessing.get_context("spawn").Pool(4) as pool:  # separate processes, as separate watchers
        wins = pool.map(_claim_in_process, [(str(tmp_path / "state"), _info("p.mp4").to_dict(), {})] * 8)
    assert sum(wins) == 1
    # A new version of the same key is a new object; a takeover is one more exclusive attempt.
    assert book.claim(_info(etag="e2"), "in", "h") is not None
    assert sum(book.claim(_info(), "in", new_holder(), attempt=2) is not None for _ in range(3)) == 1
    assert book.newest_attempt(object_id(_info())) == 2


def test_claim_lifecycle_done_once_and_stale_holder(tmp_path):
    book = ClaimBook(Location(tmp_path / "state"))
    info = _info()
    first = book.claim(info, "in", "holder-a")
    assert book.holds(first) and book.holder_silence_s("holder-a") is None
    book.heartbeat("holder-a", "run-1")
    assert book.holder_silence_s("holder-a") < 5 and book.read_holder("holder-a")["flow_run_id"] == "run-1"
    second = book.claim(info, "in", "holder-b", attempt=2)  # taken over
    assert not book.holds(first) and book.holds(second)
    assert book.mark_done(second, "ok") and not book.mark_done(second, "ok") and not book.mark_done(first, "ok")
    assert not book.holds(second) and book.read_done(object_id(info))["holder"] == "holder-b"
    snap = book.snapshot()
    assert snap.done == {object_id(info)} and snap.attempts == {object_id(info): 2}
    book.release(book.claim(_info("other.mp4"), "in", "h"))
    assert book.newest_attempt(object_id(_info("other.mp4"))) == 0


@pytest.fixture
def moto(shared_moto):
    """The session's moto server (tests/conftest.py); this file's buckets: claims-test, flow-test."""
    return shared_moto


def test_concurrent_claimers_on_s3_only_one_wins(moto, monkeypatch, tmp_path):
    for name, value in moto.env.items():
        monkeypatch.setenv(name, value)
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    s3fs.S3FileSystem().mkdir("claims-test")
    book = ClaimBook(Location("s3://claims-test/state"))
    assert sum(_race(book, _info())) == 1
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        wins = pool.map(_claim_in_process, [("s3://claims-test/state", _info("p.mp4").to_dict(), moto.env)] * 8)
    assert sum(wins) == 1
    claim = book.claim(_info("q.mp4"), "s3://in", "h")
    assert book.mark_done(claim, "ok") and not book.mark_done(claim, "ok")
    # Locations on S3: whole objects, listing with ETags, server-side copies.
    loc = Location("s3://claims-test/data")
    loc.put_bytes("x/y.bin", b"abc")
    assert [(o.key, o.size) for o in loc.list()] == [("x/y.bin", 3)] and loc.list()[0].etag
    (tmp_path / "1.bin").write_bytes(b"one")
    (tmp_path / "2.bin").write_bytes(b"two!")
    loc.put_files({"m/1.bin": tmp_path / "1.bin", "m/2.bin": tmp_path / "2.bin"})
    assert [(o.key, o.size) for o in loc.list("m")] == [("m/1.bin", 3), ("m/2.bin", 4)]
    Location("s3://claims-test/copy").copy_from(loc, "x/y.bin", "z.bin")
    assert Location("s3://claims-test/copy").read_bytes("z.bin") == b"abc"


def test_quarantine_copies_the_original_and_writes_a_readable_report(tmp_path):
    source, quarantine = Location(tmp_path / "in"), Location(tmp_path / "q")
    source.put_bytes("day1/broken.mp4", b"not a video")
    info = source.info("day1/broken.mp4")
    key = quarantine_object(source, quarantine, info, object_id(info), "day1/broken.mp4: no video stream",
                            key_is_safe=True, run_id="run-42", stage="probe")
    assert key == "day1/broken.mp4.error.txt"
    assert quarantine.read_bytes("day1/broken.mp4") == b"not a video"
    report = quarantine.read_bytes(key).decode()
    fields = parse_report(report)
    assert fields["reason"] == "day1/broken.mp4: no video stream" and fields["flow_run"] == "run-42"
    assert fields["object"] == "'day1/broken.mp4'" and fields["size"] == "11" and fields["stage"] == "probe"
    assert report.startswith("sonorize could not process this object.") and "upload it again" in report
    # An unsafe key never names a file: the copy goes under bad-keys/<object id>.
    bad = ObjectInfo(key="../../etc/x.mp4", size=1, etag="e", modified=datetime.now(timezone.utc))
    text = error_report(bad, "s3://b/in", "path traversal")
    assert "'../../etc/x.mp4'" in text
    key = quarantine_object(source, quarantine, bad, "abc123", "traversal", key_is_safe=False)
    assert key == "bad-keys/abc123.error.txt" and "deleted before it could be copied" in quarantine.read_bytes(key).decode()
    assert sorted(p.relative_to(tmp_path / "q").as_posix() for p in (tmp_path / "q").rglob("*") if p.is_file()) == [
        "bad-keys/abc123.error.txt", "day1/broken.mp4", "day1/broken.mp4.error.txt"]


def test_gpu_engines_are_tagged_for_the_gpu_concurrency_limit():
    from prefect.context import TagsContext

    from flows.video_pipeline import GPU_ENVELOPE_ENGINES, gpu_tag

    with gpu_tag("video2rms" in GPU_ENVELOPE_ENGINES):
        assert "gpu" in TagsContext.get().current_tags
    with gpu_tag("preview" in GPU_ENVELOPE_ENGINES):
        assert "gpu" not in TagsContext.get().current_tags


@pytest.mark.skipif(__import__("shutil").which("ffmpeg") is None, reason="ffmpeg not on PATH")
def test_sonorize_flow_reads_and_writes_s3_urls(moto, monkeypatch, tmp_path):
    """`sonorize` on an s3:// prefix (no watcher): same relative names out, failures quarantined."""
    from media_factory import pattern_clip

    for name, value in moto.env.items():
        monkeypatch.setenv(name, value)
    import s3fs

    from flows.sonorize_flow import sonorize

    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem()
    fs.mkdir("flow-test")
    fs.put_file(str(pattern_clip(tmp_path / "a.mp4", seconds=1.0, size="64x48")), "flow-test/in/shoot/a.mp4")
    fs.pipe_file("flow-test/in/broken.mp4", b"not a video")
    fs.pipe_file("flow-test/in/notes.txt", b"ignored: not a video name")
    run = sonorize(paths=["s3://flow-test/in"], out_dir="s3://flow-test/out", quarantine_dir="s3://flow-test/q",
                   envelope_engine="preview")
    assert (run["n_videos"], run["n_ok"], run["n_failed"]) == (2, 1, 1), run["videos"]
    fs.invalidate_cache()
    names = sorted(p.split("/out/", 1)[1] for p in fs.find("flow-test/out"))
    assert [n for n in names if not n.startswith("sonorize-run-")] == sorted(
        f"shoot/a/a{s}" for s in (".foley.wav", ".foley.mp4", ".envelope.csv", ".envelope.json", ".envelope.png",
                                  ".labels.txt", ".record.json", ".owner.json"))
    assert sum(n.startswith("sonorize-run-") for n in names) == 1
    report = parse_report(fs.cat_file("flow-test/q/broken.mp4.error.txt").decode())
    assert report["reason"].startswith("s3://flow-test/in/broken.mp4: ") and report["stage"] == "processing"


def test_watcher_quarantines_a_video_whose_runs_keep_dying_and_waits_for_fresh_uploads(tmp_path):
    """One poll on a folder bucket (ephemeral Prefect): no batch run needs starting here."""
    from flows.watcher_flow import watch_bucket

    incoming = Location(tmp_path / "incoming")
    incoming.put_bytes("poison.mp4", b"kills its worker every time")
    incoming.put_bytes("fresh.mp4", b"still being copied")
    old = time.time() - 3600
    os.utime(tmp_path / "incoming" / "poison.mp4", (old, old))
    book = ClaimBook(Location(tmp_path / "sonorize-state"))
    poison = incoming.info("poison.mp4")
    for attempt in (1, 2, 3):  # three runs claimed it and died (their heartbeats are an hour old)
        claim = book.claim(poison, incoming.url, f"dead-{attempt}", attempt)
        book.state.put_bytes(f"holders/dead-{attempt}.json", json.dumps(
            {"holder": f"dead-{attempt}", "flow_run_id": None, "heartbeat_at": "2026-01-01T00:00:00+00:00"}).encode())
    result = watch_bucket(input_url=str(tmp_path / "incoming"), min_age_s=60, lease_s=30, max_attempts=3)
    counts = result["counts"]
    assert (counts["given_up"], counts["settling"], counts["claimed"], result["batch_runs"]) == (1, 1, 0, [])
    report = parse_report((tmp_path / "quarantine" / "poison.mp4.error.txt").read_text())
    assert report["stage"] == "retries" and "3 batch runs stopped" in report["reason"]
    assert book.read_done(claim.object_id)["status"] == "quarantined"
    again = watch_bucket(input_url=str(tmp_path / "incoming"), min_age_s=60)
    assert again["counts"]["done"] == 1 and again["counts"]["given_up"] == 0


def test_bucket_keys_with_one_stem_never_share_an_output_folder(tmp_path):
    """`a.mp4` and `a.mov` in one prefix: each keeps its own folder, in this run and the next."""
    from media_factory import pattern_clip

    from data_catalog.locations import Location
    from flows.bucket_video import BucketTargets, process_object
    from flows.video_options import VideoOptions

    source, out = tmp_path / "in", tmp_path / "out"
    (source / "x").mkdir(parents=True)
    pattern_clip(source / "x" / "a.mp4", seconds=1.0, size="64x48")
    pattern_clip(source / "x" / "a.mov", seconds=1.0, size="64x48")
    targets = BucketTargets(output_url=str(out))
    options = VideoOptions(envelope_engine="preview")
    folders = {}
    for _ in range(2):  # the second run re-processes both: same folders, nothing crossed over
        for key in ("x/a.mp4", "x/a.mov"):
            record = process_object(str(source), Location(str(source)).info(key), targets, options)
            assert record["status"] == "ok", record
            folders.setdefault(key, set()).add(record["output_dir"])
    assert folders == {"x/a.mp4": {str(out / "x" / "a")}, "x/a.mov": {str(out / "x" / "a-2")}}
    assert json.loads((out / "x" / "a-2" / "a-2.owner.json").read_text())["object_key"] == "x/a.mov"
    assert (out / "x" / "a-2" / "a-2.foley.wav").is_file() and (out / "x" / "a" / "a.foley.wav").is_file()
