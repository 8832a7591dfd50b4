"""The few places that reach into another library's internals, each with its reason.

Everything else uses public APIs only. Each function here has a test in
``tests/test_upstream.py`` that fails if the library changes what it relies on.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Iterator, Optional, Sequence


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


def spark_live_conf(sc: Any) -> Any:
    """The running driver's own ``SparkConf`` (the JVM object), which Spark reads again
    whenever it starts Python workers.

    PySpark's ``SparkContext.getConf()`` returns a copy; a setting made on it changes
    nothing. ``backend.session.tune_running_session`` sets ``spark.python.daemon.module`` on
    this one so a user's local session forks its workers from cerebro's daemon.
    """
    return sc._jsc.sc().conf()


def oracle_random_values(oracle: Any) -> Optional[dict[str, Any]]:
    """A KerasTuner oracle's random draw of the whole space that no trial has tried yet, or
    ``None`` after too many collisions (``Oracle._random_values``).

    KerasTuner's own random search uses it; its dedupe against every tried trial
    (``_duplicate``) and its seed counter (``_seed_state``) are private too, so the greedy
    oracle's ``exploration`` draws call it rather than redo both.
    """
    values: Optional[dict[str, Any]] = oracle._random_values()
    return values


def adapt_preprocessing(model: Any, inputs: Any) -> None:
    """Adapts a model's preprocessing layers (``Normalization``, ...) on sample inputs, the
    way ``AutoModel.fit`` does: layer by layer from each input, each on what the layers
    before it output (``autokeras.engine.tuner.AutoTuner.adapt``, a static method of a class
    AutoKeras does not export)."""
    from autokeras.engine.tuner import AutoTuner

    AutoTuner.adapt(model, list(inputs))


def serve_values_first(oracle: Any, queued: list[dict[str, Any]]) -> None:
    """Makes ``oracle.create_trial`` hand out ``queued`` values (popped from the front)
    before its own proposals.

    KerasTuner has no public way to give an oracle a trial's values; ``create_trial`` asks
    ``self.populate_space`` (its public hook), so the instance's hook is wrapped. Works for
    any ``Oracle``, also one the user made.
    """
    propose = oracle.populate_space

    def populate_space(trial_id: str) -> dict[str, Any]:
        if queued:
            return {"status": "RUNNING", "values": queued.pop(0)}
        result: dict[str, Any] = propose(trial_id)
        return result

    oracle.populate_space = populate_space


#: Optional packages Keras imports when they are installed, for features a worker never uses
#: (scikit-learn wrappers, matplotlib image galleries, pandas DataFrames as inputs: workers
#: feed numpy).
NOT_FOR_WORKERS = ("sklearn", "matplotlib", "pandas")


@contextlib.contextmanager
def modules_hidden(names: Sequence[str]) -> Iterator[list[str]]:
    """Makes ``import name`` raise ``ImportError`` inside the block, for each of ``names``
    not imported yet (a ``None`` entry in ``sys.modules``); yields those hidden.

    Keras imports scikit-learn, matplotlib and pandas when they are installed and treats
    an ``ImportError`` as "not installed". Importing Keras with them hidden took 8.3 s
    instead of 14.5 s and 339 MB instead of 524 MB peak RSS (``import torch`` first, mean of
    3, a loaded 2-core host); they stay importable after the block (only Keras, imported
    inside it, keeps treating them as absent in this process).
    """
    hidden = [m for m in names if m not in sys.modules]
    for m in hidden:
        sys.modules[m] = None  # type: ignore[assignment]
    try:
        yield hidden
    finally:
        for m in hidden:
            if m in sys.modules and sys.modules[m] is None:
                del sys.modules[m]


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
