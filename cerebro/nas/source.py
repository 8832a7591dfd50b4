"""The ``TrialSource`` over a KerasTuner oracle, through its public API only.

``ask`` is ``oracle.create_trial`` (``IDLE`` means wait, ``STOPPED`` done), ``report`` is
``oracle.update_trial(..., step=epoch)`` (so Hyperband and early stopping act at once) and
``finish`` is ``oracle.end_trial``. A trial a person adds by hand becomes values the
oracle is given: its ``populate_space`` hook hands them out before its own proposals
(``cerebro._upstream.serve_values_first``), so the trial counts towards ``max_trials`` and
the oracle learns from its score.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Optional

from cerebro._logging import get_logger
from cerebro._upstream import serve_values_first
from cerebro.engine.runs import Objective
from cerebro.search.callbacks import optimizer_learning_rate
from cerebro.search.source import DONE, WAIT, Ask, BuiltModel, TrialRequest, TrialSource
from cerebro.wire import ModelIO, ModelStatus

log = get_logger("nas")
TRIAL_PREFIX = "trial_"


def model_id_of(trial_id: str) -> str:
    """The model id of a KerasTuner trial (one format everywhere: ``trial_<id>``)."""
    return f"{TRIAL_PREFIX}{trial_id}"


def trial_id_of(model_id: str) -> str:
    return model_id[len(TRIAL_PREFIX):]


def objective_of(oracle: Any) -> Objective:
    """The search's ``Objective`` from the oracle's (single or multi-objective)."""
    obj = oracle.objective
    name = getattr(obj, "name", None)
    if hasattr(obj, "objectives") or name is None or name == "multi_objective":
        return Objective("multi_objective", "min",
                         value_fn=lambda m: obj.get_value(kt_metrics(m)))
    return Objective(name, "max" if obj.direction == "max" else "min")


def kt_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """Our epoch metrics (``train_loss``, ``val_loss``...) as KerasTuner names them."""
    return {(k[len("train_"):] if k.startswith("train_") else k): v for k, v in metrics.items()}


STOPPED_EARLY = "stopped early"


def stopped_message(reason: str) -> str:
    """The oracle's ``trial.message`` of a trial stopped early."""
    return f"{STOPPED_EARLY}: {reason}" if reason else STOPPED_EARLY


def is_stopped_early(trial: Any) -> bool:
    """Whether an oracle's trial was stopped early (a COMPLETED trial with that message)."""
    return str(getattr(trial, "message", None) or "").startswith(STOPPED_EARLY)


class OracleSource(TrialSource):
    """Trials from a KerasTuner oracle.

    Args:
        oracle: A KerasTuner ``Oracle`` (possibly reloaded from an earlier run).
        build: ``(hp, seed) -> compiled keras.Model`` of a trial.
        io: How every trial's model reads the shards.
        batch_size: Batch size of every trial.
        epochs: Epochs per trial (Hyperband trials carry their own).
        pin_hps: Re-applies the user's Fixed values to a trial's hyperparameters.
    """

    def __init__(self, oracle: Any, build: Callable[[Any, int], Any], io: ModelIO,
                 batch_size: int, epochs: int,
                 pin_hps: Optional[Callable[[Any], Any]] = None) -> None:
        self.oracle, self._build, self.io = oracle, build, io
        self.batch_size, self.epochs = batch_size, epochs
        self.pin_hps = pin_hps or (lambda hps: hps)
        self.objective = objective_of(oracle)
        self.budget = getattr(oracle, "max_trials", None)
        self.name = type(oracle).__name__
        self.oracle.verbose = 0  # one progress display: ours (KerasTuner's banners are off)
        self._run = uuid.uuid4().hex[:6]  # tuner ids must not collide with a reloaded oracle's
        self._asks = 0
        self._handed: dict[str, Any] = {}  # model id -> Trial
        self._queued: list[dict[str, Any]] = []
        self.budget_spent = False
        serve_values_first(self.oracle, self._queued)  # hand-added values go first

    # -- TrialSource ------------------------------------------------------------------------------
    def ask(self) -> Ask:
        if self.budget_spent:
            return DONE
        self._asks += 1
        trial = self.oracle.create_trial(f"cerebro-{self._run}-{self._asks}")
        status = str(trial.status)
        if status == "STOPPED":
            return DONE
        if status == "IDLE":  # e.g. Hyperband waits for a bracket's round to finish
            return WAIT
        return self._request(trial)

    def _request(self, trial: Any) -> TrialRequest:
        values = trial.hyperparameters.values
        model_id = model_id_of(trial.trial_id)
        self._handed[model_id] = trial
        epochs, start, parent = self.epochs, 0, None
        if "tuner/epochs" in values:  # Hyperband
            epochs = int(values["tuner/epochs"])
            start = int(values.get("tuner/initial_epoch", 0))
            if values.get("tuner/trial_id") is not None:
                parent = model_id_of(values["tuner/trial_id"])
        return TrialRequest(model_id, dict(values), epochs,
                            lambda seed: self._built(trial.hyperparameters, seed),
                            seed_key=trial.trial_id, start_epoch=start, init_from=parent,
                            resumable=True)

    def _built(self, hp: Any, seed: int) -> BuiltModel:
        from cerebro.keras import state as state_mod
        from cerebro.keras.cost import cost_hint

        model = self._build(hp, seed)
        # The hyperparameters this build registered join the oracle's space now, not when the
        # trial ends (KerasTuner's end_trial): the next proposals then do not depend on which
        # trials happened to end first, as in a sequential search; a seeded search under
        # faults or another timing proposes the same trials.
        self.oracle.update_space(self.pin_hps(hp))
        lines: list[str] = []
        model.summary(print_fn=lambda line, *a, **k: lines.append(line))
        return BuiltModel(state_mod.model_to_bytes(model), self.batch_size, self.io,
                          summary="\n".join(lines),
                          learning_rate=optimizer_learning_rate(model),
                          cost_hint=cost_hint(model))

    def report(self, model_id: str, epoch: int, metrics: dict[str, float]) -> bool:
        trial = self.oracle.update_trial(trial_id_of(model_id), kt_metrics(metrics), step=epoch)
        return str(getattr(trial, "status", "RUNNING")) != "STOPPED"

    def finish(self, model_id: str, status: ModelStatus, best_value: Optional[float] = None,
               error: str = "", reason: str = "") -> None:
        """Ends the trial in the oracle.

        A trial stopped early ends ``COMPLETED`` with ``message`` "stopped early: <reason>":
        KerasTuner's ``end_trial`` takes only COMPLETED, INVALID or FAILED; it scores only
        COMPLETED trials (the best of their reported epochs), and its best-trial logic
        (``get_best_trials``, Hyperband's promotions, the Bayesian oracle's observations)
        reads only those, so this is how the oracle still learns from the trial's scores.
        This is also what KerasTuner's own tuner does with a trial whose training stopped
        early. The records, console and result show it STOPPED with its reason.
        """
        trial = self._handed.get(model_id) or self.oracle.trials[trial_id_of(model_id)]
        trial.status = "FAILED" if status == ModelStatus.FAILED else "COMPLETED"
        if error:
            trial.message = error
        elif status == ModelStatus.STOPPED:
            trial.message = stopped_message(reason)
        trial.hyperparameters = self.pin_hps(trial.hyperparameters)
        try:
            self.oracle.end_trial(trial)
        except RuntimeError as e:  # KerasTuner's max_consecutive_failed_trials
            log.warning("KerasTuner ends the search: %s", str(e).splitlines()[0])
            self._queued.clear()
            self.budget_spent = True

    def add(self, params: dict[str, Any]) -> TrialRequest:
        hp = self.oracle.get_space()
        space = {h.name: h for h in hp.space}
        for name, value in params.items():
            h = space.get(name)
            if h is None:
                raise ValueError(f"unknown hyperparameter {name!r}; the space has {sorted(space)}")
            choices = getattr(h, "values", None)
            low, high = getattr(h, "min_value", None), getattr(h, "max_value", None)
            if (choices is not None and value not in choices) or (
                    low is not None and high is not None and not low <= value <= high):
                raise ValueError(f"{name}={value!r} is outside its range "
                                 f"({choices if choices is not None else (low, high)})")
            hp.values[name] = value
        self._queued.append(dict(hp.values))
        req = self.ask()
        if not isinstance(req, TrialRequest):
            self._queued.clear()
            raise ValueError("the search has no trials left in its budget (max_trials)")
        return req

    def params(self, model_id: str) -> dict[str, Any]:
        trial = self._handed.get(model_id) or self.oracle.trials.get(trial_id_of(model_id))
        return dict(trial.hyperparameters.values) if trial is not None else {}

    def earlier_trials(self) -> dict[str, ModelStatus]:
        out = {}
        for trial_id, trial in sorted(self.oracle.trials.items()):
            model_id = model_id_of(trial_id)
            if model_id not in self._handed:
                status = {"COMPLETED": ModelStatus.DONE,
                          "FAILED": ModelStatus.FAILED}.get(str(trial.status),
                                                            ModelStatus.STOPPED)
                out[model_id] = ModelStatus.STOPPED if is_stopped_early(trial) else status
        return out
