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
