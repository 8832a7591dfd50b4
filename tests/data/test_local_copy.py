"""A partition's local copy and the per-batch pipeline, on real Parquet files (no Spark)."""

from __future__ import annotations


import numpy as np
import pytest

from cerebro.data.images import encode_png
from cerebro.data.local import DiskShard, materialize
from cerebro.data.metadata import ColumnInfo, DatasetInfo, SplitInfo
from cerebro.data.pipeline import BatchMaker, keras_batches, plan_for
from cerebro.wire import ModelIO

ROWS = 50


@pytest.fixture
def dataset(store):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (ROWS, 4, 4, 1), dtype=np.uint8)
    images = [encode_png(p) for p in pixels]
    images[7] = b"\x89PNG\r\n\x1a\n-truncated"  # a corrupt row
    ids = rng.integers(0, 1000, (ROWS, 3)).astype(np.int32)
    table = pa.table({"img": pa.array(images, pa.binary()),
                      "ids": pa.FixedSizeListArray.from_arrays(pa.array(ids.reshape(-1)), 3),
                      "label": pa.array(np.arange(ROWS) % 2, pa.uint8()),
                      "w": pa.array(np.arange(ROWS), pa.float32())})  # a row's weight: its index
    keys = ("data/train/p0-a.parquet", "data/train/p0-b.parquet")
    for key, part in zip(keys, (table.slice(0, 20), table.slice(20))):
        store.filesystem.create_dir(store.fs_path(key).rsplit("/", 1)[0], recursive=True)
        pq.write_table(part, store.fs_path(key), filesystem=store.filesystem)
    info = DatasetInfo(
        columns={"img": ColumnInfo("img", "image", 16, dtype="uint8", image_shape=(4, 4, 1)),
                 "ids": ColumnInfo("ids", "array", 3, dtype="int32"),
                 "label": ColumnInfo("label", "scalar", 1, dtype="uint8"),
                 "w": ColumnInfo("w", "scalar", 1, dtype="float32")},
        num_partitions=1, train=SplitInfo((keys,), (ROWS,)), val=SplitInfo(((),), (0,)),
        fingerprint="fp-1")
    return store, info, pixels, ids


def test_copy_keeps_dtypes_is_reused_and_batches_skip_corrupt_images(dataset, tmp_path):
    store, info, pixels, ids = dataset
    cols = ["img", "ids", "label"]
    shard, reused = materialize(store, info, "train", 0, cols, tmp_path)
    assert not reused and shard.rows == ROWS
    assert shard.read("ids", 0, ROWS).dtype == np.int32
    np.testing.assert_array_equal(shard.read("ids", 10, 30), ids[10:30])
    assert shard.read("label", 0, 5).dtype == np.uint8
    mtime = (shard.path / "meta.json").stat().st_mtime_ns
    again, reused = materialize(store, info, "train", 0, cols, tmp_path)
    assert reused and (again.path / "meta.json").stat().st_mtime_ns == mtime
    other = DatasetInfo(**{**info.__dict__, "fingerprint": "fp-2"})
    assert not materialize(store, other, "train", 0, cols, tmp_path)[1]  # other data: new copy

    io = ModelIO(("img", "ids"), ("label",), ((4, 4, 1), (3,)), ((1,),))
    for source in (DiskShard(shard.path), shard.load()):
        make = BatchMaker(io, source.columns)
        assert make.needs_batches
        plan = plan_for(source, cols, batch_size=16, seed=3, buffer_rows=32)
        xs, ys, _ = zip(*(make(plan.rows_of(i)) for i in range(len(plan))))
        assert make.bad_rows == 1 and sum(len(y) for y in ys) == ROWS - 1
        x_img = np.concatenate([x[0] for x in xs])
        assert x_img.dtype == np.float32 and x_img.shape == (ROWS - 1, 4, 4, 1)
        # each good image decoded exactly once, to its pixels
        got = {tuple(v.astype(np.uint8).ravel()) for v in x_img}
        assert got == {tuple(pixels[i].ravel()) for i in range(ROWS) if i != 7}


def test_transformation_runs_on_every_batch(dataset, tmp_path):
    store, info, _, _ = dataset
    shard, _ = materialize(store, info, "train", 0, ["ids", "label"], tmp_path)
    seen = []

    def fn(x, y):
        seen.append(len(x))
        return x * 0 + 1, y

    make = BatchMaker(ModelIO(("ids",), ("label",), ((3,),), ((1,),)), shard.columns, fn)
    plan = plan_for(shard, ["ids", "label"], batch_size=8, seed=None, buffer_rows=8)
    x, _, _ = make(plan.rows_of(0))
    assert np.all(x == 1) and seen == [8]


def test_sample_weights_follow_their_rows_through_shuffle_and_skipped_images(dataset, tmp_path):
    store, info, _, _ = dataset
    cols = ["img", "label", "w"]
    io = ModelIO(("img",), ("label",), ((4, 4, 1),), ((1,),), weight_column="w")
    assert io.columns == ("img", "label", "w")
    assert ModelIO.from_json(io.to_json()) == io
    shard, _ = materialize(store, info, "train", 0, cols, tmp_path)
    for source in (shard, shard.load()):  # streamed from disk, and held in memory
        make = BatchMaker(io, source.columns)
        batches = keras_batches(plan_for(source, cols, batch_size=16, seed=5, buffer_rows=32),
                                make)
        parts = [batches[i] for i in range(len(batches))]
        assert all(len(p) == 3 for p in parts)  # (x, y, sample_weight) for Keras
        w = np.concatenate([p[2] for p in parts])
        y = np.concatenate([p[1] for p in parts]).reshape(-1)
        assert w.dtype == np.float32 and sorted(w.astype(int)) == [r for r in range(ROWS)
                                                                    if r != 7]
        np.testing.assert_array_equal(w.astype(int) % 2, y.astype(int))  # aligned with labels
    unweighted = BatchMaker(ModelIO(("img",), ("label",), ((4, 4, 1),), ((1,),)), shard.columns)
    assert unweighted({c: shard.read(c, 0, 4) for c in cols})[2] is None
