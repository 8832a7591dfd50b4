"""Fixtures of the records tests: sklearn's digits as a DataFrame and a tiny MLP search."""

from __future__ import annotations


import numpy as np
import pytest


@pytest.fixture(scope="session")
def digits_df(spark):
    """sklearn's 1,797 8x8 digits, scaled to [0, 1], the first 25% marked ``is_val``."""
    from sklearn.datasets import load_digits

    from frames import make_vector_df

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    return make_vector_df(spark, (x[order] / 16.0).astype(np.float32), y[order], val_fraction=0.25)


def mlp_estimator(params: dict):
    """``params -> SparkEstimator``: a seeded 64-``units``-10 MLP."""
    import keras

    from cerebro.keras import SparkEstimator

    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((64,)),
                              keras.layers.Dense(int(params.get("units", 16)), activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    return SparkEstimator(model, keras.optimizers.Adam(float(params.get("lr", 3e-3))),
                          "sparse_categorical_crossentropy", ["accuracy"], batch_size=64)


def grid_search(spark, store, units=(8, 16), epochs: int = 2, **kwargs):
    """A GridSearch over ``units`` with two Spark workers."""
    from cerebro.backend import SparkBackend
    from cerebro.tune import GridSearch, hp_choice

    backend = SparkBackend(spark.sparkContext, num_workers=2, verbose=0)
    return GridSearch(backend, store, mlp_estimator, {"units": hp_choice(list(units))},
                      num_epochs=epochs, evaluation_metric="accuracy", validation="is_val",
                      verbose=0, **kwargs)
