"""prepare_data: one train and one val shard per worker, written by Spark, loaded by workers.

Shards are read back with ``cerebro.data.shard.load_shard``, the code a worker runs.
"""

from __future__ import annotations

import numpy as np
import pytest

from cerebro.data import load_dataset_info, prepare_data
from cerebro.data.shard import load_shard

N = 40
FEATURES = ["n_int", "x_double", "flag", "arr", "dense", "sparse", "cat_ohe"]


def _expected(i: int) -> dict[str, np.ndarray]:
    """The float32 values worker-side code must produce for row ``i``."""
    sparse = np.zeros(5, np.float32)
    sparse[i % 5] = 1.0 + i
    onehot = np.zeros(4, np.float32)
    onehot[i % 4] = 1.0
    return {
        "id": np.float32(i), "n_int": np.float32(i % 3), "x_double": np.float32(0.5 * i),
        "flag": np.float32(i % 2 == 1), "arr": np.array([i, -i, 2.0], np.float32),
        "dense": np.array([i, i + 1], np.float32), "sparse": sparse, "cat_ohe": onehot,
    }


@pytest.fixture(scope="module")
def typed_df(spark):
    """Every supported column kind: int, double, bool, array<double>, dense/sparse vectors."""
    from pyspark.ml.feature import OneHotEncoder
    from pyspark.ml.linalg import SparseVector, Vectors, VectorUDT

    rows = [(i, i % 3, 0.5 * i, i % 2 == 1, [float(i), -float(i), 2.0],
             Vectors.dense([float(i), i + 1.0]), Vectors.sparse(5, {i % 5: 1.0 + i}),
             float(i % 4), i % 4 == 0) for i in range(N)]
    df = spark.createDataFrame(
        rows, ["id", "n_int", "x_double", "flag", "arr", "dense", "sparse", "cat", "is_val"])
    encoder = OneHotEncoder(inputCols=["cat"], outputCols=["cat_ohe"], dropLast=False)
    df = encoder.fit(df).transform(df)
    assert isinstance(df.schema["cat_ohe"].dataType, VectorUDT)
    assert isinstance(df.select("cat_ohe").first()[0], SparseVector)
    return df


@pytest.fixture
def no_collect(monkeypatch):
    """Records how many rows each DataFrame/RDD action brought to the driver."""
    from pyspark.rdd import RDD
    from pyspark.sql.classic.dataframe import DataFrame

    fetched: list[tuple[str, int]] = []

    def spy(cls, name):
        original = getattr(cls, name)

        def wrapper(self, *args, **kwargs):
            out = original(self, *args, **kwargs)
            fetched.append((f"{cls.__name__}.{name}", len(out) if hasattr(out, "__len__") else -1))
            return out

        monkeypatch.setattr(cls, name, wrapper)

    for cls, name in ((DataFrame, "collect"), (DataFrame, "toPandas"),
                      (DataFrame, "toLocalIterator"), (RDD, "collect")):
        spy(cls, name)
    return fetched


def _load_split(store, info, split: str):
    """Loads every partition of ``split`` like the workers do; checks each shard's rows."""
    columns = ["id"] + FEATURES
    shards = []
    for p in range(info.num_partitions):
        shard = load_shard(store, info, split, p, columns)
        rows = (info.train if split == "train" else info.val).rows[p]
        assert shard.rows == rows
        for c in columns:
            assert np.issubdtype(shard.arrays[c].dtype, np.number), c
            assert shard.arrays[c].shape[0] == rows, c
        shards.append(shard)
    return {c: np.concatenate([s.arrays[c] for s in shards]) for c in columns}


@pytest.fixture
def spark_writes(monkeypatch):
    """Spark's tasks write the shards, whatever the size (small data: the driver does)."""
    from cerebro.data import driver_write

    monkeypatch.setattr(driver_write, "DRIVER_WRITE_BYTES", 0)


def test_one_shard_per_worker_without_collect_and_exact_values(spark, store, typed_df, no_collect,
                                                               spark_writes):
    info = prepare_data(store, typed_df, FEATURES, ["id"], num_partitions=2, validation="is_val")

    # Only single-row aggregates ever reached the driver; the data went through Parquet.
    assert no_collect, "expected at least the one-row aggregate of the checks"
    assert max(n for _, n in no_collect) <= 1, no_collect

    assert info.num_partitions == 2
    for split in (info.train, info.val):
        assert len(split.shards) == 2 and all(len(files) >= 1 for files in split.shards)
        assert all(store.exists(k) for files in split.shards for k in files)
        assert all(r > 0 for r in split.rows)
    assert info.train.total_rows + info.val.total_rows == N
    assert load_dataset_info(store).to_json() == info.to_json()
    lengths = {c: info.columns[c].length for c in FEATURES}
    assert lengths == {"n_int": 1, "x_double": 1, "flag": 1, "arr": 3, "dense": 2,
                       "sparse": 5, "cat_ohe": 4}

    for split, want_val in (("train", False), ("val", True)):
        arrays = _load_split(store, info, split)
        ids = arrays["id"].astype(int)
        # The fixed validation column is honoured exactly: val holds the i % 4 == 0 rows.
        assert sorted(ids) == [i for i in range(N) if (i % 4 == 0) == want_val]
        for row, i in enumerate(ids):
            for c, value in _expected(i).items():
                np.testing.assert_array_equal(arrays[c][row], value, err_msg=f"{c} of row {i}")


def test_fraction_split_counts_add_up(spark, store, typed_df):
    info = prepare_data(store, typed_df, ["arr"], ["id"], num_partitions=2, validation=0.3, seed=3)
    assert info.train.total_rows + info.val.total_rows == N
    assert 0 < info.val.total_rows < N
    ids = np.concatenate([load_shard(store, info, s, p, ["id"]).arrays["id"]
                          for s in ("train", "val") for p in range(2)])
    assert sorted(ids.astype(int)) == list(range(N)), "every row lands in exactly one shard"


def test_changed_dataframe_is_prepared_beside_the_old_one(spark, store, typed_df):
    """Content-addressed: a changed DataFrame gets its own shards; the first stay intact
    (another project may be training on them) and the latest record names the second."""
    from pyspark.sql import functions as F

    first = prepare_data(store, typed_df, ["dense"], ["id"], 2, validation="is_val")
    first_files = [k for s in (first.train, first.val) for files in s.shards for k in files]
    second = prepare_data(store, typed_df.filter(F.col("id") < 20), ["dense"], ["id"], 2,
                          validation="is_val")
    assert second.fingerprint != first.fingerprint and not second.reused
    assert second.train.total_rows + second.val.total_rows == 20
    assert load_dataset_info(store).to_json() == second.to_json()
    assert load_dataset_info(store, first.fingerprint).to_json() == first.to_json()
    assert store.listdir(store.train_data_key()) == sorted([first.fingerprint,
                                                            second.fingerprint])
    assert all(store.exists(k) for k in first_files), "the first dataset must be kept"
    ids = np.concatenate([load_shard(store, second, "train", p, ["id"]).arrays["id"]
                          for p in range(2)])
    assert ids.max() < 20


def test_failed_reprepare_keeps_previous_dataset(spark, store, typed_df):
    from pyspark.sql import functions as F

    good = prepare_data(store, typed_df, ["dense"], ["id"], 2, validation="is_val")
    dirs = (store.listdir(store.train_data_key()), store.listdir(store.val_data_key()))
    no_val = typed_df.withColumn("is_val", F.lit(False))
    with pytest.raises(ValueError, match="no validation rows"):
        prepare_data(store, no_val, ["dense"], ["id"], 2, validation="is_val")
    # The metadata still names the previous shards, which are intact; nothing was left over.
    assert load_dataset_info(store).to_json() == good.to_json()
    assert (store.listdir(store.train_data_key()), store.listdir(store.val_data_key())) == dirs
    assert all(store.exists(k) for files in good.train.shards for k in files)


def test_inspect_dataframe_collects_class_labels_in_the_same_pass(spark):
    from cerebro.data.columns import inspect_dataframe

    df = spark.createDataFrame([(float(i), ["cat", "dog", "emu"][i % 3]) for i in range(30)],
                               ["x", "animal"])
    found = inspect_dataframe(df, ["x"], ["animal"], class_columns=["animal"])
    assert found.rows == 30
    assert found.classes == {"animal": ("cat", "dog", "emu")}
    assert found.columns["animal"].kind == "scalar"
    with pytest.raises(TypeError, match="'animal'"):  # a string is a class label only
        inspect_dataframe(df, ["x"], ["animal"])


def test_bounded_sample_reads_real_rows_at_random(spark, store):
    """The graph's sample: real prepared rows, as many as asked, seeded, from every shard."""
    from cerebro.nas.analysis import bounded_sample

    df = spark.createDataFrame([(i, float(i), [float(i), 2.0 * i]) for i in range(2000)],
                               ["id", "x", "v"]).repartition(1, "id")
    info = prepare_data(store, df, ["x", "v"], ["id"], 2, validation=0.1, seed=3)
    a = bounded_sample(store, info, ["x", "v"], seed=1, rows=300)
    b = bounded_sample(store, info, ["x", "v"], seed=1, rows=300)
    c = bounded_sample(store, info, ["x", "v"], seed=2, rows=300)
    assert a["x"].shape == (300,) and a["v"].shape == (300, 2)
    np.testing.assert_array_equal(a["x"], b["x"])
    assert not np.array_equal(a["x"], c["x"])
    np.testing.assert_array_equal(a["v"][:, 1], 2 * a["x"])  # whole rows, not mixed columns
    assert len(set(a["x"].tolist())) == 300  # no row twice
    assert a["x"].max() - a["x"].min() > 1000  # spread over the data, not its first rows


def test_shard_loads_batch_by_batch_into_final_arrays(spark, store, typed_df, monkeypatch):
    """A shard read in many small batches equals the same shard read in one."""
    from cerebro.data import shard as shard_mod

    info = prepare_data(store, typed_df, FEATURES, ["id"], 2, validation="is_val")
    whole = load_shard(store, info, "train", 0, FEATURES + ["id"])
    monkeypatch.setattr(shard_mod, "READ_BATCH_ROWS", 3)
    pieces = load_shard(store, info, "train", 0, FEATURES + ["id"])
    assert pieces.rows == whole.rows > 3
    for c in FEATURES + ["id"]:
        assert pieces.arrays[c].dtype == np.float32 and pieces.arrays[c].flags.c_contiguous
        np.testing.assert_array_equal(pieces.arrays[c], whole.arrays[c])


def test_a_small_dataset_is_written_by_the_driver_into_the_same_shards(
        spark, tmp_path, typed_df, monkeypatch, caplog):
    import logging

    from cerebro.data import driver_write
    from cerebro.storage import LocalStore

    with caplog.at_level(logging.INFO, logger="cerebro"):
        here = prepare_data(LocalStore(str(tmp_path / "driver")), typed_df, FEATURES, ["id"],
                            num_partitions=2, validation="is_val")
    assert any("writing the shards from the driver" in r.getMessage() for r in caplog.records)
    monkeypatch.setattr(driver_write, "DRIVER_WRITE_BYTES", 0)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="cerebro"):
        tasks = prepare_data(LocalStore(str(tmp_path / "tasks")), typed_df, FEATURES, ["id"],
                             num_partitions=2, validation="is_val")
    assert not any("from the driver" in r.getMessage() for r in caplog.records)
    assert here.fingerprint == tasks.fingerprint and here.columns == tasks.columns
    for split in ("train", "val"):
        a = _load_split(LocalStore(str(tmp_path / "driver")), here, split)
        b = _load_split(LocalStore(str(tmp_path / "tasks")), tasks, split)
        order_a, order_b = np.argsort(a["id"]), np.argsort(b["id"])
        for c in a:  # the same rows, split the same way, values exact (partitions may differ)
            np.testing.assert_array_equal(a[c][order_a], b[c][order_b], err_msg=f"{split} {c}")
    assert all(abs(s.rows[0] - s.rows[1]) <= 1 for s in (here.train, here.val))  # dealt in turn


def test_what_the_driver_would_collect_is_bounded():
    from cerebro.data.driver_write import DRIVER_WRITE_BYTES, collected_bytes
    from cerebro.data.metadata import ColumnInfo

    mnist = {"features": ColumnInfo("features", "array", 784), "label": ColumnInfo("label", "scalar", 1)}
    assert collected_bytes(5000, mnist) == 5000 * (8 * 785 + 1) <= DRIVER_WRITE_BYTES
    assert collected_bytes(1_000_000, mnist) > DRIVER_WRITE_BYTES  # Spark's tasks write it
    images = {"img": ColumnInfo("img", "image", 3 * 32 * 32)}
    assert collected_bytes(10, images) is None  # images are decoded in the tasks
