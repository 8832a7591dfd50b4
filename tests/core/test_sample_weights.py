"""Per-row sample weights (``SparkEstimator(sample_weight_col=...)``): the workers give them
to Keras's ``fit`` and ``evaluate``, and the epoch's metrics, aggregated over the shards,
equal what Keras computes on the whole validation data with the same weights. Bad weight
columns are refused before any training, naming the column."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow

ROWS, N_IN, N_OUT = 240, 8, 3


@pytest.fixture(scope="module")
def weighted(spark):
    """Features, labels, weights (some 0) and ``is_val`` (the first quarter) as a DataFrame."""
    from pyspark.ml.linalg import Vectors

    rng = np.random.default_rng(1)
    x = rng.normal(size=(ROWS, N_IN)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    w = rng.choice([0.0, 0.5, 1.0, 3.0], size=ROWS)
    is_val = np.arange(ROWS) < ROWS // 4
    rows = [(Vectors.dense(x[i].tolist()), int(y[i]), float(w[i]), bool(is_val[i]),
             "heavy" if w[i] > 1 else "light") for i in range(ROWS)]
    df = spark.createDataFrame(rows, ["features", "label", "w", "is_val", "w_text"])
    return df, x, y, w, is_val


def _gen(weight_col):
    def gen(params):
        import keras

        from cerebro.keras import SparkEstimator

        from .helpers import mlp

        return SparkEstimator(mlp(6, n_in=N_IN, n_out=N_OUT), keras.optimizers.Adam(0.05),
                              "sparse_categorical_crossentropy", ["accuracy"], batch_size=16,
                              sample_weight_col=weight_col, weighted_metrics=["accuracy"])

    return gen


def _search(spark, store, weight_col, project):
    from cerebro.backend import SparkBackend
    from cerebro.tune import GridSearch, hp_choice

    return GridSearch(SparkBackend(spark.sparkContext, num_workers=2, verbose=0), store,
                      _gen(weight_col), {"units": hp_choice([6])}, num_epochs=1,
                      validation="is_val", verbose=0, project_name=project)


def test_weighted_val_metrics_equal_keras_own_on_the_whole_val_data(spark, weighted, store):
    df, x, y, w, is_val = weighted
    result = _search(spark, store, "w", "weighted").fit(df)
    (model_id,) = result.get_all_model_history()
    history = result.get_all_model_history()[model_id]
    model = result.get_model(model_id).keras()  # the state after the one epoch
    xv, yv, wv = x[is_val], y[is_val], w[is_val].astype(np.float32)
    keras_own = model.evaluate(xv, yv, sample_weight=wv, batch_size=16, verbose=0,
                               return_dict=True)
    # Two val shards, aggregated by the driver, against Keras on all val rows at once: the
    # loss (sum of w * loss over the rows) and the unweighted accuracy by rows, the weighted
    # accuracy by the shards' sums of weights.
    assert history["val_loss"][0] == pytest.approx(keras_own["loss"], abs=1e-5)
    assert history["val_accuracy"][0] == pytest.approx(keras_own["accuracy"], abs=1e-5)
    assert history["val_weighted_accuracy"][0] == pytest.approx(keras_own["weighted_accuracy"],
                                                                abs=1e-5)
    assert abs(keras_own["weighted_accuracy"] - keras_own["accuracy"]) > 1e-3
    unweighted = model.evaluate(xv, yv, batch_size=16, verbose=0, return_dict=True)
    assert abs(unweighted["loss"] - keras_own["loss"]) > 1e-3  # the weights did count


@pytest.mark.parametrize("column, bad, message", [
    ("w", -1.0, r"sample weight column 'w' has negative weights \(the smallest is -1\)"),
    ("w", None, r"sample weight column 'w' has 1 null value\(s\)"),
    ("w", float("nan"), r"sample weight column 'w' has 1 NaN or infinite value\(s\)"),
    ("w_text", None, r"sample weight column 'w_text' has Spark type string; expected a "
                     r"numeric column"),
])
def test_a_bad_weight_column_is_refused_before_training(spark, weighted, store, column, bad,
                                                        message):
    from pyspark.sql import functions as F

    df = weighted[0]
    if bad is not None or column == "w":
        value = F.lit(bad).cast("double")
        df = df.withColumn("w", F.when(F.monotonically_increasing_id() == 5, value)
                           .otherwise(F.col("w")))
    with pytest.raises(ValueError, match=message):
        _search(spark, store, column, "bad").fit(df)
    assert store.listdir(store.runs_key()) == []  # refused before anything was written
