"""What cerebro/_upstream.py relies on in other libraries still holds (fails if upstream
changes), and the public APIs used instead of internals behave as assumed."""

from __future__ import annotations


def test_autokeras_graph_metrics_per_head():
    import autokeras as ak
    from autokeras import graph as graph_module

    from cerebro._upstream import graph_metrics

    inp = ak.Input()
    head = ak.ClassificationHead(metrics=["accuracy"])
    graph = graph_module.Graph(inputs=[inp], outputs=[head(ak.DenseBlock()(inp))])
    assert graph_metrics(graph) == {head.name: ["accuracy"]}


def test_spark_concurrent_task_slots(spark):
    from cerebro._upstream import spark_concurrent_task_slots

    slots = spark_concurrent_task_slots(spark.sparkContext)
    assert isinstance(slots, int) and slots >= 1


def test_hyperopt_trials_are_live_documents():
    """TPESearch marks a suggested point done by editing the document ``Trials.trials``
    returns (public), then ``refresh()``."""
    from hyperopt import JOB_STATE_DONE, STATUS_OK, Trials, hp, tpe
    from hyperopt.base import Domain

    trials = Trials()
    domain = Domain(lambda p: 0.0, {"x": hp.uniform("x", 0, 1)})
    tid = trials.new_trial_ids(1)[0]
    trials.insert_trial_docs(tpe.suggest([tid], domain, trials, 1))
    trials.refresh()
    (doc,) = [d for d in trials.trials if d["tid"] == tid]
    doc["state"], doc["result"] = JOB_STATE_DONE, {"loss": 0.5, "status": STATUS_OK}
    trials.refresh()
    assert trials.losses() == [0.5]


def test_spark_progress_bar_can_be_found_and_stopped(spark):
    from cerebro._upstream import stop_spark_progress_bar

    bar = spark.sparkContext._jsc.sc().progressBar()  # what the helper relies on
    had_bar = bool(bar.isDefined())
    assert stop_spark_progress_bar(spark.sparkContext) is had_bar


def test_keras_weighted_metric_names_are_the_weighted_results():
    """The names ``weighted_metric_names`` gives are exactly the results Keras computes with
    the sample weights (a clashing name gets Keras's ``weighted_`` prefix)."""
    import keras
    import numpy as np

    from cerebro._upstream import weighted_metric_names

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 3)).astype("float32"), rng.integers(0, 2, 64)
    w = rng.choice([0.0, 1.0, 4.0], size=64).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy", keras.metrics.SparseCategoricalCrossentropy(
                      name="xent")])
    assert weighted_metric_names(model) == frozenset()  # not built before its first use
    got = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    names = weighted_metric_names(model)
    assert names == {"weighted_accuracy", "xent"}
    hit = (np.argmax(model.predict(x, verbose=0), axis=1) == y).astype("float64")
    np.testing.assert_allclose(got["weighted_accuracy"], (hit * w).sum() / w.sum(), rtol=1e-5)
    np.testing.assert_allclose(got["accuracy"], hit.mean(), rtol=1e-5)
    assert set(got) == {"loss", "accuracy"} | names  # result() was left as it was
