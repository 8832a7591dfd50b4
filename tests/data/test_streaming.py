"""Out-of-core shards on real Spark: a tiny data budget forces the streamed path.

Workers copy their partitions to local disk; with a budget smaller than the copy they stream
it through the block shuffle. A second search (new worker processes on the same host, the
same prepared data) reuses those copies instead of writing them again.
"""

from __future__ import annotations

import json

import pytest

from cerebro.backend import SparkBackend

pytestmark = pytest.mark.slow

ROWS = 800


def _search(spark, df, store, local_dir, data_memory_mb, project):
    from cerebro.tune import GridSearch, hp_choice

    from tests.core.helpers import estimator_fn

    backend = SparkBackend(spark.sparkContext, num_workers=2, verbose=0,
                           data_memory_mb=data_memory_mb, local_dir=str(local_dir))
    return GridSearch(backend, store, estimator_fn(batch_size=32),
                      {"units": hp_choice([16, 32])}, num_epochs=2,
                      evaluation_metric="accuracy", validation="is_val", verbose=0,
                      project_name=project).fit(df)


def _copies(local_dir):
    metas = sorted((local_dir / "cerebro-shards").glob("*/meta.json"))
    return {str(p): (p.stat().st_mtime_ns, json.loads(p.read_text())) for p in metas}


def test_streamed_search_covers_every_partition_and_reuses_local_copies(
        spark, mnist_arrays, tmp_path):
    from frames import make_vector_df

    from cerebro.storage import LocalStore
    from cerebro.storage.layout import RunLayout

    x, y = mnist_arrays[0][:ROWS], mnist_arrays[1][:ROWS]
    df = make_vector_df(spark, x, y, val_fraction=0.25)
    store, local_dir = LocalStore(str(tmp_path / "store")), tmp_path / "local"
    # each worker's copy is ~300 rows x 784 float32 (~1 MB): 0.1 MB forces streaming
    result = _search(spark, df, store, local_dir, 0.1, "streamed")

    copies = _copies(local_dir)
    assert sorted((m["split"], m["partition"]) for _, m in copies.values()) == \
        [("train", 0), ("train", 1), ("val", 0), ("val", 1)]
    assert sum(m["rows"] for _, m in copies.values()) == ROWS
    assert all(m["columns"]["features"]["width"] == 784 for _, m in copies.values())
    layout = RunLayout(store, "streamed")
    assert len(result.models) == 2
    for mid, model in result.models.items():
        log = store.read_json(layout.log_key(mid))
        assert log["status"] == "DONE" and log["epochs_done"] == 2
        for epoch, partitions in log["visit_log"].items():
            assert sorted(partitions) == [0, 1], (mid, epoch, partitions)
        assert model.history["val_accuracy"][-1] > 0.5, model.history  # it did learn

    # new workers on this host, same dataset: the copies are reused, not rewritten
    again = _search(spark, df, store, local_dir, 0.1, "again")
    assert len(again.models) == 2
    assert _copies(local_dir) == copies
