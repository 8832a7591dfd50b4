"""``SparkEstimator(transformation_fn=...)`` reaches every train and eval batch on the workers.

The driver cloudpickles the function beside the model's spec (``transformation_fn.pkl``) and
hands its key to the hopper (``transform_key``); the worker applies it to each batch. The
test fails until all three parts are in (see ``docs/migrating.md``).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytestmark = pytest.mark.slow

EPOCHS = 3


def _gen(marker_dir: str):
    def gen(params):
        import keras

        from cerebro.keras import SparkEstimator

        flip = params["flip"]

        def transformation_fn(x, y):
            with open(os.path.join(marker_dir, f"{os.getpid()}-{flip}.txt"), "a") as f:
                f.write(f"{x.shape[0]} {x.shape[1]} {y.shape[0]}\n")
            return x, (1.0 - y if flip else y)

        model = keras.Sequential([keras.Input((692,)), keras.layers.Dense(16, activation="relu"),
                                  keras.layers.Dense(1, activation="sigmoid")])
        return SparkEstimator(model=model, optimizer=keras.optimizers.Adam(learning_rate=3e-3),
                              loss="binary_crossentropy", metrics=["accuracy"], batch_size=10,
                              transformation_fn=transformation_fn)

    return gen


def _accuracy(model, df) -> float:
    rows = model.transform(df).select("label", "label__output").collect()
    return float(np.mean([(r["label__output"] > 0.5) == (r["label"] > 0.5) for r in rows]))


@pytest.mark.xfail(reason="the per-batch transformation_fn lands with the data branch", strict=False)
def test_transformation_fn_reaches_every_batch(spark, libsvm_df, backend, tmp_path):
    from cerebro.storage import LocalStore
    from cerebro.tune import GridSearch, hp_choice

    marker_dir = tmp_path / "calls"
    marker_dir.mkdir()
    result = GridSearch(backend, LocalStore(str(tmp_path / "store")), _gen(str(marker_dir)),
                        {"flip": hp_choice([False, True])}, EPOCHS, validation=0.25,
                        evaluation_metric="loss", verbose=0, seed=0).fit(libsvm_df)
    assert len(result.get_all_models()) == 2
    for flip in (False, True):
        calls = [tuple(map(int, line.split())) for p in marker_dir.glob(f"*-{flip}.txt")
                 for line in p.read_text().splitlines()]
        assert calls and all(n == ny <= 10 and width == 692 for n, width, ny in calls)
        # every epoch passes each train row and each validation row (100 rows in all)
        # through it; Keras may fetch a batch more to learn the data's structure
        assert EPOCHS * 100 <= sum(n for n, _, _ in calls) <= EPOCHS * 100 * 1.25, flip
    by_flip = {m.params["flip"]: m for m in result.get_all_models()}
    # the model was fed what the function returned: trained on flipped labels, it predicts
    # the opposite of the true ones
    assert _accuracy(by_flip[False], libsvm_df) > 0.8
    assert _accuracy(by_flip[True], libsvm_df) < 0.2
