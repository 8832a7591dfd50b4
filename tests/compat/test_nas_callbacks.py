"""AutoKeras users' ``fit(callbacks=[...])``: epoch-level Keras callbacks run per trial on
the driver. ``EarlyStopping`` ends a plateauing trial and its slot is refilled at once;
``ReduceLROnPlateau`` changes the learning rate the next sub-epoch trains with (read back
from the model state in the store); ``CSVLogger`` writes one file per trial; a user's own
``on_epoch_end`` sees every epoch's metrics."""

from __future__ import annotations

import csv

import pytest

pytestmark = pytest.mark.slow

FEATURES = ['SepalLengthCm', 'SepalWidthCm', 'PetalLengthCm', 'PetalWidthCm']


def _iris_df(spark):
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    rows = [tuple(float(v) for v in x[i]) + (int(y[i]),) for i in range(len(y))]
    return spark.createDataFrame(rows, FEATURES + ['Species'])


def _search(spark, store, lr, callbacks, max_trials, epochs, parallelism, events,
            **tuner_bind):
    import autokeras as ak
    import keras
    import keras_tuner as kt

    from cerebro.backend import SparkBackend
    from cerebro.nas.hphpmodel import HyperHyperModel

    keras.backend.clear_session()
    inp = ak.StructuredDataInput()
    out = ak.ClassificationHead()(ak.DenseBlock()(inp))
    am = HyperHyperModel(inputs=inp, outputs=out, overwrite=True, seed=3)
    am.resource_bind(backend=SparkBackend(spark_context=spark.sparkContext, num_workers=2),
                     store=store, feature_columns=FEATURES, label_columns=["Species"],
                     evaluation_metric="accuracy", verbose=0,
                     listeners=[lambda kind, payload: events.append((kind, payload))])
    hp = kt.HyperParameters()
    hp.Fixed("learning_rate", lr)
    hp.Fixed("optimizer", "adam")
    hp.Choice("dense_block_1/units_0", [8, 16], default=8)
    hp.Fixed("dense_block_1/num_layers", 1)
    am.tuner_bind("random", hyperparameters=hp, objective="val_loss", max_trials=max_trials,
                  parallelism=parallelism, **tuner_bind)
    return am, am.fit(_iris_df(spark), epochs=epochs, batch_size=16, callbacks=callbacks)


def test_early_stopping_ends_a_plateauing_trial_and_its_slot_is_refilled(spark, store,
                                                                         tmp_path):
    import keras

    class Seen(keras.callbacks.Callback):  # a user's own epoch-level callback
        epochs_seen: list = []

        def on_epoch_end(self, epoch, logs=None):
            Seen.epochs_seen.append((self.model.name, epoch, sorted(logs)))

    events: list = []
    # learning_rate 0: the validation loss stays exactly where it starts, a plateau.
    am, result = _search(spark, store, 0.0,
                         [keras.callbacks.EarlyStopping(monitor="val_loss", patience=1),
                          keras.callbacks.CSVLogger(str(tmp_path / "log.csv")), Seen()],
                         max_trials=3, epochs=6, parallelism=2, events=events)
    histories = result.get_all_model_history()
    assert len(histories) == 3
    # Epoch 0 sets the best; epoch 1 does not improve on it: stop after 2 of 6 epochs.
    assert all(len(h["val_loss"]) == 2 for h in histories.values()), histories
    assert set(result.statuses.values()) == {"STOPPED"}
    # The freed slot is refilled within one sub-epoch: the third trial is built and added as
    # soon as a stopped trial ends, and starts training before a second visit ends.
    kinds = [(k, p.get("model_id")) for k, p in events]
    third = sorted(histories)[-1]
    added = kinds.index(("model_added", third))
    done = max(i for i in range(added) if kinds[i][0] == "model_done")  # a stopped trial
    started = kinds.index(("visit_started", third))
    between = [k for k, _ in kinds[done:started]]
    # At most the sub-epoch in flight on the other worker ends before the new trial's first
    # visit starts (the scheduler may want that worker's partition first).
    assert between.count("visit_done") <= 1, between
    # The user's callback saw every epoch of every trial, with Keras's metric names.
    assert len(Seen.epochs_seen) == 6
    assert all(names == ["accuracy", "loss", "val_accuracy", "val_loss"]
               for _, _, names in Seen.epochs_seen)
    for model_id in histories:  # one CSV per trial
        with open(tmp_path / f"log_{model_id}.csv") as f:
            rows = list(csv.DictReader(f))
        assert [int(r["epoch"]) for r in rows] == [0, 1]


def test_reduce_lr_on_plateau_changes_the_next_sub_epochs_learning_rate(spark, store):
    import keras

    from cerebro.keras import state as state_mod
    from cerebro.storage.layout import RunLayout

    events: list = []
    # min_delta=1e9: no epoch after the first counts as an improvement, so the rate halves
    # after epoch 1 (index 1) and again after epoch 2; epoch 2 trains at 0.005.
    am, result = _search(spark, store, 0.01,
                         [keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5,
                                                            patience=1, min_delta=1e9)],
                         max_trials=1, epochs=3, parallelism=1, events=events)
    (model_id,) = result.get_all_model_history()
    layout = RunLayout(store, am.project_name)
    record = layout.read_log(model_id)
    assert record["epochs_done"] == 3
    assert record["learning_rate"] == pytest.approx(0.0025)  # what the next visit would use
    model = state_mod.model_from_bytes(store.read_bytes(layout.spec_key(model_id)))
    state_mod.set_state(model, state_mod.state_from_bytes(store.read_bytes(record["state_key"])))
    # The last state was trained in epoch 2, after one reduction: its optimizer holds 0.005.
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == \
        pytest.approx(0.005, rel=1e-5)
    del events


def test_early_stopping_in_a_nas_search_shows_in_the_oracle_the_result_and_the_events(
        spark, store):
    from cerebro.search.stopping import Stopper, Verdict, stop

    class AfterOneEpoch(Stopper):  # a user's own rule: one epoch is enough for any trial
        name = "one epoch"

        def decide(self, progress) -> Verdict:
            return stop(f"one epoch is enough for {progress.trial_id}")

    events: list = []
    with pytest.raises(ValueError, match=r"early_stopping='never' is not a choice.*'auto'"):
        _search(spark, store, 0.01, None, 2, 3, 2, events, early_stopping="never")
    assert events == [] and store.listdir(store.runs_key()) == []  # refused before training
    am, result = _search(spark, store, 0.01, None, max_trials=2, epochs=3, parallelism=2,
                         events=events, early_stopping=AfterOneEpoch())
    histories = result.get_all_model_history()
    assert len(histories) == 2 and all(len(h["val_loss"]) == 1 for h in histories.values())
    assert set(result.statuses.values()) == {"STOPPED"}
    assert result.stop_reasons == {m: f"one epoch is enough for {m}" for m in histories}
    assert list(result.to_pandas()["stop_reason"]) == [result.stop_reasons[m] for m in
                                                      result.to_pandas()["model_id"]]
    # the oracle scored them (COMPLETED: KerasTuner ranks only those) and says why they ended
    trials = list(am.tuner.oracle.trials.values())
    assert {str(t.status) for t in trials} == {"COMPLETED"}
    assert all(t.message.startswith("stopped early: one epoch is enough") for t in trials)
    best = am.tuner.oracle.get_best_trials(1)[0]
    assert best.score == pytest.approx(min(h["val_loss"][0] for h in histories.values()))
    done = [p for k, p in events if k == "model_done"]
    assert sorted(p["status"] for p in done) == ["STOPPED", "STOPPED"]
