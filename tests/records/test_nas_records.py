"""A NAS search records itself too, and takes a trial added by hand (Spark local mode).

One cheap graph: six standardized columns of sklearn's breast_cancer stacked into a
``StructuredDataInput -> DenseBlock -> ClassificationHead``, greedy oracle, 3 trials.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from cerebro.records import RecordsDB, queries

from .test_live_commands import wait_for

pytestmark = pytest.mark.slow

FEATURES = [f"f{i}" for i in range(6)]
MANUAL = {"dense_block_1/num_layers": 2, "dense_block_1/units_0": 16, "dense_block_1/units_1": 16}


def cancer_df(spark):
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    x = data.data[:, :len(FEATURES)]
    pdf = pd.DataFrame((x - x.mean(axis=0)) / x.std(axis=0), columns=FEATURES)
    pdf["label"] = data.target.astype(np.int64)
    return spark.createDataFrame(pdf)


def test_nas_search_is_recorded_and_takes_a_manual_trial(spark, tmp_path):
    import autokeras as ak
    import keras
    import keras_tuner as kt

    from cerebro.backend import SparkBackend
    from cerebro.nas import HyperHyperModel
    from cerebro.storage import LocalStore

    keras.backend.clear_session()  # AutoKeras names blocks by a per-process counter
    inp = ak.StructuredDataInput()
    out = ak.ClassificationHead()(ak.DenseBlock()(inp))
    am = HyperHyperModel(inputs=inp, outputs=out, overwrite=True, seed=1)
    store = LocalStore(str(tmp_path / "store"))
    am.resource_bind(backend=SparkBackend(spark_context=spark.sparkContext, num_workers=2),
                     store=store, feature_columns=FEATURES, label_columns=["label"],
                     evaluation_metric="accuracy", verbose=0)
    hp = kt.HyperParameters()
    hp.Choice("dense_block_1/num_layers", [1, 2], default=1)
    hp.Choice("dense_block_1/units_0", [16, 32], default=32)
    hp.Choice("dense_block_1/units_1", [16, 32], default=16)
    hp.Fixed("optimizer", "adam")
    am.tuner_bind("greedy", hyperparameters=hp, objective="val_accuracy", max_trials=3,
                  overwrite=True, parallelism=1)
    out_: dict = {}

    def run():
        try:
            out_["result"] = am.fit(cancer_df(spark), epochs=3, batch_size=32)
        except BaseException as e:  # noqa: BLE001
            out_["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    wait_for(lambda: store.exists("cerebro.db"), "the records database")
    db = RecordsDB(store)
    eid = wait_for(lambda: queries.list_experiments(db) and queries.list_trials(
        db, queries.list_experiments(db)[0]["id"]) and queries.list_experiments(db)[0]["id"],
        "the first trial")
    bad = queries.add_command(db, eid, "add", params={"no_such_hp": 1})
    good = queries.add_command(db, eid, "add", params=MANUAL)
    wait_for(lambda: queries.get_command(db, good["id"])["status"] != "PENDING", "the add")
    thread.join(timeout=600)
    assert not thread.is_alive() and "error" not in out_, out_.get("error")

    assert queries.get_command(db, bad["id"])["status"] == "REJECTED"
    assert "unknown hyperparameter" in queries.get_command(db, bad["id"])["message"]
    applied = queries.get_command(db, good["id"])
    assert applied["status"] == "APPLIED", applied
    exp = queries.get_experiment(db, eid)
    assert exp["kind"] == "nas" and exp["metric"] == "val_accuracy" and exp["status"] == "DONE"
    assert exp["budget"] == 3
    trials = {t["model_id"]: t for t in queries.list_trials(db, eid)}
    assert len(trials) == 3 and applied["model_id"] in trials  # the manual trial counts
    manual = trials[applied["model_id"]]
    assert {k: manual["hyperparameters"][k] for k in MANUAL} == MANUAL
    assert all(t["status"] == "DONE" and t["epochs_done"] == 3 for t in trials.values())
    for t in trials.values():
        assert "dense_block_1/num_layers" in t["hyperparameters"]
        assert len(queries.get_trial(db, t["id"])["history"]["val_accuracy"]) == 3
    result = out_["result"]
    assert set(result.models) == set(trials)
    assert len(queries.schedule(db, eid)) == 3 * 3 * 2 * 2
    oracle_trial = am.tuner.oracle.trials[applied["model_id"].split("_", 1)[1]]
    assert str(oracle_trial.status) == "COMPLETED"
