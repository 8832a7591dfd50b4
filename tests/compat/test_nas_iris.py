"""The fork's ``NAS_Iris.py``, ported: four ``StructuredDataInput`` columns, a nested
``Merge``, ``tuner="randomsearch"``; then the fork's ``sys_setup``/``fit_on_prepared_data``,
numpy ``evaluate(x, y)``, ``verbose=`` and a resumed search after editing only
``tuner_bind(overwrite=False)``. Changes from the fork's text are commented."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow

FEATURES = ['SepalLengthCm', 'SepalWidthCm', 'PetalLengthCm', 'PetalWidthCm']


def _iris_df(spark):
    """The fork's Iris_clean.csv: four measurements and a numeric Species (0, 1, 2)."""
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    rows = [tuple(float(v) for v in x[i]) + (int(y[i]),) for i in range(len(y))]
    return spark.createDataFrame(rows, FEATURES + ['Species'])


def _graph():
    import autokeras as ak
    import keras

    keras.backend.clear_session()  # not in the fork: the same block names in every build
    feature_columns = FEATURES
    input_node = [ak.StructuredDataInput() for c in feature_columns]
    embeddings = [ak.StructuredDataBlock()(innode) for innode in input_node]
    output_node = ak.Merge()([embeddings])
    output_node = ak.ClassificationHead()(output_node)
    return input_node, output_node


def _search(spark, store, df, overwrite_in_tuner_bind, max_trials):
    from cerebro.backend import SparkBackend
    from cerebro.nas.hphpmodel import HyperHyperModel

    input_node, output_node = _graph()
    am = HyperHyperModel(
        inputs=input_node, outputs=output_node, overwrite=True, seed=5  # fork: no seed
    )
    backend = SparkBackend(spark_context=spark.sparkContext, num_workers=2)  # fork: 1
    am.resource_bind(
        backend=backend,
        store=store,
        feature_columns=FEATURES,
        label_columns=['Species'],
        evaluation_metric='accuracy',
        verbose=0,  # not in the fork: quiet tests
    )
    am.tuner_bind(
        tuner="randomsearch",
        hyperparameters=None,
        objective="val_loss",
        max_trials=max_trials,  # fork: 20
        overwrite=overwrite_in_tuner_bind,  # fork: not given (run 1); run 2 edits only this
    )
    return am, am.fit(df, epochs=2)  # fork: epochs=10


@pytest.fixture(scope="module")
def iris(spark, tmp_path_factory):
    from cerebro.storage import LocalStore

    store = LocalStore(prefix_path=str(tmp_path_factory.mktemp("iris") / "experiments"))
    df = _iris_df(spark)
    train_df, test_df = df.randomSplit([0.8, 0.2], seed=7)  # fork: no seed
    am, result = _search(spark, store, train_df, None, max_trials=2)
    first = {m: {k: list(v) for k, v in h.items() if k != "trial"}
             for m, h in result.metrics.items()}
    return dict(store=store, am=am, result=result, first=first, train=train_df.cache(),
                test=test_df.cache())


def test_randomsearch_runs_the_fork_graph(iris):
    am, result = iris["am"], iris["result"]
    trials = am.tuner.oracle.trials
    assert len(trials) == 2 and {str(t.status) for t in trials.values()} == {"COMPLETED"}
    # The fork's result: metrics[model] holds the history and its KerasTuner trial.
    for model_id, info in result.metrics.items():
        assert info["trial"].trial_id == model_id[len("trial_"):]
        del info["trial"]  # what the fork's criteo_nas_exp.py does
        assert len(info["val_loss"]) == 2
    assert am.export_model().count_params() > 0


def test_evaluate_on_numpy_matches_the_dataframe(iris):
    am, test = iris["am"], iris["test"]
    pdf = test.toPandas()
    x, y = [pdf[c].to_numpy() for c in FEATURES], pdf["Species"].to_numpy()
    on_numpy = am.evaluate(x, y, verbose=0)
    on_df = am.evaluate(test, verbose=1)
    assert on_numpy["accuracy"] == pytest.approx(on_df["accuracy"], abs=1e-6)
    assert on_numpy["loss"] == pytest.approx(on_df["loss"], rel=1e-4)
    on_pandas = am.evaluate(pdf)  # a pandas DataFrame goes through the active session
    assert on_pandas["accuracy"] == pytest.approx(on_df["accuracy"], abs=1e-6)
    labels = am.predict(x, verbose=1)
    assert np.mean(labels == y) == pytest.approx(on_df["accuracy"], abs=1e-6)


def test_sys_setup_then_fit_on_prepared_data(iris):
    am, store = iris["am"], iris["store"]
    train_rows, val_rows, metadata, avg_row_size = am.sys_setup(iris["train"])
    assert train_rows + val_rows == iris["train"].count()
    assert avg_row_size is not None and avg_row_size > 0
    datasets = store.listdir("data/datasets")
    am.tuner_bind("randomsearch", objective="val_loss", max_trials=1, overwrite=True,
                  project_name="prepared")  # the fork took project_name here
    result = am.fit_on_prepared_data(batch_size=32.0, epochs=1, verbose=0)  # sys_setup's df
    assert len(result.get_all_models()) == 1
    assert am._require_fit().dataset == metadata.fingerprint  # the data sys_setup wrote
    assert store.listdir("data/datasets") == datasets  # nothing prepared again


def test_resume_after_editing_only_tuner_bind_overwrite_false_keeps_finished_trials(spark,
                                                                                   iris,
                                                                                   caplog):
    import logging

    store, first = iris["store"], iris["first"]
    am, result = _search(spark, store, iris["train"], False, max_trials=3)
    trials = am.tuner.oracle.trials
    assert len(trials) == 3  # two kept, one new
    histories = result.get_all_model_history()
    assert set(first) < set(histories)
    for model_id, history in first.items():  # kept, not trained again
        assert {k: list(v) for k, v in histories[model_id].items()} == history
    # And overwrite=True (the constructor's, not overridden) starts afresh.
    with caplog.at_level(logging.WARNING, logger="cerebro"):
        am3, result3 = _search(spark, store, iris["train"], None, max_trials=1)
    assert len(am3.tuner.oracle.trials) == 1 and len(result3.get_all_models()) == 1
    deleted = [r.getMessage() for r in caplog.records if "deleted" in r.getMessage()]
    assert len(deleted) == 1 and "'hphp_model'" in deleted[0], deleted  # names the project
