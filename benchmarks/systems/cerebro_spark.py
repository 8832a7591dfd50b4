"""System (a): this project, ``HyperHyperModel`` on ``SparkBackend``, local[N], one worker per core.

It does what a user does (Spark session, store, bind, ``fit`` on a DataFrame read from
Parquet), plus thin instrumentation: a backend subclass that times the worker start and
notes the first dispatched visit, and the NAS bridge's event hook for epoch-end times.
"""

from __future__ import annotations

import os
import sys
import time

from benchmarks.systems._harness import main
from benchmarks import workloads
from benchmarks.systems.seed_walkthrough import epoch_listener


class _TimedPool:
    """Passes everything to the real pool; remembers when the first visit was sent."""

    def __init__(self, pool):
        self._pool = pool
        self.first_submit = None

    def __getattr__(self, name):
        return getattr(self._pool, name)

    def submit(self, worker, task):
        if self.first_submit is None:
            self.first_submit = time.time()
        return self._pool.submit(worker, task)


def _backend_class():
    from cerebro.backend import SparkBackend

    class TimedSparkBackend(SparkBackend):
        pools: list = []
        start_calls: list = []

        def start_workers(self, store, dataset, columns):
            t0 = time.time()
            pool = _TimedPool(super().start_workers(store, dataset, columns))
            self.start_calls.append((t0, time.time()))
            self.pools.append(pool)
            return pool

    return TimedSparkBackend


def _scheduler_gaps(timeline, workers: int) -> dict:
    """Idle gaps between consecutive visits of the same worker, as the driver saw them."""
    gaps = []
    for w in range(workers):
        spans = sorted((s, e) for wk, _, _, s, e in timeline if wk == w)
        gaps += [b[0] - a[1] for a, b in zip(spans, spans[1:])]
    gaps.sort()
    if not gaps:
        return {"count": 0}
    return {"count": len(gaps), "median_ms": 1000 * gaps[(len(gaps) - 1) // 2],
            "p90_ms": 1000 * gaps[round(0.9 * (len(gaps) - 1))], "max_ms": 1000 * gaps[-1],
            "total_s": sum(gaps)}


def run(spec: dict, marks) -> dict:
    wl, workers = spec["workload"], int(spec["workers"])
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # The session README recommends on one machine: the class archive make install built, a
    # quick JIT, and Python workers forked with torch and Keras imported.
    from cerebro.backend.session import local_session

    marks("spark_imported")
    spark = local_session(workers, app_name="cerebro-bench")
    spark.sparkContext.setLogLevel("ERROR")
    marks("spark_ready")

    # The seed walk-through's order (cerebro/demo.py): session, backend, then AutoKeras.
    backend = _backend_class()(spark_context=spark.sparkContext, num_workers=workers)
    marks("backend_created")
    import autokeras  # noqa: F401 - timed on its own
    from cerebro.nas.hphpmodel import HyperHyperModel
    from cerebro.storage import LocalStore

    marks("cerebro_imported")
    store = LocalStore(prefix_path=os.path.join(spec["work_dir"], "store"))
    inp, out = workloads.graph(wl)
    am = HyperHyperModel(inputs=inp, outputs=out, overwrite=True, max_trials=wl["trials"],
                         seed=wl["seed"])
    mnist = wl["name"] == "mnist"
    am.resource_bind(backend=backend, store=store,
                     feature_columns=["features"] if mnist else workloads.CRITEO_FEATURES,
                     label_columns=["label"], evaluation_metric="accuracy",
                     validation=workloads.VAL_COL, verbose=0,
                     listeners=[epoch_listener(workloads.EpochLog(spec["epoch_log"]))])
    kw = {k: wl[k] for k in ("early_stopping",) if k in wl}  # else the default
    am.tuner_bind(wl.get("tuner", "greedy"), hyperparameters=workloads.hyperparameters(wl),
                  objective="val_accuracy", max_trials=wl["trials"], overwrite=True, **kw)
    df = spark.read.parquet(wl["data"]["parquet"])
    marks("fit_called")
    result = am.fit(df, epochs=wl["epochs"], input_shape=(28, 28, 1) if mnist else None,
                    batch_size=wl["batch_size"])
    marks("fit_returned")

    pool = backend.pools[-1]
    t_start, t_ready = backend.start_calls[-1]
    marks["workers_start_called"] = round(t_start - marks.t_launch, 3)
    marks["workers_ready"] = round(t_ready - marks.t_launch, 3)
    marks["first_visit"] = round(pool.first_submit - marks.t_launch, 3)
    timeline = result.stats.get("timeline", [])
    spark.stop()
    marks("spark_stopped")
    return {
        "stats": {k: v for k, v in result.stats.items() if isinstance(v, (int, float))},
        "breakdown": result.stats.get("time_s", {}),
        "scheduler_gaps": _scheduler_gaps(timeline, workers),
        "timeline": [list(t) for t in timeline],
        "timeline_t0": round(pool.first_submit - marks.t_launch, 3),
        "workers_info": {str(p): info for p, info in pool.ready_info.items()},
        "worker_pids": {str(p): pid for p, pid in getattr(pool, "pids", {}).items()},
        "trials": workloads.oracle_trials(am.tuner.oracle),
    }


if __name__ == "__main__":
    main(run)
