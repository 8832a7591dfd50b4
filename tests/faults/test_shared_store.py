"""Two projects on one store: each owns its runs, trial ids and records experiment;
``overwrite=True`` clears only its own project. One after the other, and at the same time."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from cerebro.storage.layout import RunLayout
from frames import make_vector_df

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits_df(spark):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return make_vector_df(spark, x[:600] / 16.0, y[:600], val_fraction=0.2)


def nas(spark, store, project, overwrite, workers=2, seed=1):
    import autokeras as ak

    from cerebro.backend import SparkBackend
    from cerebro.nas import HyperHyperModel

    inp = ak.StructuredDataInput()
    out = ak.ClassificationHead()(ak.DenseBlock(num_layers=1, use_batchnorm=False)(inp))
    am = HyperHyperModel(inp, out, overwrite=overwrite, seed=seed, project_name=project)
    am.resource_bind(SparkBackend(spark.sparkContext, num_workers=workers), store,
                     ["features"], ["label"], evaluation_metric="accuracy", verbose=0)
    am.tuner_bind("random", objective="val_accuracy", max_trials=2, overwrite=overwrite)
    return am, am.fit(store_df[0], epochs=1)


store_df: list = []


def files(store, project):
    lay = RunLayout(store, project)
    return {m: sorted(store.listdir(lay.model_dir(m))) for m in lay.model_ids()}


def test_overwrite_clears_only_its_own_project(spark, digits_df, tmp_path):
    from cerebro.records import RecordsDB, queries
    from cerebro.storage import LocalStore

    store = LocalStore(str(tmp_path / "shared"))
    store_df[:] = [digits_df]
    _, first = nas(spark, store, "alpha", overwrite=True)
    before = files(store, "alpha")
    assert len(before) == 2 and all("model.keras" in f for f in before.values())

    _, second = nas(spark, store, "beta", overwrite=True)
    _, again = nas(spark, store, "beta", overwrite=True)  # replaces beta, not alpha
    assert files(store, "alpha") == before
    assert set(first.models) == set(second.models)  # same trial ids, no collision: per project
    assert len(files(store, "beta")) == 2
    names = sorted(e["name"] for e in queries.list_experiments(RecordsDB(store)))
    assert names == ["alpha", "beta"]
    # alpha's exported best model still loads from its own files
    assert first.get_best_model().keras().predict(np.zeros((1, 64)), verbose=0).shape == (1, 10)


def test_two_searches_at_the_same_time_keep_each_others_files(spark, digits_df, tmp_path):
    from cerebro.storage import LocalStore

    store = LocalStore(str(tmp_path / "together"))
    store_df[:] = [digits_df]
    out: dict = {}

    def run(project, seed):
        try:
            out[project] = nas(spark, store, project, overwrite=True, workers=1, seed=seed)[1]
        except BaseException as e:  # noqa: BLE001 - asserted below
            out[project] = e

    threads = [threading.Thread(target=run, args=(p, s)) for p, s in (("one", 1), ("two", 2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    for project in ("one", "two"):
        if isinstance(out[project], BaseException):
            import traceback

            pytest.fail("".join(traceback.format_exception(out[project])))
        assert len(files(store, project)) == 2
        for model_id in out[project].models:
            assert out[project].statuses[model_id] == "DONE"
            assert RunLayout(store, project).read_log(model_id)["epochs_done"] == 1
