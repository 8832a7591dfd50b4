"""Small builders shared by the NAS tests: real data sets as DataFrames, cheap graphs, runs."""

from __future__ import annotations

import numpy as np

FEATURES = [f"f{i}" for i in range(6)]


def standardized(x: np.ndarray) -> np.ndarray:
    return ((x - x.mean(axis=0)) / (x.std(axis=0) + 1e-8)).astype(np.float64)


def cancer_df(spark):
    """sklearn's breast_cancer: 569 rows, six standardized scalar columns, int ``label``."""
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    pdf = pd.DataFrame(standardized(data.data[:, :len(FEATURES)]), columns=FEATURES)
    pdf["label"] = data.target.astype(np.int64)
    return spark.createDataFrame(pdf)


def iris_df(spark):
    """sklearn's iris with one label column per label kind.

    ``species`` (int 0..2), ``name`` (str), ``size`` (double, two classes: 0.5 / 2.5) and
    ``onehot`` (a one-hot ML vector of the species).
    """
    from pyspark.ml.linalg import Vectors
    from sklearn.datasets import load_iris

    data = load_iris()
    x = standardized(data.data)
    names = [str(n) for n in data.target_names]
    big = data.data[:, 2] > np.median(data.data[:, 2])
    rows = [(*map(float, x[i]), int(data.target[i]), names[data.target[i]],
             2.5 if big[i] else 0.5, Vectors.dense(np.eye(3)[data.target[i]].tolist()))
            for i in range(len(x))]
    return spark.createDataFrame(rows, ["a", "b", "c", "d", "species", "name", "size", "onehot"])


def fresh_names() -> None:
    """AutoKeras names blocks ``conv_block_<n>`` by a per-process counter: start it afresh,
    so hyperparameter names like ``dense_block_1/...`` are the same in every test."""
    import keras

    keras.backend.clear_session()


def dense_graph(heads: int = 1):
    """``StructuredDataInput -> DenseBlock -> ClassificationHead`` x ``heads``."""
    import autokeras as ak

    fresh_names()
    inp = ak.StructuredDataInput()
    hidden = ak.DenseBlock()(inp)
    outs = [ak.ClassificationHead()(hidden) for _ in range(heads)]
    return inp, outs if heads > 1 else outs[0]


def small_dense_hp():
    """Keeps DenseBlock trials small and learning: at most two layers of at most 32 units."""
    import keras_tuner as kt

    hp = kt.HyperParameters()
    hp.Choice("dense_block_1/num_layers", [1, 2], default=1)
    hp.Choice("dense_block_1/units_0", [16, 32], default=32)
    hp.Choice("dense_block_1/units_1", [16, 32], default=16)
    hp.Fixed("optimizer", "adam")
    return hp


def bind(am, spark, store, features, labels, metric="accuracy", workers: int = 2):
    from cerebro.backend import SparkBackend

    am.resource_bind(backend=SparkBackend(spark_context=spark.sparkContext, num_workers=workers),
                     store=store, feature_columns=features, label_columns=labels,
                     evaluation_metric=metric, verbose=0)
    return am


def trial_values(am) -> list[dict]:
    """Every trial's hyperparameter values, in trial-id order."""
    oracle = am.tuner.oracle
    return [dict(oracle.trials[t].hyperparameters.values) for t in sorted(oracle.trials)]


def write_libsvm(path, x: np.ndarray, y: np.ndarray) -> None:
    """Writes rows like ``mnist.scale``: ``label index:value ...`` with 1-based indices."""
    with open(path, "w") as f:
        for row, label in zip(x, y):
            nz = np.nonzero(row)[0]
            f.write(f"{int(label)} " + " ".join(f"{j + 1}:{row[j]:.6g}" for j in nz) + "\n")


def digits_df(spark):
    """sklearn's digits: ``id``, ``pixels`` (64-vectors in [0, 1]), ``tab`` (a 3-vector: ink in the
    top half, the left half and the centre), ``digit`` (int) and ``ink`` (mean pixel, double)."""
    from pyspark.ml.linalg import Vectors
    from sklearn.datasets import load_digits

    data = load_digits()
    img = (data.images / 16.0).astype(np.float64)
    tab = np.stack([img[:, :4].mean(axis=(1, 2)), img[:, :, :4].mean(axis=(1, 2)),
                    img[:, 2:6, 2:6].mean(axis=(1, 2))], axis=1)
    rows = [(i, Vectors.dense(img[i].reshape(-1).tolist()), Vectors.dense(tab[i].tolist()),
             int(data.target[i]), float(img[i].mean())) for i in range(len(img))]
    return spark.createDataFrame(rows, ["id", "pixels", "tab", "digit", "ink"])
