"""``SparkEstimator(callbacks=...)`` in ``cerebro.tune`` searches: each configuration's own
epoch-level Keras callbacks run on the driver, one copy per trial, as for NAS.
``EarlyStopping`` ends its trial and the slot goes to the next configuration at once;
``ReduceLROnPlateau`` changes the rate the trial's next sub-epoch trains with."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_df(spark):
    from frames import make_vector_df

    rng = np.random.default_rng(0)
    x = rng.normal(size=(160, 8)).astype(np.float32)
    y = rng.integers(0, 10, size=160)
    return make_vector_df(spark, x, y, val_fraction=0.25)


def _gen(params):
    import keras

    from cerebro.keras import SparkEstimator

    from .helpers import mlp

    if params["lr"] == 0.0:  # a plateau: val_loss stays exactly where it starts
        callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=0)]
    else:  # min_delta=1e9: only the first epoch counts as an improvement
        callbacks = [keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5,
                                                       patience=1, min_delta=1e9)]
    return SparkEstimator(mlp(4, n_in=8), keras.optimizers.Adam(params["lr"]),
                          "sparse_categorical_crossentropy", ["accuracy"], batch_size=16,
                          callbacks=callbacks)


def test_early_stopping_frees_the_slot_and_reduce_lr_reaches_the_next_sub_epoch(
        spark, tiny_df, store):
    import keras

    from cerebro.backend import SparkBackend
    from cerebro.keras import state as state_mod
    from cerebro.storage.layout import RunLayout
    from cerebro.tune import GridSearch, hp_choice

    events: list = []
    search = GridSearch(SparkBackend(spark.sparkContext, num_workers=2, verbose=0), store, _gen,
                        {"lr": hp_choice([0.0, 0.01])}, num_epochs=3, validation="is_val",
                        verbose=0, parallelism=1, project_name="tune-callbacks",
                        listeners=[lambda kind, payload: events.append((kind, payload))])
    result = search.fit(tiny_df)
    stopped, reduced = sorted(result.get_all_model_history())
    histories = result.get_all_model_history()
    # EarlyStopping(patience=0): epoch 1 does not improve on epoch 0, so 2 of 3 epochs.
    assert len(histories[stopped]["val_loss"]) == 2
    assert histories[stopped]["val_loss"][0] == histories[stopped]["val_loss"][1]
    assert result.statuses[stopped] == "STOPPED"
    # With one slot, the next configuration is added as soon as the stopped trial ends,
    # before any other visit.
    kinds = [(k, p.get("model_id")) for k, p in events]
    done = kinds.index(("model_done", stopped))
    added = kinds.index(("model_added", reduced))
    assert done < added and not any(k == "visit_started" for k, _ in kinds[done:added])
    assert len(histories[reduced]["val_loss"]) == 3 and result.statuses[reduced] == "DONE"
    # ReduceLROnPlateau halved the rate after epoch 1: epoch 2 trained at 0.005, and the
    # next visit would use 0.0025.
    layout = RunLayout(store, "tune-callbacks")
    record = layout.read_log(reduced)
    assert record["learning_rate"] == pytest.approx(0.0025)
    model = state_mod.model_from_bytes(store.read_bytes(layout.spec_key(reduced)))
    state_mod.set_state(model, state_mod.state_from_bytes(store.read_bytes(record["state_key"])))
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == \
        pytest.approx(0.005, rel=1e-5)
