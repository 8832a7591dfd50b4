"""DataFrame builders the tests share (a plain module: ``conftest`` names clash across folders)."""

from __future__ import annotations

import numpy as np


def make_vector_df(spark, x: np.ndarray, y: np.ndarray, val_fraction: float = 0.0, seed: int = 0):
    """A DataFrame like ``spark.read.format("libsvm")`` gives: ``features`` vectors, ``label``.

    With ``val_fraction`` > 0 a fixed bool column ``is_val`` marks the first rows as validation.
    """
    from pyspark.ml.linalg import Vectors

    n_val = int(round(len(x) * val_fraction))
    rows = [(Vectors.dense(x[i].astype(float).tolist()), float(y[i]), i < n_val)
            for i in range(len(x))]
    return spark.createDataFrame(rows, ["features", "label", "is_val"])
