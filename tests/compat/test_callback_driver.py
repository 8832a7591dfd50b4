"""The driver side of ``fit(callbacks=...)`` on its own (no Spark): real Keras callbacks fed
epoch metrics, one copy per trial."""

from __future__ import annotations

import math

import pytest


def test_terminate_on_nan_stops_on_a_non_finite_epoch_loss():
    import keras

    from cerebro.search.callbacks import CallbackDriver, check_callbacks

    driver = CallbackDriver(check_callbacks([keras.callbacks.TerminateOnNaN()]))
    driver.start("trial_0", 5, 0, 0.001)
    assert driver.epoch_end("trial_0", 0, {"train_loss": 0.5, "val_loss": 0.6}) == (True, None)
    go_on, _ = driver.epoch_end("trial_0", 1, {"train_loss": math.nan, "val_loss": 0.6})
    assert go_on is False


def test_learning_rate_scheduler_sets_each_epochs_rate_and_copies_are_per_trial():
    import keras

    from cerebro.search.callbacks import CallbackDriver, check_callbacks

    seen = []
    sched = keras.callbacks.LearningRateScheduler(lambda epoch, lr: seen.append(epoch) or lr / 2)
    driver = CallbackDriver(check_callbacks([sched]))
    assert driver.start("trial_a", 3, 0, 0.1) == pytest.approx(0.05)  # epoch 0's rate
    assert driver.start("trial_b", 3, 1, 0.1) == pytest.approx(0.05)  # resumed at epoch 1
    go_on, lr = driver.epoch_end("trial_a", 0, {"train_loss": 1.0})
    assert go_on and lr == pytest.approx(0.025)  # epoch 1's rate, from trial_a's own 0.05
    assert driver.trials["trial_b"].model.optimizer.learning_rate == pytest.approx(0.05)
    assert seen == [0, 1, 1]


def test_early_stopping_copies_do_not_share_state():
    import keras

    from cerebro.search.callbacks import CallbackDriver, check_callbacks

    driver = CallbackDriver(check_callbacks([keras.callbacks.EarlyStopping(patience=1)]))
    for m in ("a", "b"):
        driver.start(m, 10, 0, 0.01)
    assert driver.epoch_end("a", 0, {"val_loss": 1.0})[0]
    assert not driver.epoch_end("a", 1, {"val_loss": 1.0})[0]  # a plateaus: stop
    assert driver.epoch_end("b", 0, {"val_loss": 1.0})[0]  # b has its own patience
    assert driver.epoch_end("b", 1, {"val_loss": 0.5})[0]


def test_a_callback_that_needs_the_real_model_stops_only_its_trial():
    import keras

    from cerebro.search.callbacks import CallbackDriver, check_callbacks

    class Saver(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.save("x.keras")

    driver = CallbackDriver(check_callbacks([Saver()]))
    driver.start("trial_0", 3, 0, 0.01)
    assert driver.epoch_end("trial_0", 0, {"val_loss": 1.0}) == (False, None)
    with pytest.raises(AttributeError, match=r"model\.save.*stand-in of trial 'trial_0'"):
        driver.trials["trial_0"].model.save("x.keras")


def test_refused_callbacks_are_named():
    import keras

    from cerebro.search.callbacks import CallbackError, check_callbacks

    for cb, name in [(keras.callbacks.TensorBoard(), "TensorBoard"),
                     (keras.callbacks.BackupAndRestore("/tmp/b"), "BackupAndRestore")]:
        with pytest.raises(CallbackError, match=name):
            check_callbacks([cb])
    with pytest.raises(TypeError, match="keras.callbacks.Callback"):
        check_callbacks([lambda epoch: None])
