"""The few places that reach into another library's internals, each with its reason.

Everything else uses public APIs only. Each function here has a test in
``tests/test_upstream.py`` that fails if the library changes what it relies on.
"""

from __future__ import annotations

from typing import Any, Optional


def graph_metrics(graph: Any) -> Any:
    """The metrics an AutoKeras ``Graph`` compiles its model with: head name -> metrics.

    AutoKeras 3.0 has no public accessor: ``Graph._get_metrics`` is what its own
    ``AutoModel`` uses to compile. Needed to recompile the plain-Keras copy of a trial's
    model with the same metrics.
    """
    return graph._get_metrics()


def spark_concurrent_task_slots(sc: Any) -> Optional[int]:
    """Tasks the cluster can run at once now (what Spark checks a barrier stage against).

    PySpark exposes neither ``SparkContext.maxNumConcurrentTasks`` nor resource profiles'
    defaults in Python; ``defaultParallelism`` is not the same figure (a standalone cluster
    reports 2 before any executor registered). Returns ``None`` when the JVM call fails.
    """
    try:
        jsc = sc._jsc.sc()
        return int(jsc.maxNumConcurrentTasks(jsc.resourceProfileManager().defaultResourceProfile()))
    except Exception:  # noqa: BLE001 - an internal API: the caller falls back
        return None


def stop_spark_progress_bar(sc: Any) -> bool:
    """Stops Spark's console progress bar (``[Stage N:>...]`` on stderr) for this session.

    ``spark.ui.showConsoleProgress`` is read only when the context starts and PySpark has no
    call to turn the bar off later; the JVM's ``SparkContext.progressBar`` can be stopped.
    Returns whether a bar was stopped.
    """
    try:
        bar = sc._jsc.sc().progressBar()
        if bar.isDefined():
            bar.get().stop()
            return True
    except Exception:  # noqa: BLE001 - an internal API: the bar just stays
        pass
    return False


def weighted_metric_names(model: Any) -> frozenset[str]:
    """The names under which ``fit``/``evaluate`` report ``compile(weighted_metrics=...)``.

    A weighted metric is a mean over the sum of the sample weights, an unweighted one over
    the rows, so an epoch's value over several shards needs to know which is which. Keras 3
    names the results in ``CompileMetrics.result()`` (a weighted metric whose name clashes
    with an unweighted one's gets a ``weighted_`` prefix) and has no public accessor: the
    names are those ``result()`` gives minus those it gives without the weighted metrics
    (the unweighted ones are named first, so their names do not depend on the weighted).
    Empty before the metrics are built (the model's first ``fit``/``evaluate``).
    """
    metrics = getattr(model, "_compile_metrics", None)
    if metrics is None or not getattr(metrics, "built", False) \
            or not any(metrics._flat_weighted_metrics):
        return frozenset()
    every = set(metrics.result())
    weighted = metrics._flat_weighted_metrics
    metrics._flat_weighted_metrics = []
    try:
        unweighted = set(metrics.result())
    finally:
        metrics._flat_weighted_metrics = weighted
    return frozenset(every - unweighted)
