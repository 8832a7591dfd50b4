"""Early termination of trials at epoch boundaries, in the style of Ray Tune's schedulers.

At the end of each epoch of a trial the ``SearchRunner`` asks the search's ``Stopper``
whether the trial goes on. The stopper sees every trial's objective curve (the objective's
value at the end of each epoch, this run's trials, running and ended alike) and answers
``CONTINUE`` or ``STOP`` with a reason; a stopped trial ends at that boundary (its best
epoch is its result, as for any trial) and its slot goes to the next trial at once.

Two rules are built in:

* ``MedianStoppingRule`` (Google Vizier's rule, as in Ray Tune): stop a trial whose best
  value so far is worse than the median of the other trials' running averages up to the
  same epoch.
* ``ASHAStopper``: asynchronous successive halving: at rung epochs ``grace * eta**k`` a
  trial goes on only if its value is in the top ``1/eta`` of the values all trials had at
  that rung.

Both are pure functions of the curves (no state), so one instance may serve several
searches. ``resolve_stopper`` turns a user's ``early_stopping=`` setting into one.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
import statistics
from collections.abc import Mapping
from typing import Optional, Union

Curve = Mapping[int, float]
"""A trial's objective by epoch: absolute epoch index (from 0) -> the objective's value at
its end. Epochs whose objective is missing or not finite are left out."""


class Decision(enum.StrEnum):
    """What a stopper decided for a trial at an epoch boundary."""

    CONTINUE = "CONTINUE"
    STOP = "STOP"


@dataclasses.dataclass(frozen=True)
class Verdict:
    """A stopper's answer.

    Attributes:
        decision: ``CONTINUE`` or ``STOP``.
        reason: Why it stops (shown in the console, records, dashboard and result).
        undecided: ``CONTINUE`` for want of data (too few other trials at this epoch): the
            runner asks again, for this epoch, whenever another trial ends it, and may
            then stop the trial during its next epoch. In a parallel search the first
            trials reach each epoch together, so without this the first ones to get there
            could never be judged.
    """

    decision: Decision
    reason: str = ""
    undecided: bool = False

    @property
    def stop(self) -> bool:
        return self.decision == Decision.STOP


CONTINUE = Verdict(Decision.CONTINUE)
UNDECIDED = Verdict(Decision.CONTINUE, undecided=True)


def stop(reason: str) -> Verdict:
    """A ``STOP`` verdict with its reason."""
    return Verdict(Decision.STOP, reason)


@dataclasses.dataclass(frozen=True)
class Progress:
    """What a stopper sees when one trial's epoch ends.

    Attributes:
        trial_id: The trial whose epoch just ended.
        epoch: That epoch (absolute, from 0).
        direction: ``"min"`` or ``"max"``: how the objective ranks.
        curves: Every trial's curve, this trial's included (it has ``epoch`` unless its
            objective was missing there).
        objective: The objective's name (for reasons).
    """

    trial_id: str
    epoch: int
    direction: str
    curves: Mapping[str, Curve]
    objective: str = "objective"

    def __post_init__(self) -> None:
        if self.direction not in ("min", "max"):
            raise ValueError(f"direction must be 'min' or 'max', got {self.direction!r}")

    @property
    def curve(self) -> Curve:
        return self.curves.get(self.trial_id, {})

    def others(self) -> dict[str, Curve]:
        """The other trials' curves."""
        return {t: c for t, c in self.curves.items() if t != self.trial_id}

    def worse(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly worse than ``b`` by the direction."""
        return a < b if self.direction == "max" else a > b

    def best(self, values: list[float]) -> float:
        return max(values) if self.direction == "max" else min(values)


class Stopper(abc.ABC):
    """Decides at each epoch end of a trial whether it goes on.

    Subclass it and implement ``decide``; pass an instance as ``early_stopping=``.
    ``decide`` is called on the driver, between a trial's last evaluation visit of an epoch
    and its next visit, for every epoch but a trial's last (which ends it anyway).
    """

    name: str = "stopper"

    @abc.abstractmethod
    def decide(self, progress: Progress) -> Verdict:
        """``CONTINUE``, or ``stop(reason)``."""


def _whole(value: object, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


def _fmt(x: float) -> str:
    return f"{x:.4g}"


class MedianStoppingRule(Stopper):
    """Google Vizier's median stopping rule (Ray Tune's ``MedianStoppingRule``).

    After epoch ``t`` of a trial (``t + 1 >= grace_epochs`` epochs done), take every other
    trial that reached epoch ``t`` and its running average: the mean of its values at the
    epochs up to ``t``. If at least ``min_trials`` such trials exist and the trial's best
    value so far is strictly worse than the median of their running averages, it stops.
    With fewer, the verdict is ``UNDECIDED``: it is judged again as others reach ``t``.

    Args:
        grace_epochs: Epochs a trial trains before it can be stopped (1: right after its
            first epoch).
        min_trials: Other trials that must have reached the epoch before the rule judges.
    """

    name = "median"

    def __init__(self, grace_epochs: int = 1, min_trials: int = 3) -> None:
        self.grace_epochs = _whole(grace_epochs, "grace_epochs", 1)
        self.min_trials = _whole(min_trials, "min_trials", 1)

    def __repr__(self) -> str:
        return f"MedianStoppingRule(grace_epochs={self.grace_epochs}, min_trials={self.min_trials})"

    def decide(self, progress: Progress) -> Verdict:
        t = progress.epoch
        mine = [v for e, v in progress.curve.items() if e <= t]
        if t + 1 < self.grace_epochs or not mine:
            return CONTINUE
        averages = [statistics.fmean(vs) for c in progress.others().values()
                    if t in c and (vs := [v for e, v in c.items() if e <= t])]
        if len(averages) < self.min_trials:
            return UNDECIDED
        median, best = statistics.median(averages), progress.best(mine)
        if not progress.worse(best, median):
            return CONTINUE
        side = "below" if progress.direction == "max" else "above"
        return stop(f"median stopping rule: best {progress.objective} {_fmt(best)} after "
                    f"epoch {t + 1} is {side} the median {_fmt(median)} of {len(averages)} "
                    f"other trials' running averages")


class ASHAStopper(Stopper):
    """Asynchronous successive halving (ASHA, as Ray Tune's ``ASHAScheduler`` stops trials).

    Rungs are at ``grace_epochs * reduction_factor**k`` epochs done (below ``max_epochs``
    when given). When a trial reaches a rung, it goes on only if its value there is in the
    top ``1 / reduction_factor`` of the values every trial had at that rung (its own
    included); a trial reaching a rung with fewer than ``min_trials`` others there goes on.

    Args:
        grace_epochs: The first rung (epochs done).
        reduction_factor: ``eta``: the share kept at each rung is ``1 / eta``.
        min_trials: Other trials needed at a rung before it judges.
    """

    name = "asha"

    def __init__(self, grace_epochs: int = 1, reduction_factor: int = 3,
                 min_trials: int = 1) -> None:
        self.grace_epochs = _whole(grace_epochs, "grace_epochs", 1)
        self.reduction_factor = _whole(reduction_factor, "reduction_factor", 2)
        self.min_trials = _whole(min_trials, "min_trials", 0)

    def __repr__(self) -> str:
        return (f"ASHAStopper(grace_epochs={self.grace_epochs}, "
                f"reduction_factor={self.reduction_factor}, min_trials={self.min_trials})")

    def is_rung(self, epochs_done: int) -> bool:
        r = self.grace_epochs
        while r < epochs_done:
            r *= self.reduction_factor
        return r == epochs_done

    def decide(self, progress: Progress) -> Verdict:
        t = progress.epoch
        if not self.is_rung(t + 1) or t not in progress.curve:
            return CONTINUE
        mine = progress.curve[t]
        others = [c[t] for c in progress.others().values() if t in c]
        if len(others) < max(1, self.min_trials):
            return UNDECIDED
        values = sorted(others + [mine], reverse=progress.direction == "max")
        keep = max(1, len(values) // self.reduction_factor)
        cutoff = values[keep - 1]
        if not progress.worse(mine, cutoff):
            return CONTINUE
        return stop(f"successive halving: {progress.objective} {_fmt(mine)} after epoch "
                    f"{t + 1} is not in the top {keep} of {len(values)} trials at that rung "
                    f"(cut-off {_fmt(cutoff)})")


EarlyStopping = Union[None, str, Stopper]
_BUILT_IN: dict[str, type[Stopper]] = {"median": MedianStoppingRule, "asha": ASHAStopper}


def resolve_stopper(value: object, setting: str = "early_stopping") -> Optional[Stopper]:
    """A user's ``early_stopping=`` setting as a ``Stopper`` (or ``None``: off).

    Args:
        value: ``"median"`` (``MedianStoppingRule()``), ``"asha"`` (``ASHAStopper()``),
            ``None`` or ``False`` (off), or a ``Stopper`` instance.
        setting: The argument's name, for the error.

    Raises:
        ValueError: Anything else (the message names the value and the choices).
    """
    if value is None or value is False:
        return None
    if isinstance(value, Stopper):
        return value
    if isinstance(value, str) and value in _BUILT_IN:
        return _BUILT_IN[value]()
    raise ValueError(f"{setting}={value!r} is not a choice: use 'median', 'asha', None (off) "
                     "or a cerebro.search.stopping.Stopper instance")

