"""Epoch-level Keras callbacks, driven from the driver: ``HyperHyperModel.fit(callbacks=
[...])`` (every trial) and ``SparkEstimator(callbacks=[...])`` (that configuration's trial).

A trial trains in sub-epochs on several workers, so no ``keras.Model.fit`` sees a whole
epoch; the driver does. Each trial gets its own deep copy of every callback (as
KerasTuner does), whose ``model`` is a ``DriverModel``: a stand-in that holds what epoch-level
callbacks use (``stop_training``, ``optimizer.learning_rate``). At every epoch end the
driver calls ``on_epoch_end`` with the epoch's metrics under Keras's names (``loss``,
``val_loss``, ``accuracy``...); a callback that sets ``stop_training`` stops the trial (its
slot is refilled at once) and a changed learning rate goes into the trial's next visits
(``VisitTask.learning_rate``), which assign it to the model's optimizer before training.

Supported: ``EarlyStopping``, ``ReduceLROnPlateau``, ``LearningRateScheduler``,
``CSVLogger`` (one file per trial), ``TerminateOnNaN`` (driven with the epoch's metrics;
a non-finite loss already fails a trial on its worker) and any ``keras.callbacks.Callback``
whose hooks are epoch-level (``on_train_begin/end``, ``on_epoch_begin/end``). Callbacks
that need per-batch hooks or the real model on the driver are refused, naming them.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Sequence
from typing import Any, Optional

from cerebro._logging import get_logger
from cerebro.keras.callbacks import (  # noqa: F401 - re-exported
    BATCH_HOOKS, EPOCH_DRIVEN, REFUSED, CallbackError, check_callbacks)

log = get_logger("search")


class _Optimizer:
    """What callbacks see of a trial's optimizer: its learning rate."""

    def __init__(self, learning_rate: Optional[float]) -> None:
        self._lr = learning_rate
        self.changed = False

    @property
    def learning_rate(self) -> float:
        if self._lr is None:
            raise AttributeError("this trial's learning rate is unknown (its optimizer uses a "
                                 "LearningRateSchedule?); it cannot be changed by a callback")
        return self._lr

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        if self._lr is None:
            raise TypeError("this trial's optimizer has no settable learning rate")
        self._lr = float(value)
        self.changed = True


class DriverModel:
    """The ``model`` a callback sees on the driver: a stand-in of one trial's model.

    Attributes:
        name: The trial's model id.
        stop_training: Set by a callback to stop the trial at this epoch.
        optimizer: Has ``learning_rate`` (read and set).
    """

    def __init__(self, model_id: str, learning_rate: Optional[float]) -> None:
        self.name = model_id
        self.stop_training = False
        self.optimizer = _Optimizer(learning_rate)

    def get_weights(self) -> list[Any]:
        """No weights on the driver; the result already uses each trial's best epoch."""
        return []

    def set_weights(self, weights: Any) -> None:
        """EarlyStopping(restore_best_weights=True): the result uses the best epoch anyway."""

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"a callback asked for model.{name}, but callbacks run on the driver with a "
            f"stand-in of trial {self.__dict__.get('name')!r} that has only stop_training, "
            "optimizer.learning_rate and get_weights/set_weights (no-ops)")


def optimizer_learning_rate(model: Any) -> Optional[float]:
    """A compiled model's settable learning rate, or ``None`` (a schedule, no optimizer)."""
    opt = getattr(model, "optimizer", None)
    if opt is None:
        return None
    lr = opt.get_config().get("learning_rate")  # a schedule's is its config (a dict)
    return float(lr) if isinstance(lr, (int, float)) else None


def keras_logs(metrics: dict[str, float]) -> dict[str, float]:
    """An epoch's metrics (``train_loss``, ``val_loss``...) under Keras's names."""
    return {(k[len("train_"):] if k.startswith("train_") else k): float(v)
            for k, v in metrics.items()}


def _per_trial_path(path: str, model_id: str) -> str:
    stem, ext = os.path.splitext(path)
    return f"{stem}_{model_id}{ext or '.csv'}"


class TrialCallbacks:
    """One trial's copies of the callbacks."""

    def __init__(self, callbacks: Sequence[Any], model_id: str, epochs: int,
                 learning_rate: Optional[float], verbose: int = 0) -> None:
        self.model = DriverModel(model_id, learning_rate)
        self.callbacks = [copy.deepcopy(cb) for cb in callbacks]
        for cb in self.callbacks:
            if type(cb).__name__ == "CSVLogger" and hasattr(cb, "filename"):
                cb.filename = _per_trial_path(os.fspath(cb.filename), model_id)
            cb.set_model(self.model)
            cb.set_params({"epochs": epochs, "steps": None, "verbose": verbose})
        self._each("on_train_begin", {})

    def _each(self, hook: str, logs: dict[str, float], *args: Any) -> None:
        """Calls ``hook`` of every callback with one shared ``logs`` (as Keras does)."""
        for cb in self.callbacks:
            if hook == "on_epoch_end" and type(cb).__name__ in EPOCH_DRIVEN:
                cb.on_batch_end(args[0], logs)
                continue
            getattr(cb, hook)(*args, logs)

    def learning_rate_change(self) -> Optional[float]:
        opt = self.model.optimizer
        if not opt.changed:
            return None
        opt.changed = False
        return opt.learning_rate

    def epoch_begin(self, epoch: int) -> Optional[float]:
        self._each("on_epoch_begin", {}, epoch)
        return self.learning_rate_change()

    def epoch_end(self, epoch: int, metrics: dict[str, float]) -> tuple[bool, Optional[float]]:
        logs = keras_logs(metrics)
        self._each("on_epoch_end", logs, epoch)
        return not self.model.stop_training, self.learning_rate_change()

    def end(self) -> None:
        self._each("on_train_end", {})


class CallbackDriver:
    """Runs the user's callbacks for every trial of a search (the runner calls it).

    A trial runs the search's callbacks (``HyperHyperModel.fit(callbacks=...)``) followed by
    its own (``SparkEstimator(callbacks=...)`` of its configuration), each deep-copied for it.
    A trial with neither has no ``TrialCallbacks`` and costs nothing.

    Args:
        callbacks: Checked callbacks every trial runs (``check_callbacks``).
        verbose: Passed to the callbacks' params.
    """

    def __init__(self, callbacks: Sequence[Any] = (), verbose: int = 0) -> None:
        self.callbacks = list(callbacks)
        self.verbose = verbose
        self.trials: dict[str, TrialCallbacks] = {}

    def start(self, model_id: str, epochs: int, first_epoch: int,
              learning_rate: Optional[float], own: Sequence[Any] = ()) -> Optional[float]:
        """A trial starts (or resumes) at ``first_epoch``; returns a changed learning rate
        for its first epoch (``LearningRateScheduler``), else ``None``.

        Args:
            own: The trial's own checked callbacks, run after the search's.
        """
        callbacks = self.callbacks + list(own)
        if not callbacks:
            return None
        try:
            trial = TrialCallbacks(callbacks, model_id, epochs, learning_rate, self.verbose)
            self.trials[model_id] = trial
            return trial.epoch_begin(first_epoch)
        except Exception as e:  # noqa: BLE001 - a callback's error must not end the search
            log.warning("callbacks of %s failed at start, dropped for it: %s: %s", model_id,
                        type(e).__name__, e)
            self.trials.pop(model_id, None)
            return None

    def epoch_end(self, model_id: str, epoch: int,
                  metrics: dict[str, float]) -> tuple[bool, Optional[float]]:
        """Returns (whether the trial goes on, its new learning rate or ``None``)."""
        trial = self.trials.get(model_id)
        if trial is None:
            return True, None
        try:
            go_on, lr = trial.epoch_end(epoch, metrics)
            if go_on:
                begin_lr = trial.epoch_begin(epoch + 1)
                lr = begin_lr if begin_lr is not None else lr
            else:
                log.info("%s: a callback stopped it after epoch %d", model_id, epoch + 1)
        except Exception as e:  # noqa: BLE001 - stops this trial only, with the reason
            log.warning("a callback of %s raised at epoch %d; the trial stops: %s: %s",
                        model_id, epoch + 1, type(e).__name__, e)
            return False, None
        if lr is not None and not math.isfinite(lr):
            return False, None
        return go_on, lr

    def end(self, model_id: str) -> None:
        trial = self.trials.pop(model_id, None)
        if trial is None:
            return
        try:
            trial.end()
        except Exception as e:  # noqa: BLE001
            log.warning("a callback of %s raised at its end: %s: %s", model_id,
                        type(e).__name__, e)
