"""A search whose store is on a real S3-protocol server (moto, started on 127.0.0.1):
prepare (written by the Spark tasks with pyarrow: Spark has no S3 connector here), search,
resume on the same store (reusing the prepared data), export and predict."""

from __future__ import annotations

import logging

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def _model(directory, overwrite: bool, max_trials: int):
    from nas.helpers import dense_graph, small_dense_hp

    from cerebro.nas.hphpmodel import HyperHyperModel

    inp, out = dense_graph()
    am = HyperHyperModel(inputs=inp, outputs=out, overwrite=overwrite, seed=1,
                         project_name="s3", directory=str(directory))
    return am, small_dense_hp(), max_trials


def _fit(spark, store, df, directory, overwrite, max_trials):
    from cerebro.backend import SparkBackend

    from nas.helpers import FEATURES

    am, hp, trials = _model(directory, overwrite, max_trials)
    am.resource_bind(backend=SparkBackend(spark_context=spark.sparkContext, num_workers=2),
                     store=store, feature_columns=FEATURES, label_columns=["label"],
                     evaluation_metric="accuracy", verbose=0)
    am.tuner_bind("greedy", hyperparameters=hp, objective="val_accuracy", max_trials=trials,
                  overwrite=overwrite)
    return am, am.fit(df, epochs=2, batch_size=32)


def test_search_resume_and_export_on_s3(spark, s3_endpoint, tmp_path, caplog):
    from nas.helpers import FEATURES, cancer_df
    from s3_server import s3_store

    from cerebro.data import load_dataset_info
    from cerebro.keras import state as state_mod
    from cerebro.storage.layout import RunLayout

    store = s3_store(s3_endpoint)
    assert store.uri("").startswith("s3://")
    df = cancer_df(spark).cache()
    am, result = _fit(spark, store, df, tmp_path / "tuner", overwrite=True, max_trials=2)
    assert len(result.get_all_model_history()) == 2
    info = load_dataset_info(store)
    assert store.listdir(store.shards_key("train", info.fingerprint)) == [
        "part-00000.parquet", "part-00001.parquet"]
    assert store.listdir(store.runs_key()) == ["s3"]  # the project's own folder
    assert len(RunLayout(store, "s3").model_ids()) == 2
    first = {m: h["val_accuracy"] for m, h in result.get_all_model_history().items()}

    with caplog.at_level(logging.INFO, logger="cerebro"):
        am2, resumed = _fit(spark, store, df, tmp_path / "tuner", overwrite=False, max_trials=3)
    assert any("data preparation skipped" in r.getMessage() for r in caplog.records)
    histories = resumed.get_all_model_history()
    assert len(histories) == 3
    for model_id, val in first.items():  # the two finished trials were not trained again
        assert histories[model_id]["val_accuracy"] == val
    assert max(h["val_accuracy"][-1] for h in histories.values()) >= 0.85

    # Export: the best trial's spec and state come from S3 and give the same predictions.
    best = resumed.get_best_model()
    model = am2.export_model()
    store.write_bytes("exported/best.keras", state_mod.model_to_bytes(model))
    again = state_mod.model_from_bytes(store.read_bytes("exported/best.keras"))
    x = np.asarray(df.select(*FEATURES).limit(16).toPandas(), np.float32)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    assert best.spec_bytes and best.state_bytes  # read back from the S3 store
    # every row (the first 50 are 86% one class); the majority class alone gives 0.63
    rows = am2.predict(df).select("label", "label__class").collect()
    assert np.mean([r["label"] == r["label__class"] for r in rows]) >= 0.8
