"""The NAS bridge: KerasTuner trials <-> model-hopper work.

It asks the oracle for a trial whenever a slot frees, builds the trial's model once on the
driver, hands it to the hopper, reports every epoch's metrics to the oracle (so Hyperband
and early stopping act at once), and ends the trial when it is done, stopped or failed.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Callable, Optional

from cerebro._logging import get_logger
from cerebro.engine.hopper import ModelHopper, visit_seed
from cerebro.wire import ModelIO

log = get_logger("nas")


@dataclasses.dataclass
class TrialRun:
    trial: object
    model_id: str
    spec_key: str
    start_epoch: int


def model_id_of(trial_id: str) -> str:
    return f"trial_{trial_id}"


class NasController:
    """Implements the hopper's ``Controller`` protocol on top of a KerasTuner oracle.

    Args:
        oracle: A KerasTuner ``Oracle``.
        build: ``hp -> compiled keras.Model`` (the trial's model).
        store: The store (model specs go to ``runs/trial_<id>/model.keras``).
        io: How models read the shards.
        batch_size: Batch size.
        epochs: Epochs per trial (Hyperband trials carry their own).
        parallelism: Trials trained at once.
        on_event: Optional ``(kind, payload)`` callback for progress displays.
    """

    def __init__(self, oracle, build: Callable, store, io: ModelIO, batch_size: int,
                 epochs: int, parallelism: int, on_event: Optional[Callable] = None,
                 pin_hps: Optional[Callable] = None, seed: int = 0):
        from cerebro.keras import state as state_mod

        self.oracle, self.build, self.store, self.io = oracle, build, store, io
        self.seed = seed
        self.batch_size, self.epochs, self.parallelism = batch_size, epochs, parallelism
        self.on_event = on_event or (lambda kind, payload: None)
        self.pin_hps = pin_hps or (lambda hps: hps)
        self._to_bytes = state_mod.model_to_bytes
        self.trials: dict[str, TrialRun] = {}  # model_id -> TrialRun
        self.order: list[str] = []
        self.exhausted = False
        self._waiting = False
        self._tuner_ids = 0
        self._run = uuid.uuid4().hex[:6]  # tuner ids must not collide with a reloaded oracle's

    # -- Controller protocol ---------------------------------------------------------------
    def refill(self, hopper: ModelHopper) -> None:
        self._waiting = False
        while not self.exhausted and len(hopper.active_models) < self.parallelism:
            self._tuner_ids += 1
            trial = self.oracle.create_trial(f"cerebro-{self._run}-{self._tuner_ids}")
            status = str(trial.status)
            if status == "STOPPED":
                self.exhausted = True
                break
            if status == "IDLE":  # e.g. Hyperband waits for a bracket's round to finish
                self._waiting = True
                break
            if not self._resume(hopper, trial):
                self._start(hopper, trial)

    def _resume(self, hopper: ModelHopper, trial) -> bool:
        """Continues a trial an earlier driver left running, from its last committed sub-epoch.

        A reloaded KerasTuner oracle hands interrupted trials out again first; their
        ``runs/trial_<id>/log.json`` says where they stood. Returns False if there is
        nothing to resume (the trial then starts from scratch).
        """
        model_id = model_id_of(trial.trial_id)
        log_key = self.store.checkpoint_key(model_id, "log.json")
        spec_key = self.store.checkpoint_key(model_id, "model.keras")
        if model_id in self.trials or not self.store.exists(log_key):
            return False
        record = self.store.read_json(log_key)
        if record.get("state_key") is None or record.get("status") == "FAILED" \
                or not self.store.exists(spec_key):
            return False
        total = self._total_epochs(trial)
        self.trials[model_id] = TrialRun(trial, model_id, spec_key, 0)
        self.order.append(model_id)
        if int(record["epochs_done"]) >= total:
            self._end(trial, "COMPLETED")  # the crash came after its last epoch
            return True
        hopper.add_model(model_id, spec_key, self.io, self.batch_size, total, resume=record)
        log.info("trial %s resumes at epoch %d after %d sub-epoch(s) of it", trial.trial_id,
                 record["epochs_done"] + 1,
                 len(record["visit_log"].get(str(record["epochs_done"]), [])))
        self.on_event("trial_resumed", {"trial_id": trial.trial_id, "model_id": model_id})
        return True

    def _total_epochs(self, trial) -> int:
        values = trial.hyperparameters.values
        return int(values["tuner/epochs"]) if "tuner/epochs" in values else self.epochs

    def _parent_state(self, hopper: ModelHopper, parent_id: str) -> Optional[str]:
        """The final state of a Hyperband trial's parent (this run's or an earlier run's)."""
        model_id = model_id_of(parent_id)
        if model_id in hopper.runs:
            return hopper.runs[model_id].state_key
        key = self.store.checkpoint_key(model_id, "log.json")
        return self.store.read_json(key).get("state_key") if self.store.exists(key) else None

    def _start(self, hopper: ModelHopper, trial) -> None:
        hp = trial.hyperparameters
        values = hp.values
        model_id = model_id_of(trial.trial_id)
        epochs = self.epochs
        start_epoch = 0
        init_state = None
        if "tuner/epochs" in values:  # Hyperband
            start_epoch = int(values.get("tuner/initial_epoch", 0))
            epochs = int(values["tuner/epochs"]) - start_epoch
            parent = values.get("tuner/trial_id")
            if parent is not None:
                init_state = self._parent_state(hopper, parent)
                if init_state is None:
                    start_epoch = 0  # parent state lost: train from scratch, honestly
                    epochs = int(values["tuner/epochs"])
        try:
            import keras

            keras.utils.set_random_seed(visit_seed(self.seed, trial.trial_id, -1, -1))
            model = self.build(hp)
            spec_key = self.store.checkpoint_key(model_id, "model.keras")
            self.store.write_bytes(spec_key, self._to_bytes(model))
        except Exception as e:  # noqa: BLE001 - a bad trial must not stop the search
            log.warning("trial %s failed to build: %s", trial.trial_id, e)
            self._end(trial, "FAILED", f"{type(e).__name__}: {e}")
            self.on_event("trial_failed", {"trial_id": trial.trial_id, "error": str(e)})
            return
        self.trials[model_id] = TrialRun(trial, model_id, spec_key, start_epoch)
        self.order.append(model_id)
        hopper.add_model(model_id, spec_key, self.io, self.batch_size, max(1, epochs),
                         init_state_key=init_state, start_epoch=start_epoch)
        self.on_event("trial_started", {"trial_id": trial.trial_id, "values": dict(values),
                                         "model_id": model_id, "epochs": epochs})

    def add_manual(self, hopper: ModelHopper, params: dict) -> str:
        """Starts a trial with hyperparameters a person chose (the others keep their defaults).

        The trial is registered with the oracle as if it had created it: it counts towards
        ``max_trials`` and the oracle learns from its score.

        Raises:
            ValueError: An unknown hyperparameter, a value outside its range, or a model
                that fails to build.
        """
        from keras_tuner.engine.trial import Trial

        oracle = self.oracle
        hp = oracle.get_space()
        space = {h.name: h for h in hp.space}
        for name, value in params.items():
            h = space.get(name)
            if h is None:
                raise ValueError(f"unknown hyperparameter {name!r}; the space has {sorted(space)}")
            choices = getattr(h, "values", None)
            low, high = getattr(h, "min_value", None), getattr(h, "max_value", None)
            if (choices is not None and value not in choices) or (
                    low is not None and not low <= value <= high):
                raise ValueError(f"{name}={value!r} is outside its range "
                                 f"({choices if choices is not None else (low, high)})")
            hp.values[name] = value
        trial_id = f"{{:0{len(str(oracle.max_trials))}d}}".format(len(oracle.trials))
        trial = Trial(hyperparameters=hp, trial_id=trial_id, status="RUNNING")
        oracle.trials[trial_id] = trial
        oracle.start_order.append(trial_id)
        oracle._record_values(trial)
        oracle.ongoing_trials[f"cerebro-manual-{trial_id}"] = trial
        oracle._save_trial(trial)
        oracle._display.on_trial_begin(trial)
        self._start(hopper, trial)
        model_id = model_id_of(trial_id)
        if model_id not in self.trials:
            raise ValueError(f"trial {trial_id} failed to build: {getattr(trial, 'message', '')}")
        return model_id

    def on_epoch_end(self, hopper: ModelHopper, model_id: str, epoch: int, metrics: dict) -> None:
        run = self.trials[model_id]
        kt_metrics = {(k[len("train_"):] if k.startswith("train_") else k): v
                      for k, v in metrics.items()}
        trial = self.oracle.update_trial(run.trial.trial_id, kt_metrics, step=epoch)
        self.on_event("epoch_end", {"trial_id": run.trial.trial_id, "model_id": model_id,
                                    "epoch": epoch, "metrics": metrics})
        if str(getattr(trial, "status", "RUNNING")) == "STOPPED":
            hopper.stop_model(model_id)

    def on_model_done(self, hopper: ModelHopper, model_id: str) -> None:
        run = self.trials[model_id]
        self._end(run.trial, "COMPLETED")
        self.on_event("trial_done", {"trial_id": run.trial.trial_id, "model_id": model_id})
        self._refill_after_end(hopper)

    def on_model_failed(self, hopper: ModelHopper, model_id: str, error: str) -> None:
        run = self.trials[model_id]
        self._end(run.trial, "FAILED", error)
        self.on_event("trial_failed", {"trial_id": run.trial.trial_id, "error": error})
        self._refill_after_end(hopper)

    def _refill_after_end(self, hopper: ModelHopper) -> None:
        """A trial ended: first hand the idle workers the visits waiting models have ready,
        then build new trials. Building a model takes the driver a while (AutoKeras build,
        adapt, serialise); the workers need not sit idle through it."""
        hopper.dispatch()
        self.refill(hopper)

    def _end(self, trial, status: str, message: Optional[str] = None) -> None:
        trial.status = status
        if message:
            trial.message = message
        trial.hyperparameters = self.pin_hps(trial.hyperparameters)
        self.oracle.end_trial(trial)
