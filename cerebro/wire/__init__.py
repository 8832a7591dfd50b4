"""The typed contract of everything that crosses a package boundary.

The control channel between driver and workers (``VisitTask``, ``VisitResult``, ``WorkerUp``),
the human-in-the-loop ``Command`` (``messages.py``), and the search's events
(``VisitStarted``, ``EpochEnd``, ``ModelDone``...) with the ``Listener`` that receives them
(``events.py``). The bottom layer: standard library only, imported by the engine (driver
side), the backend (transport), the worker runtime and every listener alike, so none of them
imports another for its messages. Import the names from ``cerebro.wire``.
"""

from cerebro.wire.events import (
    CallableListener,
    EpochEnd,
    Event,
    FailReason,
    Listener,
    ModelAdded,
    ModelDone,
    ModelFailed,
    ModelResumed,
    PlainListener,
    VisitDone,
    VisitLost,
    VisitStarted,
    WorkersRestarted,
    as_listener,
    as_listeners,
)
from cerebro.wire.messages import (
    Ack,
    Command,
    Heartbeat,
    LostReason,
    ModelIO,
    ModelStatus,
    Retune,
    VisitResult,
    VisitTask,
    WorkerUp,
)

__all__ = [
    "Ack", "CallableListener", "Command", "EpochEnd", "Event", "FailReason", "Heartbeat",
    "Listener", "LostReason", "ModelAdded", "ModelDone", "ModelFailed", "ModelIO",
    "ModelResumed", "ModelStatus", "PlainListener", "Retune", "VisitDone", "VisitLost",
    "VisitResult", "VisitStarted", "VisitTask", "WorkerUp", "WorkersRestarted", "as_listener",
    "as_listeners",
]
