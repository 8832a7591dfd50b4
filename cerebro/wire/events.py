"""The search's events (``VisitStarted``, ``EpochEnd``, ``ModelDone``...) and the
``Listener`` that receives them."""

from __future__ import annotations

import dataclasses
import enum
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Optional, Protocol, runtime_checkable

from cerebro.wire.messages import LostReason, ModelStatus


# -- the search's events -------------------------------------------------------------------------
# The engine and the runner emit these; the console, the records, MLflow and the user's
# listeners receive them through ``Listener``. Adding an event: one frozen dataclass below
# (with its ``name`` and a ``deliver`` that calls its method) and one method on ``Listener``.


class FailReason(enum.StrEnum):
    """Why a model was taken out of a search (the records' ``fail_reason``)."""

    ERROR = "error"  # a visit raised (e.g. NaN loss, a shape error)
    BUILD = "build"  # its model could not be built on the driver
    MEMORY = "memory"  # over its memory allowance twice, the second time running alone
    LOST = "lost"  # its worker was lost too often while running it


@dataclasses.dataclass(frozen=True)
class Event:
    """Base of the search's events: each is about one model.

    Attributes:
        model_id: The model (trial) the event is about.
        name: The event's name, as a plain callable listener receives it (class constant).
    """

    name: ClassVar[str] = "event"
    model_id: str

    def deliver(self, to: "Listener") -> None:
        """Calls the listener's method for this event (double dispatch)."""
        raise NotImplementedError

    def payload(self) -> dict[str, Any]:
        """The event's fields as a plain dict (what a ``(kind, payload)`` callable gets)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _plain(value: object) -> object:
    return dict(value) if isinstance(value, Mapping) else value


@dataclasses.dataclass(frozen=True)
class ModelAdded(Event):
    """A model joined the search (built, or resumed from an earlier run's store).

    Attributes:
        epochs: Epochs planned, counted from the start of its training.
        params: Its hyperparameters (``None``: not known here; listeners may look them up).
        spec_key: Store key of its ``.keras`` spec.
        summary: Its Keras summary (``""`` when not built in this run).
    """

    name: ClassVar[str] = "model_added"
    epochs: int
    params: Optional[Mapping[str, object]] = None
    spec_key: str = ""
    summary: str = ""

    def deliver(self, to: "Listener") -> None:
        to.on_model_added(self)


@dataclasses.dataclass(frozen=True)
class ModelResumed(Event):
    """A stopped or finished model trains again, or an interrupted run's model goes on.

    Attributes:
        epochs: Its planned epochs now, counted from the start of its training.
    """

    name: ClassVar[str] = "model_resumed"
    epochs: int

    def deliver(self, to: "Listener") -> None:
        to.on_model_resumed(self)


@dataclasses.dataclass(frozen=True)
class VisitStarted(Event):
    """A visit was sent to a worker.

    Attributes:
        kind: ``"train"`` or ``"eval"``.
        epoch: The model's epoch (0-based).
        partition: The worker (== partition).
        deadline_s: Seconds it may take before its worker is deemed hung (``None``: none).
        threads: The CPU threads it may use (elastic threads; ``None``: its worker's own).
    """

    name: ClassVar[str] = "visit_started"
    kind: str
    epoch: int
    partition: int
    deadline_s: Optional[float] = None
    threads: Optional[int] = None

    def deliver(self, to: "Listener") -> None:
        to.on_visit_started(self)


@dataclasses.dataclass(frozen=True)
class VisitDone(Event):
    """A visit ended with a result.

    Attributes:
        kind / epoch / partition: As in ``VisitStarted``.
        metrics: The visit's mean metrics (Keras names).
        seconds: Its wall time, driver side.
        peak_rss_bytes: Its worker's peak resident memory during it.
        threads: The most CPU threads it ran with (0: not reported; a retuned visit's
            count changed mid-way).
        compute_s: Its training or evaluation seconds, worker side.
        thread_s: Its busy core-seconds, time-weighted over its threads (0: not reported;
            ``threads * compute_s``).
    """

    name: ClassVar[str] = "visit_done"
    kind: str
    epoch: int
    partition: int
    metrics: Mapping[str, float] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0
    peak_rss_bytes: int = 0
    threads: int = 0
    compute_s: float = 0.0
    thread_s: float = 0.0

    def deliver(self, to: "Listener") -> None:
        to.on_visit_done(self)


@dataclasses.dataclass(frozen=True)
class VisitLost(Event):
    """A visit's worker died, hung or went over its memory; the visit will be redone.

    Attributes:
        kind / epoch / partition: As in ``VisitStarted``.
        reason: Why it was lost.
        error: What the pool said.
    """

    name: ClassVar[str] = "visit_lost"
    kind: str
    epoch: int
    partition: int
    reason: LostReason = LostReason.EXITED
    error: str = ""

    def deliver(self, to: "Listener") -> None:
        to.on_visit_lost(self)


@dataclasses.dataclass(frozen=True)
class WorkersRestarted(Event):
    """A lost visit's worker was restarted (``model_id``: the model it was running).

    Attributes:
        worker: The restarted worker.
        restarts: Restarts so far in this search.
    """

    name: ClassVar[str] = "workers_restarted"
    worker: int
    restarts: int

    def deliver(self, to: "Listener") -> None:
        to.on_workers_restarted(self)


@dataclasses.dataclass(frozen=True)
class EpochEnd(Event):
    """A model finished an epoch (all its training and evaluation visits).

    The best epoch is computed once, by the engine (``ModelRun.close_epoch``): KerasTuner's,
    the objective's first best epoch by its direction. Listeners show or store it as given.

    Attributes:
        epoch: The epoch (0-based).
        metrics: Its sample-weighted means, ``train_*`` and ``val_*``.
        best_epoch: The model's best epoch so far (0-based; ``None`` before any).
        best_value: The objective's value there (``None`` when it has none, or not finite).
    """

    name: ClassVar[str] = "epoch_end"
    epoch: int
    metrics: Mapping[str, float]
    best_epoch: Optional[int] = None
    best_value: Optional[float] = None

    def deliver(self, to: "Listener") -> None:
        to.on_epoch_end(self)


@dataclasses.dataclass(frozen=True)
class ModelDone(Event):
    """A model finished its epochs or was stopped.

    Attributes:
        status: ``DONE`` or ``STOPPED``.
        best_epoch / best_value: As in ``EpochEnd``, final.
        state_key: Store key of the state its result uses (its best epoch's).
        stop_reason: Why a ``STOPPED`` model was stopped before its last epoch (early
            stopping's rule, a Keras callback, a person); "" otherwise.
    """

    name: ClassVar[str] = "model_done"
    status: ModelStatus = ModelStatus.DONE
    best_epoch: Optional[int] = None
    best_value: Optional[float] = None
    state_key: Optional[str] = None
    stop_reason: str = ""

    def deliver(self, to: "Listener") -> None:
        to.on_model_done(self)


@dataclasses.dataclass(frozen=True)
class ModelFailed(Event):
    """A model was taken out of the search for good.

    Attributes:
        error: The error message (with its traceback when there is one).
        reason: Why.
    """

    name: ClassVar[str] = "model_failed"
    error: str
    reason: FailReason = FailReason.ERROR

    def deliver(self, to: "Listener") -> None:
        to.on_model_failed(self)


@runtime_checkable
class Listener(Protocol):
    """Receives the search's events, on the ``EventBus``'s thread, one method per event.

    Subclass it and override the methods you need: each default calls :meth:`on_event`,
    which does nothing, so an adapter that treats every event alike (``CallableListener``)
    overrides just that one.
    """

    def on_event(self, event: Event) -> None:
        """Every event whose method is not overridden comes here (default: ignored)."""
        return None

    def on_model_added(self, event: ModelAdded) -> None:
        self.on_event(event)

    def on_model_resumed(self, event: ModelResumed) -> None:
        self.on_event(event)

    def on_visit_started(self, event: VisitStarted) -> None:
        self.on_event(event)

    def on_visit_done(self, event: VisitDone) -> None:
        self.on_event(event)

    def on_visit_lost(self, event: VisitLost) -> None:
        self.on_event(event)

    def on_workers_restarted(self, event: WorkersRestarted) -> None:
        self.on_event(event)

    def on_epoch_end(self, event: EpochEnd) -> None:
        self.on_event(event)

    def on_model_done(self, event: ModelDone) -> None:
        self.on_event(event)

    def on_model_failed(self, event: ModelFailed) -> None:
        self.on_event(event)


PlainListener = Callable[[str, dict[str, Any]], None]


class CallableListener(Listener):
    """The one adapter for a plain ``fn(kind, payload)`` callable (the user's ``listeners=``).

    ``fn`` gets every event as ``(event.name, event.payload())``: the event's name
    (``"epoch_end"``...) and its fields as a dict.
    """

    def __init__(self, fn: PlainListener) -> None:
        self.fn = fn

    def on_event(self, event: Event) -> None:
        self.fn(event.name, event.payload())

    def __repr__(self) -> str:
        return f"CallableListener({self.fn!r})"


def as_listener(obj: "Listener | PlainListener") -> Listener:
    """A ``Listener`` as it is; a plain ``(kind, payload)`` callable through ``CallableListener``.

    Raises:
        TypeError: ``obj`` is neither, a ``Listener`` class (not an instance), or a callable
            that cannot take ``(kind, payload)``.
    """
    if isinstance(obj, Listener):
        if isinstance(obj, type):  # a Listener class has the methods too
            raise TypeError(f"listener {obj.__name__} is a class: pass an instance, "
                            f"{obj.__name__}()")
        return obj
    if callable(obj):
        _check_takes_kind_and_payload(obj)
        return CallableListener(obj)
    raise TypeError(f"a listener must be a cerebro.wire.Listener or a callable "
                    f"(kind, payload), got {type(obj).__name__}")


def as_listeners(objs: "Sequence[Listener | PlainListener]",
                 setting: str = "listeners") -> tuple[Listener, ...]:
    """Each of a user's ``listeners=`` through ``as_listener``.

    Raises:
        TypeError: ``objs`` is not a list or tuple (e.g. one listener on its own), or one
            of them is not a listener.
    """
    if not isinstance(objs, (list, tuple)):
        hint = (f"; for one listener pass {setting}=[...]"
                if isinstance(objs, Listener) or callable(objs) else "")
        raise TypeError(f"{setting} must be a list or tuple of listeners, got "
                        f"{type(objs).__name__}{hint}")
    return tuple(as_listener(x) for x in objs)


def _check_takes_kind_and_payload(fn: Callable[..., object]) -> None:
    """Refuses, before the search, a callable that cannot be called as ``fn(kind, payload)``
    (else every event would fail in the listener thread, one warning each)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: trust it
        return
    try:
        signature.bind("kind", {})
    except TypeError as e:
        name = getattr(fn, "__qualname__", type(fn).__name__)
        raise TypeError(f"listener {name}{signature} must take two arguments, "
                        f"fn(kind, payload): {e}") from None
