"""Messages between the driver and its workers (``VisitTask``, ``VisitResult``, ``WorkerUp``,
``Heartbeat``, ``Retune``), the models' statuses, and the human-in-the-loop ``Command``."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any, Optional, Protocol


class ModelStatus(enum.StrEnum):
    """Where a model of a search stands (its value is what records and logs store)."""

    RUNNING = "RUNNING"
    DONE = "DONE"
    STOPPED = "STOPPED"
    FAILED = "FAILED"


class LostReason(enum.StrEnum):
    """Why a visit came back without a result from its worker."""

    EXITED = "exited"  # the worker process died (signal, crash) or its connection broke
    MEMORY = "memory"  # over its memory allowance (the worker's guard) or killed by the kernel
    HUNG = "hung"  # beat but ran past its visit's deadline (deadlocked, swapping, endless)
    NO_HEARTBEAT = "no_heartbeat"  # sent no heartbeat for the timeout (stopped, frozen, cut off)


@dataclasses.dataclass(frozen=True)
class ModelIO:
    """How a model reads a shard: which columns feed which input/output, reshaped how.

    Attributes:
        weight_column: The column of per-row sample weights given to Keras's ``fit`` and
            ``evaluate`` (``sample_weight``), or ``None``.
    """

    feature_columns: tuple[str, ...]
    label_columns: tuple[str, ...]
    input_shapes: tuple[tuple[int, ...], ...]
    label_shapes: tuple[tuple[int, ...], ...]
    label_encoding: tuple[Optional[dict[str, Any]], ...] = ()
    weight_column: Optional[str] = None

    @property
    def columns(self) -> tuple[str, ...]:
        weight = (self.weight_column,) if self.weight_column else ()
        return self.feature_columns + self.label_columns + weight

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "ModelIO":
        return cls(tuple(d["feature_columns"]), tuple(d["label_columns"]),
                   tuple(tuple(s) for s in d["input_shapes"]),
                   tuple(tuple(s) for s in d["label_shapes"]),
                   tuple(d.get("label_encoding") or ()), d.get("weight_column"))


@dataclasses.dataclass(frozen=True)
class VisitTask:
    """One order to a worker: train one sub-epoch, or evaluate, one model on its shard.

    Attributes:
        kind: ``"train"`` or ``"eval"``.
        model_id: The model.
        epoch: Absolute epoch index of the model.
        partition: The worker's partition (sanity check on the worker side).
        spec_key: Store key of the model's ``.keras`` file (built once per worker, cached).
        state_key: Store key of the state to start from; ``None`` means the spec's weights.
        out_key: For ``train``: where to write the new state (atomically).
        batch_size: Batch size.
        seed: Seed for this visit's shuffle and dropout; fixed per (model, epoch, partition).
        io: Column mapping.
        fail_injection: Test hook: ``"raise"`` makes the visit fail.
        memory_limit_bytes: The worker's memory allowance for this visit: past it the
            worker gives up the visit and reports ``LostReason.MEMORY`` (``None``: no limit).
        transform_key: Store key of a cloudpickled ``transformation_fn(x, y) -> (x, y)``
            applied to every batch (upstream Cerebro's ``transformation_fn``), or ``None``.
        learning_rate: Assigned to the model's optimizer before this visit (a driver-side
            callback such as ``ReduceLROnPlateau`` changed it), or ``None``: keep the state's.
        threads: CPU threads the visit may use: the worker's own cores plus a share of its
            host's idle workers' (``cerebro.mop.visit_threads``); ``None``: the worker's own.
            Only the torch backend follows it (its intra-op threads); others keep theirs.
        custom_objects_key: Store key where the model's cloudpickled ``custom_objects`` are
            when it has any (read with the spec), or ``None``: none.
        forget: Models that finished (done, stopped or failed) since this worker's last
            visit: it drops their builds, so its cache holds only models still in flight.
    """

    kind: str
    model_id: str
    epoch: int
    partition: int
    spec_key: str
    state_key: Optional[str]
    out_key: Optional[str]
    batch_size: int
    seed: int
    io: ModelIO
    fail_injection: Optional[str] = None
    memory_limit_bytes: Optional[int] = None
    transform_key: Optional[str] = None
    learning_rate: Optional[float] = None
    threads: Optional[int] = None
    custom_objects_key: Optional[str] = None
    forget: tuple[str, ...] = ()


@dataclasses.dataclass
class VisitResult:
    """What a worker answers for one ``VisitTask``.

    Attributes:
        ok: False if the visit raised; ``error`` then holds the message.
        metrics: Mean metrics over the visit (Keras names, e.g. ``loss``, ``accuracy``).
        samples: Rows seen; metrics are weighted by it when aggregated over an epoch,
            except the ``weighted`` ones.
        weight_sum: The sum of the rows' sample weights (``ModelIO.weight_column``).
        weighted: The metrics Keras weighs by the sample weights (``compile(
            weighted_metrics=...)``): means over ``weight_sum``, aggregated by it.
        load_s / compute_s / save_s: Seconds spent loading state, training or evaluating,
            and saving state.
        build_s: Seconds spent building the model from its spec (cache miss), else 0.
        built: True if the worker had to build the model (cache miss).
        peak_rss_bytes: The worker process's peak resident memory during the visit.
        lost: True when the worker did not answer: it died, hung or ran out of memory
            (``lost_reason`` says which); the visit's work is void and may be retried.
        exit_signal: The signal that ended a lost worker, when known (e.g. 9, SIGKILL).
        threads: The most CPU threads the visit ran with (0: not reported); a retuned
            visit (``Retune``) changes its count mid-way.
        thread_s: Its busy core-seconds: the time-weighted mean of its threads times
            ``compute_s`` (0: not reported; ``threads * compute_s`` is used).
    """

    ok: bool
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    samples: int = 0
    weight_sum: float = 0.0
    weighted: tuple[str, ...] = ()
    load_s: float = 0.0
    compute_s: float = 0.0
    save_s: float = 0.0
    build_s: float = 0.0
    built: bool = False
    error: str = ""
    traceback: str = ""
    peak_rss_bytes: int = 0
    lost: bool = False
    lost_reason: Optional[LostReason] = None
    exit_signal: Optional[int] = None
    threads: int = 0
    thread_s: float = 0.0

    @classmethod
    def lost_worker(cls, reason: LostReason, error: str,
                    exit_signal: Optional[int] = None) -> "VisitResult":
        """The result a pool reports for a visit whose worker did not answer."""
        return cls(ok=False, error=error, lost=True, lost_reason=reason, exit_signal=exit_signal)


@dataclasses.dataclass(frozen=True)
class Heartbeat:
    """A busy worker's sign of life, sent every second by a thread that does not train.

    Attributes:
        worker: The worker (== partition).
    """

    worker: int


@dataclasses.dataclass(frozen=True)
class Retune:
    """The driver's word to a busy worker: run the rest of this visit with ``threads`` CPU
    threads (elastic threads, ``cerebro.mop.retuned_threads``); applied between batches.

    Attributes:
        threads: The visit's new thread count (at least 1).
    """

    threads: int


@dataclasses.dataclass(frozen=True)
class WorkerUp:
    """A pool's notice that a (re)started worker is ready for visits.

    Attributes:
        worker: The worker (== partition).
        host: The host it runs on.
        rss_bytes: Its resident memory while idle (interpreter, framework, shard).
        cores: The CPU cores it owns (0: unknown; elastic threads are then off).
    """

    worker: int
    host: str = ""
    rss_bytes: int = 0
    cores: int = 0


class Ack(Protocol):
    """Acknowledges a ``Command``: applied (``ok``) or rejected, with a message for the
    person who asked, and the model it made (an ``add``)."""

    def __call__(self, ok: bool, message: str = "", model_id: Optional[str] = None) -> None: ...


@dataclasses.dataclass(frozen=True)
class Command:
    """A human-in-the-loop command (from the dashboard, through the records database).

    Attributes:
        action: ``"stop"``, ``"resume"`` or ``"add"``.
        model_id: The model it is about (``stop``, ``resume``).
        params: Hyperparameters of the model to add (``add``).
        epochs: Epochs to add (``resume``).
        id: Its row id, when it has one (the event bus hands a command out once).
        ack: Called once with the outcome (``None``: nobody asks).
    """

    action: str
    model_id: Optional[str] = None
    params: Mapping[str, object] = dataclasses.field(default_factory=dict)
    epochs: Optional[int] = None
    id: Optional[int] = None
    ack: Optional[Ack] = None
