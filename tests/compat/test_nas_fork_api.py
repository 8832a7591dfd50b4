"""The fork's ``cerebro.nas`` names and AutoKeras habits, checked before anything trains:
tuner aliases, overwrite precedence, where the KerasTuner state goes, input checks."""

from __future__ import annotations

import os

import pytest

FEATURES = ['SepalLengthCm', 'SepalWidthCm', 'PetalLengthCm', 'PetalWidthCm']


def _am(**kw):
    import autokeras as ak
    import keras

    from cerebro.nas.hphpmodel import HyperHyperModel

    keras.backend.clear_session()
    inp = ak.StructuredDataInput()
    out = ak.ClassificationHead()(ak.DenseBlock()(inp))
    return HyperHyperModel(inputs=inp, outputs=out, **kw)


def _bind(am, spark, store, metric="accuracy"):
    from cerebro.backend import SparkBackend

    am.resource_bind(backend=SparkBackend(spark_context=spark.sparkContext, num_workers=2),
                     store=store, feature_columns=FEATURES, label_columns=["Species"],
                     evaluation_metric=metric, verbose=0)
    return am


@pytest.mark.parametrize("name, oracle", [("randomsearch", "RandomSearchOracle"),
                                          ("gridsearch", "GridSearchOracle"),
                                          ("RandomSearch", "RandomSearchOracle"),
                                          ("greedy", "ExploringGreedyOracle")])
def test_fork_tuner_names_are_aliases(spark, store, name, oracle):
    am = _bind(_am(overwrite=True), spark, store)
    am.tuner_bind(tuner=name, hyperparameters=None, objective="val_loss", max_trials=3)
    # the oracle the fork named, or this project's parallel-aware subclass of it
    assert oracle in [c.__name__ for c in type(am.tuner.oracle).__mro__]
    assert am.objective.name == "val_loss"  # the fork's property


def test_tuner_bind_before_resource_bind_keeps_state_in_the_store(spark, store, tmp_path,
                                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)
    am = _am(overwrite=True)
    am.tuner_bind("random", objective="val_loss", max_trials=2)
    assert am.tuner is None  # made once the store is known
    _bind(am, spark, store)
    assert am.tuner is not None
    assert os.path.realpath(am.tuner.project_dir).startswith(
        os.path.realpath(store.fs_path("nas")))
    assert not os.path.exists(tmp_path / "cerebro_nas")


def test_explicit_tuner_bind_overwrite_wins_over_the_constructors(spark, store):
    am = _bind(_am(overwrite=True), spark, store)
    am.tuner_bind("random", objective="val_loss", overwrite=False)
    assert am.tuner_settings.overwrite is False
    am.tuner_bind("random", objective="val_loss")  # not given: the constructor's
    assert am.tuner_settings.overwrite is True
    am2 = _bind(_am(overwrite=False), spark, store)
    am2.tuner_bind("random", objective="val_loss", overwrite=True)
    assert am2.tuner_settings.overwrite is True


def test_fork_tuner_bind_keywords(spark, store):
    am = _bind(_am(), spark, store)
    am.tuner_bind(parallelism=2, tuner="gridsearch", project_name="iris_nas", max_trials=4,
                  objective="val_accuracy", overwrite=True, max_model_size=10_000)
    assert am.project_name == "iris_nas" and am.tuner.project_name == "iris_nas"
    assert am.max_model_size == 10_000 and am.tuner_settings.max_trials == 4


def test_misspelt_evaluation_metric_is_refused_at_resource_bind(spark, store):
    with pytest.raises(ValueError, match=r"'acuracy'.*\['loss', 'accuracy'\]"):
        _bind(_am(), spark, store, metric="acuracy")
    with pytest.raises(ValueError, match="without 'val_'"):
        _bind(_am(), spark, store, metric="val_accuracy")


def test_not_a_dataframe_is_refused_with_how(spark, store):
    am = _bind(_am(overwrite=True), spark, store)
    am.tuner_bind("random", objective="val_loss", max_trials=1)
    with pytest.raises(TypeError, match="Spark DataFrame"):
        am.fit([[1.0, 2.0]], epochs=1)
    assert store.listdir(store.runs_key()) == []


def test_pandas_dataframe_is_converted_by_the_active_session(spark):
    import pandas as pd

    from cerebro.nas.compat import as_spark_df

    sdf = as_spark_df(pd.DataFrame({"a": [1.0, 2.0], "Species": [0, 1]}))
    assert sdf.columns == ["a", "Species"] and sdf.count() == 2


def test_per_batch_callbacks_are_refused_before_training(spark, store, tmp_path):
    import keras

    am = _bind(_am(overwrite=True), spark, store)
    am.tuner_bind("random", objective="val_loss", max_trials=1)
    df = spark.createDataFrame([(1.0, 2.0, 3.0, 4.0, 0)], FEATURES + ["Species"])
    with pytest.raises(ValueError, match="ModelCheckpoint"):
        am.fit(df, epochs=1, callbacks=[keras.callbacks.ModelCheckpoint(str(tmp_path / "m.keras"))])

    class PerBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    with pytest.raises(ValueError, match=r"PerBatch.*on_train_batch_end"):
        am.fit(df, epochs=1, callbacks=[PerBatch()])
    assert store.listdir(store.runs_key()) == []
