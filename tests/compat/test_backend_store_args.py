"""Upstream's constructor arguments of SparkBackend, LocalStore and HDFSStore."""

from __future__ import annotations

import logging
import pickle

import pytest

from cerebro.storage import HDFSStore, LocalStore, Store


# ---- stores (no Spark) ------------------------------------------------------------------
def test_local_store_takes_upstreams_positional_arguments(tmp_path, caplog):
    root = tmp_path / "exp"
    with caplog.at_level(logging.INFO, logger="cerebro"):
        # upstream: LocalStore(prefix_path, train_path, val_path, runs_path, temp_dir)
        store = LocalStore(str(root), str(tmp_path / "train_data"), str(tmp_path / "val_data"),
                           None, str(tmp_path / "tmp"))
    assert "temp_dir=" in caplog.text and "ignored" in caplog.text
    assert store.prefix_path == "file://" + str(root)
    assert store.get_train_data_path() == "file://" + str(tmp_path / "train_data")
    assert store.get_val_data_path() == "file://" + str(tmp_path / "val_data")
    assert store.get_runs_path() == "file://" + str(root / "runs")
    store.write_bytes("runs/m/x", b"abc")
    assert store.read(str(root / "runs/m/x")) == b"abc" == store.read("runs/m/x")
    assert store.exists("file://" + str(root / "runs/m/x"))
    with pytest.raises(ValueError, match="dataset index 1 is not supported"):
        store.get_train_data_path(1)
    assert type(Store.create(str(root))) is LocalStore
    assert type(pickle.loads(pickle.dumps(store))) is LocalStore


def test_hdfs_store_takes_upstreams_positional_arguments():
    # upstream: HDFSStore(prefix_path, train_path, val_path, runs_path, temp_dir, host, port,
    #                     user, kerb_ticket, driver, extra_conf)
    store = HDFSStore("/user/test/cerebro", "/data/train", None, None, None, "127.0.0.1", 1,
                      "me", None, "libhdfs", {"dfs.replication": 1})
    assert store.get_train_data_path() == "hdfs://127.0.0.1:1/data/train"
    assert store.prefix_path == "hdfs://127.0.0.1:1/user/test/cerebro"
    assert store._user == "me" and store._extra_conf == {"dfs.replication": "1"}
    clone = pickle.loads(pickle.dumps(store))
    with pytest.raises(RuntimeError, match="HDFS could not be reached at hdfs://127.0.0.1:1"):
        clone.exists("runs")
    with pytest.raises(ValueError, match="driver='libhdfs3'.*JNI libhdfs only"):
        HDFSStore("hdfs://nn:8020/x", driver="libhdfs3")
    with pytest.raises(TypeError, match="extra_conf must be a dict"):
        HDFSStore("hdfs://nn:8020/x", extra_conf=["a=b"])


def test_hdfs_extra_conf_reaches_pyarrow():
    """With extra_conf the store connects through HadoopFileSystem(extra_conf=...): here
    libhdfs's JVM is missing, so it fails on that, not on an unknown keyword."""
    store = HDFSStore("/x", host="127.0.0.1", extra_conf={"dfs.client.use.datanode.hostname":
                                                          "true"})
    with pytest.raises(RuntimeError, match="HDFS could not be reached") as info:
        store.exists("runs")
    assert "keyword" not in str(info.value.__cause__)


# ---- SparkBackend -----------------------------------------------------------------------
def test_backend_takes_upstreams_arguments(spark, caplog):
    from cerebro.backend import SparkBackend

    with caplog.at_level(logging.INFO, logger="cerebro"):
        # upstream's positional order: spark_context, num_workers, start_timeout,
        # disk_cache_size_gb, data_readers_pool_type, num_data_readers, nics, verbose
        backend = SparkBackend(spark.sparkContext, 2.0, 120, 10, "process", 4, ["lo"], 0,
                               warm_up=False)
    assert backend.num_workers == 2
    assert backend.start_timeout == 120 and backend.verbose == 0
    assert "disk_cache_size_gb=10, data_readers_pool_type='process', num_data_readers=4" \
        in caplog.text and "ignored" in caplog.text
    assert backend._driver_host() == "127.0.0.1", "the address of the 'lo' interface"


@pytest.mark.parametrize("kwargs,err,match", [
    ({"nics": ["no-such-nic0"]}, ValueError, r"nics \['no-such-nic0'\] are not interfaces"),
    ({"nics": "lo"}, ValueError, "non-empty list of interface names"),
    ({"data_readers_pool_type": "fiber"}, ValueError, "must be one of"),
    ({"num_data_readers": 2.5}, ValueError, "num_data_readers must be a whole number"),
    ({"disk_cache_size_gb": "10"}, TypeError, "disk_cache_size_gb must be a number"),
    ({"num_workers": 1.5}, ValueError, "num_workers must be a positive int"),
])
def test_backend_refuses_bad_upstream_arguments(spark, kwargs, err, match):
    from cerebro.backend import SparkBackend

    with pytest.raises(err, match=match):
        SparkBackend(spark.sparkContext, warm_up=False, **{"num_workers": 1, **kwargs})


def test_prepare_data_upstream_arguments(spark, tmp_path, caplog):
    from cerebro.backend import SparkBackend

    backend = SparkBackend(spark.sparkContext, num_workers=1, verbose=0, warm_up=False)
    store = LocalStore(str(tmp_path / "store"))
    df = spark.createDataFrame([(float(i), float(i % 2), i < 5) for i in range(20)],
                               ["x", "y", "is_val"])
    with pytest.raises(ValueError, match="dataset_idx=0 is not supported"):
        backend.prepare_data(store, df, 0.5, dataset_idx=0)
    with pytest.raises(ValueError, match=r"df has no \['features', 'label'\].*name the ones"):
        backend.prepare_data(store, df, 0.5)
    with caplog.at_level(logging.INFO, logger="cerebro"):
        info = backend.prepare_data(store, df, "is_val", feature_columns=["x"],
                                    label_columns=["y"], parquet_row_group_size_mb=8)
    assert "parquet_row_group_size_mb=8) ignored" in caplog.text
    assert info.num_partitions == 1 and sum(info.train.rows) == 15 and sum(info.val.rows) == 5
