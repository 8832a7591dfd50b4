"""The driver-side engine: the model hopper that carries out the MOP scheduler's plan."""

from cerebro.engine.controller import Controller
from cerebro.engine.events import EventBus
from cerebro.engine.hopper import ModelHopper
from cerebro.engine.phases import Phases
from cerebro.engine.runs import ModelRun, Objective, visit_seed
from cerebro.engine.stats import HopStats
from cerebro.engine.supervisor import LivenessPolicy, PoolSupervisor, WorkersFailed

__all__ = ["Controller", "EventBus", "HopStats", "LivenessPolicy", "ModelHopper", "ModelRun",
           "Objective", "Phases", "PoolSupervisor", "WorkersFailed", "visit_seed"]
