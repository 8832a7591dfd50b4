"""Preparation within the data budget, checked from outside: peak RSS of every Python process.

``python benchmarks/prepmem.py [--rows N] [--columns C] [--budget-mb B] [--api nas|tune]``
generates a table of ``N`` rows x ``C`` float columns in Spark (``spark.range`` and ``rand``,
written to Parquet; nothing reaches the driver), then runs a first search on it (2 workers,
``data_memory_mb=B``): the search prepares the data (Spark tasks write the shards), each
worker makes its local copy, then one model trains for one epoch, streamed from disk.
``--api nas`` (default): ``HyperHyperModel``, StructuredDataInput -> DenseBlock (as
``benchmarks/outofcore.py``); ``--api tune``: a ``GridSearch`` of one MLP.

A thread polls, every 0.2 s, every process descended from this one whose command line is a
Python one (PySpark's or cerebro's daemon and the workers they fork: the preparation's
tasks and the cerebro workers) and keeps each one's peak RSS. The issue's bound: every
executor Python process stays within ``data_memory_mb + 600 MB``, preparation included.
A spike shorter than the interval can be missed: the peaks are lower bounds.

Results go to ``benchmarks/results/prepmem.json``. ``tests/data/test_prepare_memory.py`` runs
the same check at a smaller size (still many times the budget per shard).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
from typing import Optional

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MB = 2**20
SLACK_MB = 600  # what the bound allows above the data budget: Python, torch, Keras, Arrow


def _is_python(proc: psutil.Process) -> bool:
    """A Python process (PySpark's daemons and workers; not the JVM, whose command line
    names pyspark's jars)."""
    cmd = proc.cmdline()
    return bool(cmd) and os.path.basename(cmd[0]).startswith("python")


class PythonPoller:
    """Peak RSS of each Python process descended from this one, polled every ``interval``.

    Each process's peak is kept with the time it was reached at (seconds since the poller
    started) and its role: ``daemon`` (forked by this process's JVM) or ``worker`` (forked
    by a daemon: the preparation's tasks and the cerebro workers).
    """

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peaks: dict[int, dict] = {}  # pid -> {"peak_rss", "role", "t"}
        self.samples = 0
        self.trace: list[tuple[float, int, int]] = []  # (t, pid, rss)
        self._t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-poller", daemon=True)

    def start(self) -> "PythonPoller":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        me = psutil.Process(os.getpid())
        while not self._stop.wait(self.interval):
            self.samples += 1
            for p in me.children(recursive=True):
                try:
                    if not _is_python(p):
                        continue
                    rss = p.memory_info().rss
                    parent = p.parent()
                    role = "worker" if parent is not None and parent.pid != me.pid \
                        and _is_python(parent) else "daemon"
                except psutil.Error:
                    continue
                self.trace.append((round(time.monotonic() - self._t0, 1), p.pid, rss))
                peak = self.peaks.get(p.pid)
                if peak is None or rss > peak["peak_rss"]:
                    self.peaks[p.pid] = {"peak_rss": rss, "role": role,
                                         "t": round(time.monotonic() - self._t0, 1)}

    def peak_mb(self, role: Optional[str] = None) -> float:
        """The highest peak (MB) over the processes (of ``role``, if given)."""
        return max((p["peak_rss"] / MB for p in self.peaks.values()
                    if role is None or p["role"] == role), default=0.0)

    def table(self) -> str:
        rows = sorted(self.peaks.items(), key=lambda kv: -kv[1]["peak_rss"])
        return "\n".join(f"pid {pid:>7}  {p['role']:<6}  {p['peak_rss'] / MB:7.0f} MB  "
                         f"at {p['t']:6.1f} s" for pid, p in rows)


def generate(spark, path: str, rows: int, columns: int, seed: int = 3) -> None:
    """``rows`` x ``columns`` float32 features (uniform), an int label, ``is_val`` (1 in 5),
    written to Parquet by Spark alone (nothing goes through the driver)."""
    from pyspark.sql import functions as F

    df = spark.range(0, rows, numPartitions=max(2, -(-rows // 500_000)))
    feats = [F.rand(seed + i).cast("float").alias(f"f{i}") for i in range(columns)]
    df = df.select("id", *feats)
    label = (F.col("f0") + F.col("f1") > 1.0).cast("int").alias("label")
    df.select(*[f"f{i}" for i in range(columns)], label,
              ((F.col("id") % 5) == 0).alias("is_val")).write.mode("overwrite").parquet(path)


class _Pools:
    """Keeps the worker pools a backend starts (their workers' ready records)."""

    def __init__(self) -> None:
        self.pools: list = []

    def backend(self, spark, work: str, budget_mb: float):
        from cerebro.backend import SparkBackend

        pools = self.pools

        class Backend(SparkBackend):
            def start_workers(self, store, dataset, columns):
                pools.append(super().start_workers(store, dataset, columns))
                return pools[-1]

        return Backend(spark.sparkContext, num_workers=2, verbose=0, data_memory_mb=budget_mb,
                       local_dir=os.path.join(work, "local"))

    def figures(self) -> dict:
        ready = self.pools[-1].ready_info.values()
        return {"shard_mb": [int(i.get("shard_bytes", 0)) / MB for i in ready],
                "streamed": [not i.get("data_in_memory", True) for i in ready]}


def _tune(spark, df, work: str, features: list[str], backend):
    """``cerebro.tune``: one MLP over the feature columns (one Keras input each)."""
    import keras

    from cerebro.keras import SparkEstimator
    from cerebro.storage import LocalStore
    from cerebro.tune import GridSearch, hp_choice

    def gen(params):
        inputs = [keras.Input((1,), name=c) for c in features]
        hidden = keras.layers.Dense(params["units"], activation="relu")(
            keras.layers.Concatenate()(inputs))
        model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(hidden))
        return SparkEstimator(model, keras.optimizers.Adam(1e-3),
                              "sparse_categorical_crossentropy", ["accuracy"], batch_size=4096)

    search = GridSearch(backend, LocalStore(os.path.join(work, "store")), gen,
                        {"units": hp_choice([8])}, num_epochs=1, evaluation_metric="accuracy",
                        feature_columns=features, label_columns=["label"],
                        validation="is_val", verbose=0)
    result = search.fit(df)
    return [float(m.history["val_accuracy"][-1]) for m in result.models.values()]


def _nas(spark, df, work: str, features: list[str], backend):
    """``HyperHyperModel`` (AutoKeras): StructuredDataInput -> DenseBlock, 1 trial."""
    from keras_tuner import HyperParameters

    import autokeras as ak
    from cerebro.nas.hphpmodel import HyperHyperModel
    from cerebro.storage import LocalStore

    inp = ak.StructuredDataInput(column_names=features,
                                 column_types={c: "numerical" for c in features})
    am = HyperHyperModel(inputs=inp, outputs=ak.ClassificationHead()(ak.DenseBlock()(inp)),
                         overwrite=True, max_trials=1, seed=1)
    am.resource_bind(backend=backend, store=LocalStore(os.path.join(work, "store")),
                     feature_columns=features, label_columns=["label"],
                     evaluation_metric="accuracy", validation="is_val", verbose=0,
                     records=False)
    hp = HyperParameters()
    hp.Fixed("learning_rate", value=0.001)
    am.tuner_bind("greedy", hyperparameters=hp, objective="val_accuracy", max_trials=1,
                  overwrite=True)
    result = am.fit(df, epochs=1, batch_size=4096)
    return [float(m.history["val_accuracy"][-1]) for m in result.models.values()]


def first_search(spark, parquet: str, work: str, columns: int, budget_mb: float,
                 api: str = "tune") -> dict:
    """Prepares ``parquet`` and trains one small model one epoch on it (the workers copy
    their partitions first), through ``cerebro.tune`` or ``cerebro.nas``; the figures."""
    pools = _Pools()
    backend = pools.backend(spark, work, budget_mb)
    features = [f"f{i}" for i in range(columns)]
    t0 = time.monotonic()
    accs = (_nas if api == "nas" else _tune)(spark, spark.read.parquet(parquet), work,
                                             features, backend)
    return {"api": api, "search_s": time.monotonic() - t0, "models": len(accs),
            "val_accuracy": accs, **pools.figures()}


def run(spark, rows: int, columns: int, budget_mb: float, work: str, api: str = "tune",
        trace: bool = False) -> dict:
    """Generates the table, runs the first search under the poller; returns the figures
    (with ``trace``, every sample: ``(seconds, pid, rss bytes)``)."""
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    parquet = os.path.join(work, "table.parquet")
    t0 = time.monotonic()
    generate(spark, parquet, rows, columns)
    out: dict = {"rows": rows, "columns": columns, "budget_mb": budget_mb,
                 "generate_s": time.monotonic() - t0}
    poller = PythonPoller().start()
    try:
        out.update(first_search(spark, parquet, work, columns, budget_mb, api))
    finally:
        poller.stop()
    out["bound_mb"] = budget_mb + SLACK_MB
    out["peak_mb"] = poller.peak_mb()
    out["peak_worker_mb"] = poller.peak_mb("worker")
    out["samples"] = poller.samples
    out["processes"] = {str(pid): {"peak_rss_mb": p["peak_rss"] / MB, "role": p["role"],
                                   "t": p["t"]}
                        for pid, p in poller.peaks.items()}
    out["table"] = poller.table() if poller.peaks else ""
    if trace:
        out["trace"] = poller.trace
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=8_000_000)
    p.add_argument("--columns", type=int, default=32)
    p.add_argument("--budget-mb", type=float, default=16)
    p.add_argument("--api", choices=("tune", "nas"), default="nas",
                   help="search with cerebro.tune (GridSearch) or cerebro.nas "
                        "(HyperHyperModel, as benchmarks/outofcore.py)")
    p.add_argument("--driver-memory", default="4g",
                   help="the driver JVM's heap (8M rows held by the preparation's one pass "
                        "ran a 2g heap out of memory)")
    p.add_argument("--trace", action="store_true", help="keep every RSS sample")
    p.add_argument("--work-dir", default=os.path.join(ROOT, ".bench", "prepmem"))
    p.add_argument("--results", default=os.path.join(ROOT, "benchmarks", "results",
                                                      "prepmem.json"))
    args = p.parse_args(argv)
    from cerebro.backend.session import local_session

    spark = local_session(2, app_name="cerebro-prepmem", driver_memory=args.driver_memory,
                          conf={"spark.ui.showConsoleProgress": "false"})
    spark.sparkContext.setLogLevel("ERROR")
    try:
        out = run(spark, args.rows, args.columns, args.budget_mb, args.work_dir, args.api,
                  args.trace)
    finally:
        spark.stop()
    out["created"] = time.strftime("%Y-%m-%d %H:%M:%S")
    print(out["table"])
    print(json.dumps({k: v for k, v in out.items() if k not in ("processes", "table", "trace")},
                     indent=1))
    with open(args.results + ".tmp", "w") as f:
        json.dump(out, f, indent=1)
    os.replace(args.results + ".tmp", args.results)
    return 0 if out["peak_mb"] <= out["bound_mb"] else 1


if __name__ == "__main__":
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    sys.exit(main())
