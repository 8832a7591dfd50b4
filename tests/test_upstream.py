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
