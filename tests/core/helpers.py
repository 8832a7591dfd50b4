"""Small builders shared by the core tests: seeded MLPs and their estimators."""

from __future__ import annotations

import numpy as np

SEED = 7


def mlp(units: int, n_in: int = 784, n_out: int = 10, seed: int = SEED):
    """A seeded one-hidden-layer MLP (same seed, same initial weights)."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((n_in,)),
        keras.layers.Dense(units, activation="relu"),
        keras.layers.Dense(n_out, activation="softmax"),
    ])


def estimator_fn(batch_size: int = 32, n_in: int = 784, seed: int = SEED):
    """``params -> SparkEstimator`` for params with ``units`` and ``lr``."""

    def gen(params):
        import keras

        from cerebro.keras import SparkEstimator

        model = mlp(int(params.get("units", 16)), n_in=n_in, seed=seed)
        return SparkEstimator(model, keras.optimizers.Adam(float(params.get("lr", 1e-3))),
                              "sparse_categorical_crossentropy", ["accuracy"],
                              batch_size=batch_size)

    return gen


def split_rows(x: np.ndarray, y: np.ndarray, val_fraction: float):
    """The rows ``make_vector_df`` marks ``is_val`` (the first ones) and the others."""
    n_val = int(round(len(x) * val_fraction))
    return (x[n_val:], y[n_val:]), (x[:n_val], y[:n_val])


def store_entries(store) -> dict[str, list[str]]:
    """What a failed call may have left behind: the metadata file, data dirs and runs."""
    return {
        "metadata": [store.metadata_key()] if store.exists(store.metadata_key()) else [],
        "train": store.listdir(store.train_data_key()),
        "val": store.listdir(store.val_data_key()),
        "runs": store.listdir(store.runs_key()),
    }
