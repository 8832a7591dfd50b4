"""The MOP scheduler's state and its read-only views; ``scheduler.py`` holds the transitions.

``SchedulerState`` owns every field of a :class:`cerebro.mop.Scheduler` (its models, workers,
logs, cost estimates and ready queues) and answers questions about them without changing
them; the subclass ``Scheduler`` adds, assigns, completes and removes.
"""

from __future__ import annotations

from cerebro.mop.memory import MemoryPlan
from cerebro.mop.priority import CostModel
from cerebro.mop.queues import ReadyQueues
from cerebro.mop.records import SchedulerError, Visit, VisitKind, _Model
from cerebro.mop.rotation import Rotation


class SchedulerState:
    """A scheduler's fields and read-only views (arguments: see ``Scheduler``)."""

    def __init__(
        self,
        num_partitions: int,
        seed: int = 0,
        strict_order: bool = True,
        evaluate: bool = True,
        memory: MemoryPlan | None = None,
    ) -> None:
        if num_partitions < 1:
            raise SchedulerError(f"num_partitions must be >= 1, got {num_partitions}")
        self.num_partitions = num_partitions
        self.seed = seed
        self.strict_order = strict_order
        self.evaluate = evaluate
        self.memory = memory
        self._models: dict[str, _Model] = {}
        self._ordinals: dict[str, int] = {}  # every id ever added
        self._train_log: dict[str, dict[int, list[int]]] = {}
        self._eval_log: dict[str, dict[int, list[int]]] = {}
        self._running: dict[int, Visit] = {}
        self._down: set[int] = set()
        self._idle: set[int] = set(range(num_partitions))  # up and not running
        self._free: dict[str, _Model] = {}  # not running, not removed, not finished
        self._added = 0
        self._rotation = Rotation(num_partitions, seed)
        self._cost = CostModel()
        self._ready = ReadyQueues()
        self._ranked = 0  # the cost model's version the ready queues are ranked by
        self._stamp = 0  # the last version handed to a model
        self._shortest_first = False

    @property
    def shortest_first(self) -> bool:
        """Work-conserving order: shortest remaining first (else longest remaining first).

        Shortest first finishes the trials that give results soonest (the tuner's next
        proposals and early-stopping decisions feed on them); longest first, once no
        trial is still to come, ends the search's tail soonest. Strict order ignores it.
        """
        return self._shortest_first

    @shortest_first.setter
    def shortest_first(self, value: bool) -> None:
        if bool(value) != self._shortest_first:
            self._shortest_first = bool(value)
            self._ranked = -1  # the queues are re-ranked at the next assignment

    def _remaining(self, m: _Model) -> float:
        """Estimated seconds of the model's visits still to run."""
        p, epochs = self.num_partitions, m.end_epoch - m.epoch
        if m.phase is VisitKind.TRAIN:
            train, evals = epochs * p - len(m.done), epochs * p if self.evaluate else 0
        else:
            train, evals = (epochs - 1) * p, epochs * p - len(m.done)
        return self._cost.remaining_s(m.model_id, train, evals)

    # ---------------------------------------------------------- read-only views
    @property
    def running(self) -> dict[int, Visit]:
        """Worker -> visit running on it (a copy)."""
        return dict(sorted(self._running.items()))

    @property
    def idle_workers(self) -> list[int]:
        """Workers that are up and not running a visit, ascending."""
        return sorted(self._idle)

    @property
    def down_workers(self) -> list[int]:
        """Workers marked down, ascending."""
        return sorted(self._down)

    def models(self) -> list[str]:
        """Ids of the models not removed (including finished ones)."""
        return [i for i, m in self._models.items() if not m.removed]

    def is_active(self, model_id: str) -> bool:
        """Whether the model (not removed) still has pending or running visits."""
        self._known(model_id)
        m = self._models.get(model_id)
        return m is not None and not m.removed and not m.finished

    def has_work(self) -> bool:
        """Whether any visit is running or any model still has pending visits."""
        return bool(self._running) or any(
            not m.removed and not m.finished for m in self._models.values()
        )

    def visit_log(self, model_id: str) -> dict[int, list[int]]:
        """Epoch -> partitions of the completed TRAIN visits, in order.

        Kept after the model's removal; re-adding the id with ``start_epoch``
        discards the entries from ``start_epoch`` on.
        """
        self._known(model_id)
        return {e: list(p) for e, p in sorted(self._train_log[model_id].items())}

    def eval_log(self, model_id: str) -> dict[int, list[int]]:
        """Epoch -> shards of the completed EVAL visits, in order."""
        self._known(model_id)
        return {e: list(p) for e, p in sorted(self._eval_log[model_id].items())}

    def progress(self, model_id: str) -> tuple[int, VisitKind, int]:
        """Returns ``(epoch, phase, completed visits in this phase)``.

        A finished model reports ``(epochs_done, TRAIN, 0)``.
        """
        m = self._active(model_id)
        return m.epoch, m.phase, len(m.done)

    def remaining_s(self, model_id: str) -> float:
        """The model's estimated seconds of work left (its rank: most first)."""
        return self._remaining(self._active(model_id))

    def train_order(self, model_id: str, epoch: int) -> list[int]:
        """The planned strict TRAIN order of a model in an epoch.

        Defined (and deterministic) even when ``strict_order=False``, where it
        is merely not enforced.
        """
        self._known(model_id)
        return self._rotation.order(self._ordinals[model_id], epoch)

    def train_order_for(self, ordinal: int, epoch: int) -> list[int]:
        """The strict TRAIN order of epoch ``epoch`` for a model with ``ordinal``."""
        return self._rotation.order(ordinal, epoch)

    def ordinal(self, model_id: str) -> int:
        """The model's rotation offset (needed to resume it with the same order)."""
        self._known(model_id)
        return self._ordinals[model_id]

    # ---------------------------------------------------------------- internal
    def _runnable_kind(self, m: _Model, worker: int) -> VisitKind | None:
        if m.removed or m.worker is not None or m.finished or worker in m.done:
            return None
        pin = self._pinned(m)
        return m.phase if pin is None or pin == worker else None

    def _plan(self, m: _Model) -> list[int] | None:
        """The pinned TRAIN order of the model's current epoch (None: unpinned)."""
        if m.plan_epoch != m.epoch:
            m.plan_epoch = m.epoch
            m.plan = self._rotation.pinned(m.ordinal, m.epoch, m.replay.get(m.epoch),
                                           self.strict_order)
        return m.plan

    def _pinned(self, m: _Model) -> int | None:
        """The one worker the model's next visit may run on, if it is pinned."""
        if m.phase is not VisitKind.TRAIN:
            return None
        plan, k = self._plan(m), len(m.done)
        return plan[k] if plan is not None and k < len(plan) else None

    def _known(self, model_id: str) -> None:
        if model_id not in self._ordinals:
            raise SchedulerError(f"unknown model {model_id!r}")

    def _active(self, model_id: str) -> _Model:
        m = self._models.get(model_id)
        if m is None or m.removed:
            self._known(model_id)
            raise SchedulerError(f"model {model_id!r} was removed")
        return m

    def _check_worker(self, worker: int) -> None:
        if not 0 <= worker < self.num_partitions:
            raise SchedulerError(
                f"worker {worker} out of range 0..{self.num_partitions - 1}"
            )
