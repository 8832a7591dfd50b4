"""MOP (model hopper parallelism) scheduling: a pure, stdlib-only state machine."""

from cerebro.mop.memory import MemoryPlan
from cerebro.mop.scheduler import (
    EpochDone,
    ModelDone,
    Scheduler,
    SchedulerError,
    Visit,
    VisitKind,
)
from cerebro.mop.threads import visit_threads

__all__ = [
    "MemoryPlan",
    "EpochDone",
    "ModelDone",
    "Scheduler",
    "SchedulerError",
    "Visit",
    "VisitKind",
    "visit_threads",
]
