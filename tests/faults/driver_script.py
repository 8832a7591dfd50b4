"""A NAS search run as its own driver process, so a test can SIGKILL it and run it again.

Usage: python driver_script.py STORE_DIR fresh|resume
Prints one line ``RESULT {json}`` at the end.
"""

import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

import numpy as np  # noqa: E402


def main(store_dir: str, mode: str) -> None:
    from pyspark.ml.linalg import Vectors
    from sklearn.datasets import load_digits

    from cerebro.backend import local_session

    spark = local_session(2)
    spark.sparkContext.setLogLevel("ERROR")
    x, y = load_digits(return_X_y=True)
    x, y = np.repeat(x / 16.0, 3, axis=0), np.repeat(y, 3)
    df = spark.createDataFrame([(Vectors.dense(a.tolist()), int(b)) for a, b in zip(x, y)],
                               ["features", "label"])

    import autokeras as ak
    import keras_tuner as kt

    from cerebro.backend import SparkBackend
    from cerebro.nas import HyperHyperModel
    from cerebro.storage import LocalStore

    fresh = mode == "fresh"
    inp = ak.StructuredDataInput()
    out = ak.ClassificationHead()(ak.DenseBlock()(inp))
    am = HyperHyperModel(inp, out, overwrite=fresh, seed=1, max_trials=4)
    am.resource_bind(SparkBackend(spark.sparkContext, num_workers=2), LocalStore(store_dir),
                     ["features"], ["label"], evaluation_metric="accuracy", verbose=0)
    hp = kt.HyperParameters()
    hp.Fixed("dense_block_1/num_layers", 2)
    hp.Fixed("dense_block_1/units_0", 256)
    hp.Fixed("dense_block_1/units_1", 256)
    am.tuner_bind("random", hyperparameters=hp, objective="val_accuracy", max_trials=4,
                  overwrite=fresh, parallelism=2,
                  early_stopping=None)  # every trial's epochs, so the runs compare
    t0 = time.monotonic()
    result = am.fit(df, epochs=4)
    frame = result.to_pandas()
    print("RESULT " + json.dumps({
        "seconds": time.monotonic() - t0,
        "trials": {r["model_id"]: {"status": r["status"], "epochs": int(r["epochs"])}
                   for r in frame.to_dict("records")},
        "stats": {k: v for k, v in result.stats.items() if isinstance(v, (int, float))},
    }), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
