"""Start-up profile of cerebro's pieces, each measured on its own (``--profile`` of run.py).

- imports in a fresh interpreter: torch; torch + keras; the same with the optional packages a
  worker hides (scikit-learn, matplotlib); autokeras (what the driver imports);
- Spark: session start, a no-op barrier job on cold Python workers, then on warm ones;
- cerebro's worker start on the prepared MNIST data: cold (fresh Python workers), then again
  in the same session (PySpark reuses the Python workers, whose imports are done);
- one hop's worth of state: serialise + write + read + deserialise a trained CNN's state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

HIDE = "import sys; sys.modules.update(sklearn=None, matplotlib=None, pandas=None); "


def _import_s(code: str, repeat: int = 2) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True,
                       env=dict(os.environ, KERAS_BACKEND="torch"))
        best = min(best, time.perf_counter() - t0)
    return best


def imports() -> dict:
    base = _import_s("pass")
    return {"interpreter": base,
            "torch": _import_s("import torch") - base,
            "torch + keras": _import_s("import torch, keras") - base,
            "torch + keras, sklearn/matplotlib/pandas hidden": _import_s(HIDE + "import torch, keras") - base,
            "autokeras": _import_s("import autokeras") - base}


def spark_and_workers(mnist_parquet: str, work_dir: str, fast: bool, workers: int = 2) -> dict:
    """Spark's and cerebro's worker start, with stock settings or ``local_session``'s."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    out = {}
    t0 = time.perf_counter()
    from pyspark.sql import SparkSession

    from cerebro.backend.session import local_session

    spark = (local_session(workers) if fast else SparkSession.builder.master(f"local[{workers}]")
             .config("spark.ui.enabled", "false").getOrCreate())
    sc = spark.sparkContext
    sc.setLogLevel("ERROR")
    out["spark session start"] = time.perf_counter() - t0

    def noop_barrier():
        t = time.perf_counter()
        sc.parallelize(range(workers), workers).barrier().mapPartitions(lambda it: [0]).collect()
        return time.perf_counter() - t

    out["no-op barrier job, cold Python workers"] = noop_barrier()
    out["no-op barrier job, warm"] = noop_barrier()

    from cerebro.backend import SparkBackend
    from cerebro.data.prepare import prepare_data
    from cerebro.storage import LocalStore

    store = LocalStore(prefix_path=os.path.join(work_dir, "profile-store"))
    backend = SparkBackend(spark_context=sc, num_workers=workers, verbose=0, warm_up=False)
    t = time.perf_counter()
    info = prepare_data(store, spark.read.parquet(mnist_parquet), ["features"], ["label"],
                        workers, validation="is_val")
    out["prepare_data (MNIST, 5,000 rows)"] = time.perf_counter() - t
    for label in ("worker start, imports in the workers", "worker start, Python workers reused"):
        pool = backend.start_workers(store, info, ("features", "label"))
        out[label] = pool.start_s
        pool.shutdown()
    spark.stop()
    return out


def hop_state() -> dict:
    import keras
    import numpy as np

    from cerebro.keras import state as state_mod
    from cerebro.storage import LocalStore

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(32, 3),
                              keras.layers.MaxPooling2D(2), keras.layers.Conv2D(32, 3),
                              keras.layers.Flatten(), keras.layers.Dense(10, "softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(np.zeros((32, 28, 28, 1)), np.zeros(32), verbose=0)
    store = LocalStore(prefix_path="/tmp/cerebro-profile-hop")
    t = time.perf_counter()
    data = state_mod.state_to_bytes(state_mod.get_state(model))
    store.write_bytes("s.npz", data)
    save = time.perf_counter() - t
    t = time.perf_counter()
    state_mod.set_state(model, state_mod.state_from_bytes(store.read_bytes("s.npz")))
    load = time.perf_counter() - t
    return {"state MB": len(data) / 2**20, "save s": save, "load s": load}


def _spark_in_subprocess(mnist_parquet: str, work_dir: str, fast: bool) -> dict:
    """One JVM per setting: a Python process launches its JVM once, with the first options."""
    out_path = os.path.join(work_dir, f"profile-spark-{'fast' if fast else 'stock'}.json")
    subprocess.run([sys.executable, "-m", "benchmarks.profile_startup", "--spark",
                    "fast" if fast else "stock", mnist_parquet, work_dir, out_path], check=True,
                   env=dict(os.environ, KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "torch")))
    with open(out_path) as f:
        return json.load(f)


def main(argv=None) -> int:
    argv = list(argv or sys.argv[1:])
    if argv[0] == "--spark":
        mode, mnist_parquet, work_dir, out_path = argv[1:5]
        res = spark_and_workers(mnist_parquet, work_dir, fast=mode == "fast")
        with open(out_path, "w") as f:
            json.dump(res, f)
        return 0
    mnist_parquet, work_dir, out_path = argv[:3]
    res = {"imports_s": imports(),
           "spark_s": _spark_in_subprocess(mnist_parquet, work_dir, fast=False),
           "spark_fast_s": _spark_in_subprocess(mnist_parquet, work_dir, fast=True),
           "hop": hop_state()}
    with open(out_path, "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
