"""The user script of docs/cluster.md: a small GridSearch on scikit-learn's digits.

Submitted with ``spark-submit``; writes one JSON document to ``$CEREBRO_RESULT``: the models'
histories, and where the executors' Python came from (a Spark job asks each executor).
"""

import json
import os
import sys
import time

T0 = time.monotonic()
from pyspark.sql import SparkSession  # noqa: E402

spark = SparkSession.builder.appName("cerebro-digits").getOrCreate()

import keras  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from cerebro.backend import SparkBackend  # noqa: E402
from cerebro.keras import SparkEstimator  # noqa: E402
from cerebro.storage import LocalStore  # noqa: E402
from cerebro.tune import GridSearch, hp_choice  # noqa: E402

x, y = load_digits(return_X_y=True)
x, y = x[:600] / 16.0, y[:600]
df = spark.createDataFrame([(x[i].tolist(), int(y[i])) for i in range(len(x))],
                           ["features", "label"])


def estimator(params):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)),
                              keras.layers.Dense(params["units"], activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    return SparkEstimator(model, keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy",
                          ["accuracy"], batch_size=32)


store = LocalStore(os.environ["CEREBRO_STORE"])  # shared storage on a real cluster
backend = SparkBackend(spark.sparkContext, num_workers=2, start_timeout=300, verbose=0)
result = GridSearch(backend, store, estimator, {"units": hp_choice([16, 32])}, num_epochs=2,
                    evaluation_metric="accuracy", verbose=0, project_name="digits").fit(df)
search_s = time.monotonic() - T0


def where(_):
    import sys

    import cerebro
    import keras
    import torch

    yield {"executable": sys.executable, "prefix": sys.prefix, "keras": keras.__file__,
           "torch": torch.__file__, "cerebro": cerebro.__file__}


envs = spark.sparkContext.parallelize(range(4), 4).mapPartitions(where).collect()
result_doc = json.dumps({
    "models": {mid: {"history": m.history, "status": result.statuses[mid]}
               for mid, m in result.models.items()},
    "executors": envs, "driver_prefix": sys.prefix, "search_s": search_s,
    "start_s": result.stats.get("start_s")})
with open(os.environ["CEREBRO_RESULT"] + ".tmp", "w") as f:  # a file, not stdout: see
    f.write(result_doc)                                       # tests/cluster/conftest.py
os.replace(os.environ["CEREBRO_RESULT"] + ".tmp", os.environ["CEREBRO_RESULT"])
print("RESULT written", flush=True)
spark.stop()
