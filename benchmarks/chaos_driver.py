"""The search ``benchmarks/chaos.py`` attacks: a seeded NAS random search, its own driver.

Usage: python chaos_driver.py STORE fresh|resume TRIALS EPOCHS SEED
Prints one line ``RESULT {json}``.
"""

import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

import numpy as np  # noqa: E402


def main(store_dir: str, mode: str, trials: int, epochs: int, seed: int) -> None:
    from pyspark.ml.linalg import Vectors
    from sklearn.datasets import load_digits

    from cerebro.backend import SparkBackend, local_session

    spark = local_session(2)
    spark.sparkContext.setLogLevel("ERROR")
    x, y = load_digits(return_X_y=True)
    x, y = np.repeat(x / 16.0, 4, axis=0), np.repeat(y, 4)
    df = spark.createDataFrame([(Vectors.dense(a.tolist()), int(b)) for a, b in zip(x, y)],
                               ["features", "label"])

    import autokeras as ak
    import keras_tuner as kt

    from cerebro.nas import HyperHyperModel
    from cerebro.storage import LocalStore

    fresh = mode == "fresh"
    inp = ak.StructuredDataInput()
    out = ak.ClassificationHead()(ak.DenseBlock()(inp))
    am = HyperHyperModel(inp, out, overwrite=fresh, seed=seed, project_name="chaos")
    backend = SparkBackend(spark.sparkContext, num_workers=2, visit_deadline_floor=10.0,
                           max_restarts=100, elastic_threads=False)  # compared with a quiet run
    am.resource_bind(backend, LocalStore(store_dir), ["features"], ["label"],
                     evaluation_metric="accuracy", verbose=0)
    hp = kt.HyperParameters()
    hp.Fixed("dense_block_1/num_layers", 2)
    am.tuner_bind("random", hyperparameters=hp, objective="val_accuracy", max_trials=trials,
                  overwrite=fresh, parallelism=4, early_stopping=None, strict_order=True)
    t0 = time.monotonic()
    result = am.fit(df, epochs=epochs)
    print_result(result, t0)


def print_result(result, t0: float) -> None:
    """Prints the ``RESULT {json}`` line: each trial's status, epochs and best val accuracy,
    the run's seconds and its restart figures (``chaos.py`` and ``soak.py`` read it)."""
    out = {}
    for model_id, model in result.models.items():
        vals = model.history.get("val_accuracy") or []
        out[model_id] = {"status": result.statuses[model_id], "epochs": len(vals),
                         "val": max(vals) if vals else None}
    stats = result.stats
    print("RESULT " + json.dumps({
        "seconds": time.monotonic() - t0, "trials": out,
        "best": max((t["val"] for t in out.values() if t["val"] is not None), default=None),
        "stats": {"restarts": stats.get("restarts"), "lost_visits": stats.get("lost_visits"),
                  "redone_s": stats.get("time_s", {}).get("redone_s")},
    }), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
