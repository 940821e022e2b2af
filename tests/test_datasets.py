"""Dataset adapters, splits, catalog tables, envelope targets and the preprocess flow.

Fake dataset layouts are built in temporary folders (listing reads names and
metadata only, so most videos here are empty files); the flow test makes a
few tiny real clips with ffmpeg. Nothing from ../shared is copied.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from data_catalog.datasets import DATASETS, FolderAdapter, get_dataset_adapter
from data_catalog.datasets import splits as split_rules
from data_catalog.datasets.greatest_hits import parse_times_file
from data_catalog.datasets.walking_the_maps import parse_clip_name
from data_catalog.errors import SonorizeInputError

GH_IDS = [f"2015-{m:02d}-{d:02d}-12-00-00-{n}" for m in range(1, 10) for d in range(1, 29) for n in range(4)][:977]


def _touch(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _gh_folder(root: Path, ids: list[str], times: str = "1.0 wood hit static\n") -> Path:
    for video_id in ids:
        _touch(root / f"{video_id}_denoised.mp4")
        _touch(root / f"{video_id}_times.txt", times)
    return root


# -- splits ----------------------------------------------------------------------------------

def test_split_counts_follow_folai_and_scale():
    assert split_rules.split_counts(977) == {"train": 732, "val": 49, "test": 196}
    for n in (0, 1, 10, 100, 978, 5000):
        counts = split_rules.split_counts(n)
        assert sum(counts.values()) == n
    assert split_rules.split_counts(100) == {"train": 75, "val": 5, "test": 20}


def test_seeded_split_is_deterministic_and_order_independent():
    ids = [f"id{i}" for i in range(977)]
    first = split_rules.assign_by_counts(ids)
    assert Counter(first.values()) == {"train": 732, "val": 49, "test": 196}
    assert split_rules.assign_by_counts(list(reversed(ids))) == first
    assert split_rules.assign_by_counts(ids, seed=1) != first
    # adding one id moves no other id into or out of the held-out sets by more than a couple
    more = split_rules.assign_by_counts([*ids, "id-new"])
    moved = sum(first[i] != more[i] for i in ids)
    assert moved <= 3


def test_group_split_keeps_groups_together():
    groups = {f"vid{g}": [f"vid{g}_{k}" for k in range(1 + g % 5)] for g in range(40)}
    splits = split_rules.assign_groups(groups)
    assert splits == split_rules.assign_groups(dict(reversed(list(groups.items()))))
    for members in groups.values():
        assert len({splits[m] for m in members}) == 1
    counts = Counter(splits.values())
    total = sum(counts.values())
    assert set(counts) == {"train", "val", "test"}
    assert abs(counts["train"] / total - 732 / 977) < 0.1 and abs(counts["test"] / total - 196 / 977) < 0.1


def test_split_file_round_trip_and_errors(tmp_path):
    record = split_rules.split_record("x", {"a": "train", "b": "test"}, method="m", seed=0)
    path = split_rules.write_split_file(tmp_path / "s.json", record)
    assert split_rules.load_split_file(path, ["a", "b"]) == {"a": "train", "b": "test"}
    lists = _touch(tmp_path / "lists.json", json.dumps({"train": ["a"], "test": ["b"]}))
    assert split_rules.load_split_file(lists, ["b"]) == {"b": "test"}
    with pytest.raises(SonorizeInputError, match="not in the split file"):
        split_rules.load_split_file(path, ["a", "c"])
    with pytest.raises(SonorizeInputError, match="unknown split"):
        split_rules.load_split_file(_touch(tmp_path / "bad.json", '{"splits": {"a": "dev"}}'), ["a"])
    with pytest.raises(SonorizeInputError, match="not readable JSON"):
        split_rules.load_split_file(_touch(tmp_path / "broken.json", "{"), ["a"])


# -- Greatest Hits ---------------------------------------------------------------------------

def test_greatest_hits_split_is_732_49_196_and_reproducible(tmp_path):
    root = _gh_folder(tmp_path / "vis-data", GH_IDS)
    adapter = get_dataset_adapter("greatest-hits")
    items = adapter.items(root)
    assert len(items) == 977 and [i.item_id for i in items] == sorted(GH_IDS)
    assert Counter(i.split for i in items) == {"train": 732, "val": 49, "test": 196}
    assert all(adapter.split_of(i) == i.split for i in items)
    again = get_dataset_adapter("greatest_hits").items(root)
    assert [i.split for i in again] == [i.split for i in items]
    # the recorded split pins the assignment, even for another seed
    record = split_rules.write_split_file(tmp_path / "split.json", adapter.split_record())
    pinned = get_dataset_adapter("greatest_hits", split_file=record, seed=7).items(root)
    assert [i.split for i in pinned] == [i.split for i in items]
    assert json.loads(record.read_text())["counts"] == {"train": 732, "val": 49, "test": 196}


def test_greatest_hits_official_lists_give_train_test_and_carve_val(tmp_path):
    ids = GH_IDS[:100]
    root = _gh_folder(tmp_path, ids)
    _touch(root / "train.txt", "\n".join(f"{i}_denoised" for i in ids[:80]) + "\n")
    _touch(root / "test.txt", "\n".join(ids[80:]) + "\n")
    adapter = get_dataset_adapter("greatest_hits")
    items = {i.item_id: i.split for i in adapter.items(root)}
    assert all(items[i] == "test" for i in ids[80:])
    assert Counter(items[i] for i in ids[:80]) == {"train": 75, "val": 5}
    assert "official lists" in adapter.split_record()["method"]
    _touch(root / "test.txt", "\n".join(ids[81:]) + "\n")
    with pytest.raises(SonorizeInputError, match="in none of"):
        adapter.items(root)
    _touch(root / "test.txt", "\n".join(ids[79:]) + "\n")
    with pytest.raises(SonorizeInputError, match="also listed for 'train'"):
        adapter.items(root)


def test_greatest_hits_prompts_from_annotations(tmp_path):
    video_id = GH_IDS[0]
    times = ("1.0 wood hit static\n2.5 wood hit static\n3.0 None None None\n"
             "12.0 metal scratch static\n31.0 wood scratch static\n")
    root = _gh_folder(tmp_path, [video_id], times)
    _touch(root / f"{video_id}_mic.mp4")
    adapter = get_dataset_adapter("greatest_hits")
    (item,) = adapter.items(root)
    assert item.video_path.endswith("_denoised.mp4")  # preferred over _mic
    assert (item.material, item.action) == ("wood", "hit") and len(item.hits) == 5
    assert item.prompt == "A person hit multiple times on wood with a wooden stick"
    chunks = adapter.chunks(item, duration_s=25.0)
    assert [(c.start_s, c.duration_s) for c in chunks] == [(0.0, 10.0), (10.0, 10.0)]  # partial tail dropped
    assert [c.n_hits for c in chunks] == [3, 1]
    assert chunks[0].prompt == "A person hit multiple times on wood with a wooden stick"
    assert chunks[1].prompt == "A person hit once on wood with a wooden stick"
    mic_only = get_dataset_adapter("greatest_hits", prefer="mic").items(root)[0]
    assert mic_only.video_path.endswith("_mic.mp4")


def test_greatest_hits_errors_name_the_file(tmp_path):
    root = _gh_folder(tmp_path / "a", GH_IDS[:3])
    bad = _touch(root / "holiday.mp4")
    with pytest.raises(SonorizeInputError, match="not a Greatest Hits video name") as error:
        get_dataset_adapter("greatest_hits").items(root)
    assert str(bad) in str(error.value)
    bad.unlink()
    (root / f"{GH_IDS[1]}_times.txt").unlink()
    with pytest.raises(SonorizeInputError, match="annotation file is missing"):
        get_dataset_adapter("greatest_hits").items(root)
    _touch(root / f"{GH_IDS[1]}_times.txt", "1.0 wood hit\n")
    with pytest.raises(SonorizeInputError, match="line 1: expected"):
        get_dataset_adapter("greatest_hits").items(root)
    assert parse_times_file(_touch(tmp_path / "t.txt", "\n0.5 rock hit static\n"))[0].time_s == 0.5


# -- Walking The Maps ------------------------------------------------------------------------

def test_walking_the_maps_names_parse():
    assert parse_clip_name("dQw4w9WgXcQ_12_20.5.mp4") == ("dQw4w9WgXcQ", 12.0, 20.5)
    assert parse_clip_name("/x/a_b-c1234_0_2.04.mp4") == ("a_b-c1234", 0.0, 2.04)
    for name, reason in [("clip.mp4", "not a Walking The Maps clip name"), ("abc_x_3.mp4", "clip name"),
                         ("abc_5_3.mp4", "not after its start"), ("abc_5.mp4", "clip name")]:
        with pytest.raises(SonorizeInputError, match=reason) as error:
            parse_clip_name(f"/data/{name}")
        assert f"/data/{name}" in str(error.value)


def test_walking_the_maps_split_by_video_id(tmp_path):
    names = [f"vid{g:08d}AB_{10 * k}_{10 * k + 2 + g % 7}" for g in range(30) for k in range(1 + g % 4)]
    for name in names:
        _touch(tmp_path / ("game-a" if len(name) % 2 else "game-b") / f"{name}.mp4")
    adapter = get_dataset_adapter("walking-the-maps")
    items = adapter.items(tmp_path)
    assert len(items) == len(names) and items[0].chunk_s == 2.0 and items[0].prompt == "footstep sounds"
    by_group: dict[str, set[str]] = {}
    for item in items:
        by_group.setdefault(item.group, set()).add(item.split)
    assert all(len(s) == 1 for s in by_group.values())
    assert set(Counter(i.split for i in items)) == {"train", "val", "test"}
    assert [i.split for i in get_dataset_adapter("walking-the-maps").items(tmp_path)] == [i.split for i in items]
    chunks = adapter.chunks(items[0], duration_s=7.3)
    assert [c.start_s for c in chunks] == [0.0, 2.0, 4.0] and all(c.duration_s == 2.0 for c in chunks)
    (short,) = adapter.chunks(items[0], duration_s=1.5)
    assert short.duration_s == 1.5  # a clip shorter than a chunk is one chunk, not lost

    _touch(tmp_path / "game-a" / "trailer.mp4")
    with pytest.raises(SonorizeInputError, match="trailer.mp4"):
        adapter.items(tmp_path)


def test_split_file_cannot_put_one_video_id_in_two_splits(tmp_path):
    for name in ("abcdefghijk_0_3", "abcdefghijk_5_9"):
        _touch(tmp_path / f"{name}.mp4")
    split_file = _touch(tmp_path.parent / "wtm-split.json",
                        json.dumps({"splits": {"abcdefghijk_0_3": "train", "abcdefghijk_5_9": "test"}}))
    with pytest.raises(SonorizeInputError, match="both 'train' and 'test'"):
        get_dataset_adapter("walking_the_maps", split_file=split_file).items(tmp_path)


# -- generic folder --------------------------------------------------------------------------

def test_folder_adapter_with_labels_and_holdouts(tmp_path):
    for stem in ("a_mic", "b_mic", "c", "d"):
        _touch(tmp_path / "videos" / f"{stem}.mp4")
    _touch(tmp_path / "labels.csv", "video,material,action,reaction\na_mic,plastic-bag,scratch,deform\n"
                                    "b_mic.mp4,wood,hit,static\n\nghost,metal,hit,static\n")
    adapter = get_dataset_adapter("folder")
    items = {i.item_id: i for i in adapter.items(tmp_path)}
    assert {i.split for i in items.values()} == {"all"}
    assert items["a_mic"].prompt == "A person scratch multiple times on plastic bag with a wooden stick"
    assert (items["b_mic"].material, items["b_mic"].action, items["b_mic"].reaction) == ("wood", "hit", "static")
    assert items["c"].prompt is None and items["c"].material is None

    held = FolderAdapter(holdout_fraction=0.5, seed=3)
    first = {i.item_id: i.split for i in held.items(tmp_path)}
    assert Counter(first.values()) == {"train": 2, "test": 2}
    assert {i.item_id: i.split for i in FolderAdapter(holdout_fraction=0.5, seed=3).items(tmp_path)} == first
    listed = {i.item_id: i.split for i in FolderAdapter(holdout=["c.mp4"], holdout_split="val").items(tmp_path)}
    assert listed == {"a_mic": "train", "b_mic": "train", "c": "val", "d": "train"}
    _touch(tmp_path.parent / "hold.txt", "d\n")
    from_file = FolderAdapter(holdout=tmp_path.parent / "hold.txt").items(tmp_path)
    assert [i.item_id for i in from_file if i.split == "test"] == ["d"]
    with pytest.raises(SonorizeInputError, match="not in the folder"):
        FolderAdapter(holdout=["zzz"]).items(tmp_path)
    with pytest.raises(ValueError, match="not both"):
        FolderAdapter(holdout=["c"], holdout_fraction=0.2)


@pytest.mark.parametrize("text, reason", [
    ("video,material,action\na,wood,hit\n", "lacks column"),
    ("video,material,action,reaction\na,wood,hit,static\na,metal,hit,static\n", "listed twice"),
    ("video,material,action,reaction\na,wood,hit\n", "line 2: 3 cells"),
    ("video,material,action,reaction\n,wood,hit,static\n", "video cell is empty"),
    ("", "no header"),
])
def test_malformed_labels_csv_is_a_clear_error(tmp_path, text, reason):
    _touch(tmp_path / "a.mp4")
    labels = _touch(tmp_path / "labels.csv", text)
    with pytest.raises(SonorizeInputError, match=reason) as error:
        get_dataset_adapter("folder").items(tmp_path)
    assert str(labels) in str(error.value)


def test_folder_errors_name_the_path(tmp_path):
    cases = [(tmp_path / "missing", "does not exist"), (tmp_path / "empty", "is empty"),
             (tmp_path / "docs", "no video files")]
    (tmp_path / "empty").mkdir()
    _touch(tmp_path / "docs" / "readme.txt", "hi")
    for name in DATASETS:
        for path, reason in cases:
            with pytest.raises(SonorizeInputError, match=reason) as error:
                get_dataset_adapter(name).items(path)
            assert str(path) in str(error.value)
    _touch(tmp_path / "v" / "a.mp4")
    with pytest.raises(SonorizeInputError, match="labels file does not exist"):
        get_dataset_adapter("folder", labels="mine.csv").items(tmp_path / "v")
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        get_dataset_adapter("nope")
    with pytest.raises(ValueError, match="colour"):
        get_dataset_adapter("greatest_hits", colour="red")
    with pytest.raises(ValueError, match="folder name"):
        get_dataset_adapter("folder", name="my data")


def test_adapter_names_are_feature_cache_partitions(tmp_path):
    from data_catalog.feature_cache import FeatureCache, FeatureKey

    key = FeatureKey("ab" * 32, "motion", "none", 30.0, 300)
    for name, cls in DATASETS.items():
        assert cls.name == name
        assert FeatureCache(tmp_path).path_for(key, dataset=name, split="train").parts[-4] == f"dataset={name}"
    assert get_dataset_adapter("walking_the_maps").name == "walking-the-maps"


# -- envelope targets and tables -------------------------------------------------------------

def test_target_cache_round_trip_and_corruption(tmp_path):
    from data_catalog.targets import TargetCache, TargetSpec

    cache = TargetCache(tmp_path)
    sha = "ab" * 32
    envelope = np.linspace(0, 0.5, 250).astype(np.float32)
    path = cache.put(sha, envelope, covered_s=1.0, source_duration_s=2.0)
    target = cache.get(sha)
    assert np.array_equal(target.envelope, envelope) and target.frame_rate == 125.0
    assert target.covered.sum() == 125 and cache.contains(sha)
    assert TargetCache(tmp_path, TargetSpec(version=2)).get(sha) is None  # another spec, another entry
    assert cache.open_dataset().to_table().num_rows == 250
    path.write_bytes(path.read_bytes()[:100])
    assert cache.get(sha) is None and not path.exists()
    with pytest.raises(ValueError, match=">= 0"):
        cache.put(sha, -envelope - 1, covered_s=1.0)


def test_tables_keep_the_newest_run_per_item_and_skip_identical_writes(tmp_path):
    from datetime import datetime, timedelta, timezone

    from data_catalog import dataset_tables as tables

    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def rows(split, t):
        return [{"dataset": "d", "split": split, "item_id": "a", "status": "ok", "feature_encoder": "motion",
                 "run_id": str(t), "created_at": t},
                {"dataset": "d", "split": "train", "item_id": "b", "status": "ok", "feature_encoder": "motion",
                 "run_id": str(t), "created_at": t}]

    assert tables.write_videos(rows("train", t0), run_stamp="20260101T000000Z-r1", catalog_dir=tmp_path)
    t1 = t0 + timedelta(hours=1)
    assert tables.write_videos(rows("train", t1), run_stamp="20260101T010000Z-r2", catalog_dir=tmp_path) is None
    t2 = t0 + timedelta(hours=2)
    assert tables.write_videos(rows("test", t2)[:1], run_stamp="20260101T020000Z-r3", catalog_dir=tmp_path)
    current = tables.read_videos(tmp_path)
    assert isinstance(current, pa.Table) and current.schema == tables.VIDEOS_SCHEMA
    assert dict(zip(current["item_id"].to_pylist(), current["split"].to_pylist())) == {"a": "test", "b": "train"}
    assert tables.read_videos(tmp_path, split="train")["item_id"].to_pylist() == ["b"]
    assert tables.read_videos(tmp_path, latest=False).num_rows == 3
    assert tables.read_chunks(tmp_path).num_rows == 0


# -- the preprocess flow ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    from media_factory import ffmpeg, pattern_clip

    from data_catalog.examples import make_bouncing_ball_video

    root = tmp_path_factory.mktemp("tiny-dataset")
    make_bouncing_ball_video(root / "ball_a.mp4", duration_s=2.5, with_audio=True, size=(160, 120))
    make_bouncing_ball_video(root / "ball_b.mp4", duration_s=2.0, with_audio=True, size=(160, 120))
    pattern_clip(root / "silent.mp4", seconds=1.0)
    # audio that stops after 1 s of a 3 s picture (no -shortest)
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30:duration=3", "-f", "lavfi",
           "-i", "sine=frequency=440:duration=1", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
           str(root / "early.mp4"))
    _touch(root / "labels.csv", "video,material,action,reaction\nball_a,wood,hit,static\n")
    return root


@pytest.mark.needs_ffmpeg
def test_preprocess_builds_tables_caches_and_resumes_without_decoding(tiny_dataset, monkeypatch):
    from data_catalog import dataset_tables as tables
    from flows.preprocess_flow import preprocess

    options = {"name": "tiny", "chunk_s": 1.0}
    cold = preprocess(dataset="folder", root=str(tiny_dataset), options=options)
    status = {r["item_id"]: r["status"] for r in cold["items"]}
    assert status == {"ball_a": "ok", "ball_b": "ok", "early": "ok", "silent": "failed"}
    assert cold["n_failed"] == 1 and "no audio stream" in cold["failures"][0]["error"]
    assert "silent.mp4" in cold["failures"][0]["error"]
    (note,) = cold["notes"]
    assert note.startswith("early: audio ends early")

    videos = tables.read_videos(dataset="tiny")
    ok = {r["item_id"]: r for r in videos.to_pylist() if r["status"] == "ok"}
    assert set(ok) == {"ball_a", "ball_b", "early"}
    assert ok["ball_a"]["prompt"] == "A person hit multiple times on wood with a wooden stick"
    assert ok["early"]["audio_complete"] is False and ok["early"]["audio_duration_s"] == pytest.approx(1.0, abs=0.1)
    assert ok["ball_a"]["n_target_frames"] == 312 and ok["ball_a"]["feature_encoder"] == "motion+opencv"
    chunks = tables.read_chunks(dataset="tiny").to_pylist()
    assert [c["chunk_index"] for c in chunks if c["item_id"] == "ball_a"] == [0, 1]
    assert [c["audio_complete"] for c in chunks if c["item_id"] == "early"] == [True, False, False]
    assert {(c["feature_frames"], c["target_frames"]) for c in chunks} == {(30, 125)}
    arrays = tables.load_video_arrays(ok["ball_a"])
    assert arrays is not None and arrays[0].shape[0] == ok["ball_a"]["n_feature_frames"]
    assert arrays[1].shape == (312,) and arrays[1].max() > 0
    assert Path(cold["split_record"]).is_file()

    import tasks.feature_tasks as feature_tasks
    import tasks.media_tasks as media_tasks

    def no_decoding(*args, **kwargs):
        raise AssertionError("a warm run must not decode")

    monkeypatch.setattr(feature_tasks, "iter_frame_windows", no_decoding)
    monkeypatch.setattr(media_tasks, "iter_audio_blocks", no_decoding)
    warm = preprocess(dataset="folder", root=str(tiny_dataset), options=options)
    assert {r["item_id"]: r["status"] for r in warm["items"]} == {**status, **{k: "cached" for k in ok}}
    assert warm["catalog"]["videos"] is None and warm["catalog"]["chunks"] is None  # nothing changed
    assert tables.read_videos(dataset="tiny").num_rows == videos.num_rows


@pytest.mark.needs_ffmpeg
def test_preprocess_limit_and_bad_folder(tiny_dataset, tmp_path):
    from flows.preprocess_flow import preprocess

    summary = preprocess(dataset="folder", root=str(tiny_dataset), limit=1, options={"name": "tiny1"})
    assert summary["n_items"] == 4 and summary["n_selected"] == 1 and summary["items"][0]["item_id"] == "ball_a"
    with pytest.raises(SonorizeInputError, match="does not exist"):
        preprocess(dataset="folder", root=str(tmp_path / "nowhere"))


@pytest.mark.needs_ffmpeg
def test_preprocess_walking_the_maps_clips(tiny_dataset, tmp_path):
    from data_catalog import dataset_tables as tables
    from flows.preprocess_flow import preprocess

    (tmp_path / "game").mkdir()
    (tmp_path / "game" / "abcdefghijk_0_2.5.mp4").symlink_to(tiny_dataset / "ball_a.mp4")
    (tmp_path / "game" / "zyx_wvutsrq_10_12.mp4").symlink_to(tiny_dataset / "ball_b.mp4")
    # Walking The Maps cleans its targets with AudioSep by default: without its weights nothing starts
    from tasks.separation import SeparationWeightsMissing

    with pytest.raises(SeparationWeightsMissing, match="sonorize models pull audiosep"):
        preprocess(dataset="walking_the_maps", root=str(tmp_path))
    assert tables.read_videos(dataset="walking-the-maps").num_rows == 0
    summary = preprocess(dataset="walking_the_maps", root=str(tmp_path), separate=False)
    assert summary["dataset"] == "walking-the-maps" and summary["n_ok"] == 2, summary["failures"]
    assert summary["separation"] is None
    videos = tables.read_videos(dataset="walking-the-maps", status="ok").to_pylist()
    assert {(v["clip_start_s"], v["clip_end_s"]) for v in videos} == {(0.0, 2.5), (10.0, 12.0)}
    assert len({v["split"] for v in videos}) == 2  # two source videos, two splits
    chunks = tables.read_chunks(dataset="walking-the-maps").to_pylist()
    assert [(c["start_s"], c["duration_s"]) for c in chunks] == [(0.0, 2.0), (0.0, 2.0)]
    assert {c["target_frames"] for c in chunks} == {250}


# -- the development set ---------------------------------------------------------------------

@pytest.mark.shared_data
def test_folder_adapter_reads_the_development_set(dev_data):
    adapter = get_dataset_adapter("folder", name="gh-dev")
    items = adapter.items(dev_data)
    assert len(items) == 34 and all(i.split == "all" for i in items)
    assert all(i.prompt and i.prompt.startswith("A person ") for i in items)
    assert {i.action for i in items} <= {"hit", "scratch"}
    assert Path(items[0].video_path).parent == dev_data / "videos"
    held = get_dataset_adapter("folder", holdout_fraction=0.2).items(dev_data)
    assert Counter(i.split for i in held) == {"train": 27, "test": 7}
