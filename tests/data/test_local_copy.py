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


def test_copy_of_many_row_groups_is_the_files_rows_in_order(dataset, tmp_path):
    """The copy reads each row group on its own (bounded memory): rows and image offsets
    run on across row groups and files, byte for byte as stored."""
    import pyarrow.parquet as pq

    store, info, _, ids = dataset
    for key in info.train.shards[0]:  # rewrite each file as row groups of 3 rows
        path = store.fs_path(key)
        table = pq.read_table(path, filesystem=store.filesystem)
        pq.write_table(table, path, filesystem=store.filesystem, row_group_size=3)
        assert pq.ParquetFile(path, filesystem=store.filesystem).num_row_groups > 3
    shard, _ = materialize(store, info, "train", 0, ["img", "ids"], tmp_path)
    stored = [b for k in info.train.shards[0] for b in pq.read_table(
        store.fs_path(k), filesystem=store.filesystem).column("img").to_pylist()]
    assert list(shard.read("img", 0, ROWS)) == stored
    np.testing.assert_array_equal(shard.read("ids", 0, ROWS), ids)
    off = np.fromfile(shard.path / "img.off", np.int64)
    assert off[0] == 0 and len(off) == ROWS + 1 and off[-1] == sum(len(b) for b in stored)


_COPY_RSS = """
import json, sys, threading
from pathlib import Path
import psutil
import pyarrow as pa, pyarrow.parquet, pyarrow.compute
pa.set_memory_pool(pa.system_memory_pool())  # as the worker does before its copy
from cerebro.data.local import materialize
from cerebro.data.metadata import DatasetInfo
from cerebro.storage import LocalStore
store, info = LocalStore(sys.argv[1]), DatasetInfo.from_json(json.loads(sys.argv[2]))
me, peak, done = psutil.Process(), [0], threading.Event()
def poll():  # not ru_maxrss: a child's counts its parent's RSS at the fork
    while not done.wait(0.005):
        peak[0] = max(peak[0], me.memory_info().rss)
before = me.memory_info().rss
threading.Thread(target=poll, daemon=True).start()
shard, _ = materialize(store, info, "train", 0, ["x", "label"], Path(sys.argv[3]))
done.set()
print(json.dumps({"rows": shard.rows, "growth": peak[0] - before}))
"""


def test_copy_memory_stays_flat_whatever_the_shard_size(store, tmp_path):
    """A worker copies a 200 MB shard (25 row groups) growing its RSS by well under half of
    it: the copy holds a row group's pages and one small batch, not what it has read."""
    import json
    import os
    import subprocess
    import sys

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, width, group = 1_600_000, 32, 65_536
    key = "data/train/big/part-00000.parquet"
    path = store.fs_path(key)
    store.filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
    schema = pa.schema([("x", pa.list_(pa.float32())), ("label", pa.int32())])
    rng = np.random.default_rng(0)
    with pq.ParquetWriter(path, schema, filesystem=store.filesystem) as w:
        for a in range(0, rows, group):
            n = min(group, rows - a)
            x = rng.random(n * width, dtype=np.float32)
            offsets = pa.array(np.arange(0, (n + 1) * width, width, dtype=np.int32))
            w.write_table(pa.table({"x": pa.ListArray.from_arrays(offsets, pa.array(x)),
                                    "label": pa.array(np.arange(n, dtype=np.int32) % 2)},
                                   schema=schema))
    assert pq.ParquetFile(path, filesystem=store.filesystem).num_row_groups == 25
    info = DatasetInfo(
        columns={"x": ColumnInfo("x", "array", width, dtype="float32"),
                 "label": ColumnInfo("label", "scalar", 1, dtype="int32")},
        num_partitions=1, train=SplitInfo(((key,),), (rows,)), val=SplitInfo(((),), (0,)),
        fingerprint="fp-big")
    shard_bytes = rows * (width + 1) * 4
    out = subprocess.run([sys.executable, "-c", _COPY_RSS, str(tmp_path / "store"),
                          json.dumps(info.to_json()), str(tmp_path / "local")],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["rows"] == rows, got
    # +187 MB when one reader decoded 32,768-row batches on Arrow's threads; now ~+50 MB
    assert got["growth"] < shard_bytes // 2, f"+{got['growth'] >> 20} MB copying " \
        f"{shard_bytes >> 20} MB"
