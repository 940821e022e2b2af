"""The Parquet feature cache: round trips, misses, corruption, and reading the tables elsewhere."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_catalog import feature_cache as fc
from data_catalog.feature_cache import FeatureCache, FeatureKey
from data_catalog.settings import get_settings

SHA = hashlib.sha256(b"video one").hexdigest()
SHA2 = hashlib.sha256(b"video two").hexdigest()


def make_key(**changes) -> FeatureKey:
    fields = dict(video_sha256=SHA, encoder="motion", weights_revision="rev-a", frame_rate=8.0, window_frames=4)
    fields.update(changes)
    return FeatureKey(**fields)


def feats(n_frames: int = 10, dim: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n_frames, dim)).astype(np.float32)


@pytest.fixture
def cache(tmp_path) -> FeatureCache:
    return FeatureCache(tmp_path / "features")


def files_under(root) -> list:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


# -- key ------------------------------------------------------------------------------------


def test_key_digest_is_stable_and_normalised():
    key = make_key()
    assert len(key.digest) == 16
    assert key.digest == make_key(frame_rate=8, video_sha256=SHA.upper()).digest
    assert key.digest != make_key(weights_revision="rev-b").digest
    assert key.digest != make_key(window_frames=8).digest
    assert FeatureKey.from_dict(json.loads(json.dumps(key.to_dict()))) == key


@pytest.mark.parametrize("changes", [
    {"video_sha256": "abc"}, {"encoder": "../x"}, {"encoder": ""}, {"weights_revision": ""},
    {"frame_rate": 0}, {"frame_rate": float("nan")}, {"window_frames": 0}, {"window_frames": 2.5},
])
def test_bad_key_fields_are_rejected(changes):
    with pytest.raises(ValueError):
        make_key(**changes)


def test_default_root_follows_settings():
    assert FeatureCache().root == get_settings().cache_dir / "features"


# -- round trips and misses -----------------------------------------------------------------


def test_round_trip_float16_precision_and_layout(cache):
    key = make_key()
    x = feats(10, 6)
    path = cache.put(key, x, dataset="greatest_hits", split="train")
    assert path == cache.root / "dataset=greatest_hits" / "split=train" / "motion" / f"{key.digest}.parquet"
    assert files_under(cache.root) == [path.relative_to(cache.root).as_posix()]
    got = cache.get(key, dataset="greatest_hits", split="train")
    assert got.dtype == np.float32 and got.shape == (10, 6)
    np.testing.assert_allclose(got, x, rtol=1e-3, atol=1e-4)
    np.testing.assert_array_equal(got, x.astype(np.float16).astype(np.float32))
    assert cache.contains(key, dataset="greatest_hits", split="train")
    # Same key under another partition is a different entry.
    assert cache.get(key) is None and not cache.contains(key)


def test_frames_not_a_multiple_of_the_window(cache):
    key = make_key(window_frames=4)
    x = feats(11, 3)
    cache.put(key, x)
    np.testing.assert_array_equal(cache.get(key), x.astype(np.float16).astype(np.float32))
    table = pq.read_table(cache.path_for(key))
    assert table.column("window_index").to_pylist() == [0] * 4 + [1] * 4 + [2] * 3
    assert table.column("frame_index").to_pylist() == list(range(11))
    assert set(table.column("n_frames").to_pylist()) == {11}
    assert isinstance(table.schema.field("features").type, pa.FixedShapeTensorType)
    assert table.schema.field("features").type.value_type == pa.float16()



def test_row_groups_change_nothing_read_back(cache, monkeypatch, caplog):
    """Written and read a row group at a time (memory): the same features and checksum as in one group,
    files of one group (earlier writes) still read, and a group out of place is caught."""
    key = make_key(window_frames=4)
    x = feats(23, 5)
    whole = cache.put(key, x)
    one_group = pq.ParquetFile(whole)
    assert one_group.num_row_groups == 1
    monkeypatch.setattr(fc, "ROW_GROUP_FRAMES", 7)
    assert np.array_equal(cache.get(key), x.astype(np.float16).astype(np.float32))  # one group, read in groups
    path = cache.put(key, x)
    parquet = pq.ParquetFile(path)
    assert parquet.num_row_groups == 4 and parquet.metadata.num_rows == 23
    meta = json.loads(parquet.schema_arrow.metadata[fc.METADATA_KEY])
    assert meta["tensor_sha256"] == json.loads(one_group.schema_arrow.metadata[fc.METADATA_KEY])["tensor_sha256"]
    table = pq.read_table(path)
    assert table.column("frame_index").to_pylist() == list(range(23))
    assert table.column("window_index").to_pylist() == [i // 4 for i in range(23)]
    assert np.array_equal(cache.get(key), x.astype(np.float16).astype(np.float32))
    # the same rows with two groups swapped: every group is valid alone, the order is not
    groups = [parquet.read_row_group(i) for i in (0, 2, 1, 3)]
    with pq.ParquetWriter(path, groups[0].schema) as writer:
        for group in groups:
            writer.write_table(group)
    assert_discarded(cache, key, caplog)
    assert "frame_index" in caplog.text


def test_other_revision_or_video_is_a_miss(cache):
    cache.put(make_key(), feats())
    assert cache.get(make_key(weights_revision="rev-b")) is None
    assert cache.get(make_key(video_sha256=SHA2)) is None
    assert cache.get(make_key(frame_rate=16.0)) is None
    assert cache.get(make_key()) is not None


def test_get_or_compute_runs_once_and_recomputes_for_new_revision(cache):
    calls = []

    def compute():
        calls.append(1)
        return feats(7, 5)

    first, cached = cache.get_or_compute(make_key(), compute)
    assert not cached and len(calls) == 1
    second, cached = cache.get_or_compute(make_key(), compute)
    assert cached and len(calls) == 1  # no decoding or inference the second time
    np.testing.assert_array_equal(first, second)  # first run already rounded through float16
    _, cached = cache.get_or_compute(make_key(weights_revision="rev-b"), compute)
    assert not cached and len(calls) == 2


def test_deleted_file_is_a_miss(cache):
    key = make_key()
    cache.put(key, feats())
    assert cache.get(key) is not None
    cache.path_for(key).unlink()
    assert cache.get(key) is None
    assert not cache.contains(key)
    assert cache.entries() == []
    calls = []
    cache.get_or_compute(key, lambda: calls.append(1) or feats())
    assert calls == [1]


def test_overwrite_replaces_the_entry(cache):
    key = make_key()
    cache.put(key, feats(seed=1))
    cache.put(key, feats(seed=2))
    np.testing.assert_array_equal(cache.get(key), feats(seed=2).astype(np.float16).astype(np.float32))
    assert len(files_under(cache.root)) == 1


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [
    np.full((3, 2), 70000.0), np.array([[1.0, np.nan]]), np.array([[np.inf, 0.0]]),
    np.zeros(5), np.zeros((0, 4)), np.array([["a", "b"]]),
])
def test_unstorable_features_raise_and_write_nothing(cache, bad):
    with pytest.raises(ValueError):
        cache.put(make_key(), bad)
    assert not cache.root.exists() or files_under(cache.root) == []


def test_float16_limit_itself_is_accepted(cache):
    x = np.array([[65504.0, -65504.0, 1e-8]])
    cache.put(make_key(), x)
    np.testing.assert_array_equal(cache.get(make_key())[0, :2], [65504.0, -65504.0])


# -- corruption -----------------------------------------------------------------------------


def assert_discarded(cache, key, caplog):
    path = cache.path_for(key)
    with caplog.at_level(logging.WARNING, logger=fc.__name__):
        assert cache.get(key) is None
    assert not path.exists()
    assert str(path) in caplog.text
    assert not cache.contains(key)


def test_truncated_file_is_a_miss_and_removed(cache, caplog):
    key = make_key()
    path = cache.put(key, feats(50, 8))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert not cache.contains(key)  # footer gone
    assert_discarded(cache, key, caplog)


def test_flipped_bytes_in_feature_page_are_a_miss(cache, caplog):
    key = make_key()
    path = cache.put(key, feats(50, 8))
    meta = pq.ParquetFile(path).metadata
    column = meta.row_group(0).column(meta.num_columns - 1)  # features is the last column
    assert column.path_in_schema.startswith("features")
    start = column.dictionary_page_offset if column.has_dictionary_page else column.data_page_offset
    offset = start + column.total_compressed_size - 8  # inside the last page's payload, not a header
    data = bytearray(path.read_bytes())
    data[offset : offset + 4] = bytes(b ^ 0xFF for b in data[offset : offset + 4])
    path.write_bytes(bytes(data))
    assert_discarded(cache, key, caplog)


def test_tampered_features_with_valid_parquet_fail_the_checksum(cache, caplog):
    # Parquet-level checks pass here; only the tensor sha256 in the footer catches it.
    key = make_key()
    path = cache.put(key, feats(12, 4))
    table = pq.read_table(path)
    tensor = table.column("features").combine_chunks().to_numpy_ndarray().copy()
    tensor[3, 1] += np.float16(0.5)
    index = table.schema.get_field_index("features")
    table = table.set_column(index, table.schema.field("features"), pa.FixedShapeTensorArray.from_numpy_ndarray(tensor))
    pq.write_table(table, path)
    assert cache.contains(key)  # the footer alone looks fine
    assert_discarded(cache, key, caplog)
    assert "checksum" in caplog.text


def test_file_holding_another_key_is_a_miss(cache, caplog):
    key_a, key_b = make_key(), make_key(weights_revision="rev-b")
    path_a = cache.put(key_a, feats())
    shutil.copyfile(path_a, cache.path_for(key_b))
    assert not cache.contains(key_b)
    assert_discarded(cache, key_b, caplog)
    assert cache.get(key_a) is not None  # the genuine entry is untouched


def test_file_without_metadata_is_a_miss(cache, caplog):
    key = make_key()
    path = cache.path_for(key)
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"x": [1, 2, 3]}), path)
    assert_discarded(cache, key, caplog)


def test_garbage_file_is_skipped_in_listing_and_tables(cache, caplog):
    cache.put(make_key(), feats())
    bad = cache.path_for(make_key(video_sha256=SHA2))
    bad.write_bytes(b"not parquet at all")
    with caplog.at_level(logging.WARNING, logger=fc.__name__):
        entries = cache.entries()
    assert [e.key for e in entries] == [make_key()]
    assert str(bad) in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=fc.__name__):
        assert cache.open_dataset().to_table().num_rows == 10
        assert cache.open_dataset(features=False).to_table().num_rows == 10
    assert str(bad) in caplog.text


# -- atomic writes --------------------------------------------------------------------------


def test_failed_write_leaves_no_temp_files_and_keeps_old_entry(cache, monkeypatch):
    key = make_key()
    path = cache.put(key, feats(seed=1))
    before = files_under(cache.root)

    def broken_write(writer, table, **kwargs):  # the file is open and has its header: half a file
        raise OSError("disk full")

    monkeypatch.setattr(fc.pq.ParquetWriter, "write_table", broken_write)
    with pytest.raises(OSError, match="disk full"):
        cache.put(key, feats(seed=2))
    with pytest.raises(OSError, match="disk full"):
        cache.put(make_key(video_sha256=SHA2), feats())
    monkeypatch.undo()
    assert files_under(cache.root) == before
    assert not list(cache.root.rglob(".*"))
    np.testing.assert_array_equal(cache.get(key), feats(seed=1).astype(np.float16).astype(np.float32))
    assert path.exists()


# -- tables ---------------------------------------------------------------------------------


def populate(cache):
    cache.put(make_key(), feats(10, 6), dataset="gh", split="train")
    cache.put(make_key(video_sha256=SHA2), feats(7, 6), dataset="gh", split="test")
    cache.put(make_key(encoder="tc_clip", window_frames=8), feats(5, 6), dataset="gh", split="train")
    cache.put(make_key(weights_revision="rev-b"), feats(3, 6), dataset="other", split="all")


def test_entries_list_every_file(cache):
    populate(cache)
    entries = cache.entries()
    assert len(entries) == 4
    assert {(e.dataset, e.split, e.key.encoder, e.n_frames) for e in entries} == {
        ("gh", "train", "motion", 10), ("gh", "test", "motion", 7),
        ("gh", "train", "tc_clip", 5), ("other", "all", "motion", 3),
    }
    assert all(e.feature_dim == 6 and e.size_bytes > 0 for e in entries)


def test_open_dataset_has_partition_columns_and_features(cache):
    populate(cache)
    table = cache.open_dataset().to_table()
    assert table.num_rows == 25
    for name in ("dataset", "split", "video_sha256", "encoder", "weights_revision", "frame_rate",
                 "window_frames", "frame_index", "window_index", "n_frames", "feature_dim", "created_at"):
        assert name in table.column_names
    counts = table.group_by(["dataset", "split"]).aggregate([("frame_index", "count")]).to_pylist()
    assert {(r["dataset"], r["split"], r["frame_index_count"]) for r in counts} == {
        ("gh", "train", 15), ("gh", "test", 7), ("other", "all", 3)}
    tensor = table.column("features").combine_chunks().to_numpy_ndarray()
    assert tensor.shape == (25, 6) and tensor.dtype == np.float16
    train = cache.open_dataset(dataset="gh", split="train", encoder="tc_clip").to_table()
    assert train.num_rows == 5


def test_open_dataset_with_mixed_feature_sizes(cache):
    cache.put(make_key(), feats(4, 6))
    cache.put(make_key(encoder="tc_clip"), feats(3, 16))
    with pytest.raises(ValueError, match="features=False"):
        cache.open_dataset()
    assert cache.open_dataset(features=False).to_table().num_rows == 7
    assert cache.open_dataset(encoder="tc_clip").to_table().column("features").type.shape == [16]


def test_open_dataset_on_empty_cache(cache):
    assert cache.open_dataset().to_table().num_rows == 0


def test_tables_open_in_pandas(cache):
    pd = pytest.importorskip("pandas")
    populate(cache)
    # A temporary file of a write under way must not be read.
    (cache.root / "dataset=gh" / "split=train" / "motion" / ".x.parquet.1234.tmp").write_bytes(b"partial")
    frame = pd.read_parquet(cache.root)
    assert len(frame) == 25
    assert set(frame["dataset"].astype(str)) == {"gh", "other"}
    assert set(frame["split"].astype(str)) == {"train", "test", "all"}
    assert len(frame["features"].iloc[0]) == 6
    frame = cache.open_dataset().to_table().to_pandas()
    assert len(frame) == 25 and {"dataset", "split"} <= set(frame.columns)


def test_tables_open_in_duckdb(cache):
    duckdb = pytest.importorskip("duckdb")
    populate(cache)
    (cache.root / "dataset=gh" / "split=train" / "motion" / ".x.parquet.1234.tmp").write_bytes(b"partial")
    rows = duckdb.sql(
        f"select dataset, split, encoder, count(*) as n from read_parquet('{cache.root}/**/*.parquet', "
        "hive_partitioning=true) group by all order by all"
    ).fetchall()
    assert rows == [("gh", "test", "motion", 7), ("gh", "train", "motion", 10),
                    ("gh", "train", "tc_clip", 5), ("other", "all", "motion", 3)]
    first = duckdb.sql(
        f"select features from read_parquet('{cache.root}/**/*.parquet', hive_partitioning=true) "
        f"where video_sha256 = '{SHA}' and dataset = 'gh' and encoder = 'motion' and frame_index = 0"
    ).fetchall()[0][0]
    np.testing.assert_allclose(first, feats(10, 6)[0], rtol=1e-3, atol=1e-4)
