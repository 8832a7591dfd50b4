"""``EarlyStopping``: the runner's side of early stopping (``cerebro.search.stopping``).

It keeps every trial's objective curve, asks the search's ``Stopper`` at each epoch end of a
trial (except its last), and judges again, for an epoch, the trials the stopper could not
judge there for want of data when another trial reaches it. A stop is
``hopper.stop_model(id, reason)``: the hopper ends the trial at its next sub-epoch boundary
and the runner refills its slot at once.
"""

from __future__ import annotations

from typing import Any, Optional

from cerebro._logging import get_logger
from cerebro.engine import ModelHopper
from cerebro.engine.runs import Objective
from cerebro.search.stopping import Progress, Stopper
from cerebro.wire import ModelStatus

log = get_logger("search")


class EarlyStopping:
    """Curves and verdicts of one search.

    Args:
        stopper: The search's rule.
        objective: What the curves hold (the objective's value at each epoch's end).
    """

    def __init__(self, stopper: Stopper, objective: Objective) -> None:
        self.stopper, self.objective = stopper, objective
        self.curves: dict[str, dict[int, float]] = {}  # the objective by epoch, per trial
        self.undecided: dict[str, int] = {}  # trial -> the epoch the stopper lacked data at
        self.end_epoch: dict[str, int] = {}  # trial -> the epoch it trains up to (absolute)

    def started(self, model_id: str, epochs: int) -> None:
        """A trial starts (or resumes) and trains up to ``epochs`` (absolute)."""
        self.end_epoch[model_id] = epochs

    def observe(self, model_id: str, epoch: int, metrics: dict[str, float]) -> None:
        """An epoch of a trial ended with ``metrics``."""
        value = self.objective.value(metrics)
        if value is not None:
            self.curves.setdefault(model_id, {})[epoch] = value
        self.undecided.pop(model_id, None)

    def note_log(self, model_id: str, record: dict[str, Any]) -> None:
        """A trial's curve from its ``log.json`` record (its history ends at its last
        epoch): trials of an earlier run, and resumed ones, count as they did then."""
        history: dict[str, list[float]] = record.get("history") or {}
        n = max((len(v) for v in history.values()), default=0)
        first = int(record.get("epochs_done") or n) - n
        curve = {first + i: v for i in range(n) if (v := self.objective.value(
            {k: vs[i] for k, vs in history.items() if i < len(vs)})) is not None}
        if curve:
            self.curves[model_id] = curve

    def judge(self, model_id: str, epoch: int) -> str:
        """The stopper's reason to stop the trial after ``epoch``, or "" to go on (it is
        then remembered as undecided when the stopper lacked data)."""
        progress = Progress(model_id, epoch, self.objective.direction, self.curves,
                            self.objective.name)
        try:
            verdict = self.stopper.decide(progress)
        except Exception as e:  # noqa: BLE001 - a faulty stopper must not end the search
            log.warning("early stopping (%r) raised at %s epoch %d; the trial goes on: %s: %s",
                        self.stopper, model_id, epoch + 1, type(e).__name__, e)
            return ""
        if verdict.stop:
            return verdict.reason or f"{self.stopper.name} stopped it"
        if verdict.undecided:
            self.undecided[model_id] = epoch
        return ""

    def judge_again(self, hopper: ModelHopper, ended: str, epoch: int) -> None:
        """``ended`` reached ``epoch``: the trials the stopper could not judge there for
        want of data are judged again; one it stops now ends at its next sub-epoch boundary
        (its partial epoch is dropped; its result is its best epoch, as always)."""
        for model_id, at in list(self.undecided.items()):
            if at != epoch or model_id == ended:
                continue
            del self.undecided[model_id]
            run = hopper.runs.get(model_id)
            if run is None or run.status != ModelStatus.RUNNING \
                    or epoch + 2 >= self.end_epoch.get(model_id, 0):
                continue  # ended, or in its last epoch: stopping it now would save little
            reason = self.judge(model_id, epoch)
            if reason:
                log.info("%s stopped early during epoch %d: %s", model_id, epoch + 2, reason)
                hopper.stop_model(model_id, reason)


def early_stopping(stopper: Optional[Stopper], objective: Objective) -> Optional[EarlyStopping]:
    """The runner's ``EarlyStopping`` for a stopper (``None``: off)."""
    return EarlyStopping(stopper, objective) if stopper is not None else None
