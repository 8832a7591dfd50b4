"""The search ``benchmarks/soak.py`` attacks: a seeded NAS random search, its own driver.

Digits with seeded noise on the pixels, so trials score differently (not all 1.0); a
random tuner over a DenseBlock's layers, units and dropout; strict visit order and one
thread per visit (elastic threads depend on timing, and a different thread count sums in a
different order: the quiet and the attacked run would drift apart), no early stopping; a
restart limit far above the kills the soak expects.

Usage: python soak_driver.py STORE fresh|resume TRIALS EPOCHS SEED
Prints one line ``RESULT {json}``.
"""

import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

import numpy as np  # noqa: E402


def main(store_dir: str, mode: str, trials: int, epochs: int, seed: int) -> None:
    from pyspark.ml.linalg import Vectors
    from sklearn.datasets import load_digits

    from chaos_driver import print_result  # this script's folder is on sys.path

    from cerebro.backend import SparkBackend, local_session

    spark = local_session(2)
    spark.sparkContext.setLogLevel("ERROR")
    x, y = load_digits(return_X_y=True)
    x = x / 16.0 + np.random.default_rng(0).normal(0.0, 0.25, x.shape)  # a harder task
    df = spark.createDataFrame([(Vectors.dense(a.tolist()), int(b)) for a, b in zip(x, y)],
                               ["features", "label"])

    import autokeras as ak

    from cerebro.nas import HyperHyperModel
    from cerebro.storage import LocalStore

    fresh = mode == "fresh"
    inp = ak.StructuredDataInput()
    out = ak.ClassificationHead()(ak.DenseBlock()(inp))
    am = HyperHyperModel(inp, out, overwrite=fresh, seed=seed, project_name="soak")
    backend = SparkBackend(spark.sparkContext, num_workers=2, max_restarts=1000,
                           elastic_threads=False)
    am.resource_bind(backend, LocalStore(store_dir), ["features"], ["label"],
                     evaluation_metric="accuracy", verbose=0)
    am.tuner_bind("random", objective="val_accuracy", max_trials=trials, overwrite=fresh,
                  parallelism=4, early_stopping=None,  # every trial runs all its epochs
                  strict_order=True)  # the same visit order whatever the timing
    t0 = time.monotonic()
    result = am.fit(df, epochs=epochs)
    print_result(result, t0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
