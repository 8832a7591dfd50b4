"""The scheduler's records: visits, events, errors and its per-model bookkeeping."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class VisitKind(str, enum.Enum):
    """Phase of a visit: training on a partition or evaluating on a shard."""

    TRAIN = "train"
    EVAL = "eval"


@dataclass(frozen=True)
class Visit:
    """One model visiting one worker.

    Attributes:
        model_id: Id of the visiting model.
        partition: Partition (== worker index) visited.
        epoch: 0-based absolute epoch index of the model.
        kind: Whether this is a training or an evaluation visit.
    """

    model_id: str
    partition: int
    epoch: int
    kind: VisitKind


@dataclass(frozen=True)
class EpochDone:
    """Event: ``model_id`` finished epoch ``epoch`` (all its phases)."""

    model_id: str
    epoch: int


@dataclass(frozen=True)
class ModelDone:
    """Event: ``model_id`` finished all epochs requested so far.

    Attributes:
        model_id: Id of the model.
        epochs_done: Absolute number of epochs the model has completed, i.e.
            the index of the epoch it would train next if extended.
    """

    model_id: str
    epochs_done: int


Event = EpochDone | ModelDone


class SchedulerError(RuntimeError):
    """Raised when the scheduler is misused (unknown model, stale visit, ...)."""


@dataclass
class _Model:
    """Mutable bookkeeping for one model (internal)."""

    model_id: str
    ordinal: int
    epoch: int
    end_epoch: int
    phase: VisitKind = VisitKind.TRAIN
    done: set[int] = field(default_factory=set)  # completed in current phase
    worker: int | None = None  # worker currently running it
    last_train_worker: int | None = None
    completed: int = 0  # visits completed since added
    removed: bool = False  # removal requested while a visit was running
    replay: dict[int, list[int]] = field(default_factory=dict)  # epoch -> TRAIN order to follow
    plan: list[int] | None = None  # the pinned TRAIN order of epoch ``plan_epoch``
    plan_epoch: int = -1
    version: int = 0  # renewed at every change: older queue entries of the model are stale

    @property
    def finished(self) -> bool:
        return self.epoch >= self.end_epoch
