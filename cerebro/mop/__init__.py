"""MOP (model hopper parallelism) scheduling: a pure, stdlib-only state machine."""

from cerebro.mop.scheduler import (
    EpochDone,
    ModelDone,
    Scheduler,
    SchedulerError,
    Visit,
    VisitKind,
)

__all__ = [
    "EpochDone",
    "ModelDone",
    "Scheduler",
    "SchedulerError",
    "Visit",
    "VisitKind",
]
