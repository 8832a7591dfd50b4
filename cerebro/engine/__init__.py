"""The driver-side engine: the model hopper that carries out the MOP scheduler's plan."""

from cerebro.engine.hopper import Controller, HopStats, ModelHopper, ModelRun
from cerebro.wire import ModelIO, VisitResult, VisitTask

__all__ = ["Controller", "HopStats", "ModelHopper", "ModelRun", "ModelIO", "VisitResult",
           "VisitTask"]
