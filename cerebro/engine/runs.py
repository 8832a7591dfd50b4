"""``ModelRun``: the driver's record of one model (where its state is, what it has done).

It aggregates an epoch's visits into the epoch's metrics, keeps the best epoch by the
search's objective (KerasTuner's definition: the objective's best epoch by its direction),
and is what ``runs/<project>/<id>/log.json`` holds, so a search resumes after its driver dies.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from typing import Any, Callable, Optional

from cerebro.mop import Visit
from cerebro.storage.layout import RunLayout
from cerebro.wire import FailReason, LostReason, ModelIO, ModelStatus, VisitResult, VisitTask

MEMORY_LOSSES_ALLOWED = 1  # a model over its memory is retried once, alone, then FAILED
LOSSES_ALLOWED = 2  # other losses (killed or hung worker) of one model before it is FAILED


def visit_seed(seed: int, model_key: str, epoch: int, partition: int) -> int:
    """A seed fixed by (search seed, model, epoch, partition): independent of timing."""
    h = hashlib.blake2b(f"{seed}|{model_key}|{epoch}|{partition}".encode(), digest_size=8)
    return int.from_bytes(h.digest(), "little") % (2**31 - 1)


@dataclasses.dataclass(frozen=True)
class Objective:
    """What ranks epochs and trials.

    Attributes:
        name: The metric, e.g. ``val_accuracy``.
        direction: ``"max"`` or ``"min"``.
        value_fn: Computes the value from an epoch's metrics when it is not one metric
            (KerasTuner's multi-objective); default: ``metrics[name]``.
    """

    name: str
    direction: str = "min"
    value_fn: Optional[Callable[[dict[str, float]], Optional[float]]] = None

    def __post_init__(self) -> None:
        if self.direction not in ("min", "max"):
            raise ValueError(f"objective direction must be 'min' or 'max', got {self.direction!r}")

    def value(self, metrics: dict[str, float]) -> Optional[float]:
        """The objective's value in an epoch's metrics (``None`` if absent or not finite)."""
        v = self.value_fn(metrics) if self.value_fn is not None else metrics.get(self.name)
        return float(v) if v is not None and math.isfinite(float(v)) else None

    def better(self, a: Optional[float], b: Optional[float]) -> bool:
        """Whether ``a`` beats ``b`` (a value beats ``None``)."""
        if a is None:
            return False
        if b is None:
            return True
        return a > b if self.direction == "max" else a < b

    def sort_key(self, value: Optional[float]) -> tuple[int, float]:
        """Sorts best first; ``None`` last."""
        if value is None:
            return (1, 0.0)
        return (0, -value if self.direction == "max" else value)

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "direction": self.direction}


@dataclasses.dataclass
class ModelRun:
    """The driver's record of one model."""

    model_id: str
    spec_key: str
    io: ModelIO
    batch_size: int
    state_key: Optional[str] = None
    seq: int = 0
    epochs_done: int = 0
    status: ModelStatus = ModelStatus.RUNNING
    error: str = ""
    stop_reason: str = ""  # why the search stopped it early (a stopper, a callback, a person)
    history: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    visit_log: dict[int, list[int]] = dataclasses.field(default_factory=dict)
    fail_injection: Optional[str] = None
    seed_key: str = ""
    transform_key: Optional[str] = None
    learning_rate: Optional[float] = None  # set by driver-side callbacks; sent with each visit
    reported: bool = False
    best_epoch: Optional[int] = None
    best_value: Optional[float] = None
    best_state_key: Optional[str] = None
    best_seq: Optional[int] = None
    live_states: set[int] = dataclasses.field(default_factory=set)
    peak_rss_bytes: int = 0
    losses: dict[str, int] = dataclasses.field(default_factory=dict)
    longest: dict[str, float] = dataclasses.field(default_factory=dict)  # kind -> seconds
    _acc: dict[str, dict[str, list[float]]] = dataclasses.field(default_factory=dict)
    _io_cache: Optional[dict[str, Any]] = dataclasses.field(default=None, repr=False)

    def visit_task(self, visit: Visit, layout: RunLayout, seed: int,
                   memory_limit_bytes: Optional[int] = None,
                   threads: Optional[int] = None) -> VisitTask:
        """The task of one scheduled visit (``cerebro.mop.Visit``) of this model.

        A training visit writes the next state in sequence (``layout.state_key``); every
        visit's seed follows from the search seed, the model and the sub-epoch.
        """
        train = visit.kind.value == "train"
        return VisitTask(
            kind=visit.kind.value, model_id=self.model_id, epoch=visit.epoch,
            partition=visit.partition, spec_key=self.spec_key, state_key=self.state_key,
            out_key=layout.state_key(self.model_id, self.seq + 1) if train else None,
            batch_size=self.batch_size,
            seed=visit_seed(seed, self.seed_key, visit.epoch, visit.partition),
            io=self.io, fail_injection=self.fail_injection,
            memory_limit_bytes=memory_limit_bytes, transform_key=self.transform_key,
            learning_rate=self.learning_rate, threads=threads,
            custom_objects_key=layout.custom_objects_key(self.model_id))

    def _io_json(self) -> dict[str, Any]:
        if self._io_cache is None:  # the log is written every sub-epoch; io never changes
            self._io_cache = self.io.to_json()
        return self._io_cache

    def visit_done(self, visit: Visit, result: VisitResult, seconds: float,
                   layout: RunLayout) -> None:
        """Books a completed visit: its time, memory, metrics and (training) new state."""
        kind = visit.kind.value
        self.record_duration(kind, seconds)
        self.peak_rss_bytes = max(self.peak_rss_bytes, result.peak_rss_bytes)
        if kind == "train":
            self.seq += 1
            self.state_key = layout.state_key(self.model_id, self.seq)
            self.live_states.add(self.seq)
            self.visit_log.setdefault(visit.epoch, []).append(visit.partition)
        self.accumulate("train" if kind == "train" else "eval", result)

    def accumulate(self, kind: str, result: VisitResult) -> None:
        acc = self._acc.setdefault(kind, {})
        for k, v in result.metrics.items():
            # Keras's means: a weighted metric over the sum of the weights, the rest (the
            # loss too: sum of w * loss over the rows) over the rows.
            n = result.weight_sum if k in result.weighted else result.samples
            s = acc.setdefault(k, [0.0, 0.0])
            s[0] += v * n
            s[1] += n

    def drop_partial_epoch(self) -> None:
        """Forgets the sums and visit order of an epoch a stop cut short (before the model
        resumes: it trains that epoch on every partition again, and ``visit_log`` stays a
        replayable order)."""
        self._acc = {}
        self.visit_log.pop(self.epochs_done, None)

    def close_epoch(self, epoch: int, objective: Objective) -> dict[str, float]:
        """Means of the epoch's visits (by rows, or by sample weight for the weighted
        metrics), as ``train_*`` and ``val_*``.

        Also advances the best epoch when this one beats it; the state after the epoch's
        training (``state_key``) then becomes the model's result.
        """
        out = {}
        for kind, prefix in (("train", "train_"), ("eval", "val_")):
            for k, (s, n) in self._acc.get(kind, {}).items():
                out[prefix + k] = s / n if n else float("nan")
        self._acc = {}
        for k, v in out.items():
            self.history.setdefault(k, []).append(v)
        self.epochs_done += 1
        value = objective.value(out)
        if self.best_epoch is None or objective.better(value, self.best_value):
            self.best_epoch, self.best_value = epoch, value
            self.best_state_key, self.best_seq = self.state_key, self.seq
        return out

    @property
    def result_state_key(self) -> Optional[str]:
        """The state the result uses: the best epoch's (the latest before any epoch ends)."""
        return self.best_state_key or self.state_key

    def record_duration(self, kind: str, seconds: float) -> None:
        if seconds > self.longest.get(kind, 0.0):  # what the visit deadlines need
            self.longest[kind] = float(seconds)

    def log_record(self, ordinal: int) -> dict[str, Any]:
        """What ``log.json`` holds: enough to resume the model after a crash."""
        return {"model_id": self.model_id, "status": str(self.status), "error": self.error,
                "stop_reason": self.stop_reason,
                "epochs_done": self.epochs_done, "state_key": self.state_key, "seq": self.seq,
                "history": self.history, "ordinal": ordinal, "seed_key": self.seed_key,
                "partial_metrics": self._acc, "best_epoch": self.best_epoch,
                "best_value": self.best_value, "best_state_key": self.best_state_key,
                "best_seq": self.best_seq, "peak_rss_bytes": self.peak_rss_bytes,
                "io": self._io_json(), "batch_size": self.batch_size,
                "transform_key": self.transform_key, "learning_rate": self.learning_rate,
                "visit_log": {str(k): v for k, v in self.visit_log.items()}}

    def plan(self, epochs: int, start_epoch: int, resume: Optional[dict[str, Any]]
             ) -> tuple[int, int, Optional[int], list[int]]:
        """Where the model starts: ``(start_epoch, epochs left, ordinal, partitions of the
        start epoch already trained)``, from its ``log.json`` record when it resumes."""
        self.epochs_done = max(self.epochs_done, start_epoch)
        if resume is None:
            return start_epoch, epochs, None, []
        trained = self.restore(resume)
        start_epoch = self.epochs_done
        if epochs - start_epoch < 1:
            raise ValueError(f"model {self.model_id!r} already trained {start_epoch} epochs")
        return start_epoch, epochs - start_epoch, resume.get("ordinal"), trained

    def restore(self, record: dict[str, Any]) -> list[int]:
        """Takes back a ``log_record``; returns the partitions of the unfinished epoch."""
        self.state_key, self.seq = record["state_key"], int(record["seq"])
        self.epochs_done = int(record["epochs_done"])
        self.history = {k: list(v) for k, v in record["history"].items()}
        self.visit_log = {int(k): list(v) for k, v in record["visit_log"].items()}
        self.seed_key = record.get("seed_key") or self.model_id
        self._acc = {"train": record.get("partial_metrics", {}).get("train", {})}
        self.best_epoch, self.best_value = record.get("best_epoch"), record.get("best_value")
        self.best_state_key, self.best_seq = record.get("best_state_key"), record.get("best_seq")
        self.peak_rss_bytes = int(record.get("peak_rss_bytes") or 0)
        self.learning_rate = record.get("learning_rate")
        return self.visit_log.get(self.epochs_done, [])

    def lost_verdict(self, error: str) -> Optional[tuple[str, FailReason]]:
        """After a lost visit: ``(error, reason)`` if the model must fail, else ``None``."""
        memory = self.losses.get(str(LostReason.MEMORY), 0)
        others = sum(self.losses.values()) - memory
        if memory > MEMORY_LOSSES_ALLOWED:
            return (f"out of memory twice, the second time running alone: {error}",
                    FailReason.MEMORY)
        if others > LOSSES_ALLOWED:
            return (f"its worker was lost {others} times while running it; last: {error}",
                    FailReason.LOST)
        return None
