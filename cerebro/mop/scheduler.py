"""Model hopper parallelism (MOP) scheduler: a pure, deterministic state machine.

The data is split into ``P`` partitions and worker ``w`` holds partition ``w``
(and validation shard ``w``), so "worker" and "partition" are the same integer
``0..P-1``. Instead of moving data, models hop between workers. A model trains
in epochs; every epoch has two phases:

* ``TRAIN``: the model visits each of the ``P`` partitions exactly once, one
  visit (a "sub-epoch") at a time;
* ``EVAL`` (only when ``evaluate=True``): the model visits each of the ``P``
  validation shards exactly once, one at a time, in any order.

The scheduler knows nothing about Spark, Keras or timing. A driver calls
:meth:`Scheduler.assign` to obtain visits for idle workers, runs them, and
reports back with :meth:`Scheduler.complete` / :meth:`Scheduler.fail`. It
guarantees that a model is on at most one worker, a worker runs at most one
visit, every epoch covers every partition exactly once per phase, no idle
worker is left unused while a runnable visit exists for it, and that the same
seed and the same sequence of calls always yield the same assignments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cerebro.mop.queues import Entry
from cerebro.mop.records import EpochDone, Event, ModelDone, SchedulerError, Visit, VisitKind, _Model
from cerebro.mop.rotation import check_replay
from cerebro.mop.state import SchedulerState

__all__ = ["EpochDone", "Event", "ModelDone", "Scheduler", "SchedulerError", "Visit", "VisitKind"]


def _check_epochs(model_id: str, epochs: int) -> None:
    if epochs < 1:
        raise SchedulerError(f"model {model_id!r}: epochs must be >= 1, got {epochs}")


class Scheduler(SchedulerState):
    """Deterministic MOP scheduler.

    Visit order: with ``strict_order=True`` a model's TRAIN order in each epoch
    is fixed in advance by its ordinal (``mop/rotation.py``) and a TRAIN visit is
    runnable only on the model's next partition; with ``strict_order=False``
    (work-conserving) any partition not yet visited this epoch is. A model added
    with ``replay`` follows the given TRAIN order in those epochs, in either
    mode. EVAL visits are always unordered. The order taken is :meth:`visit_log`.

    Assignment policy: :meth:`assign` walks the idle, up workers in ascending
    index and gives each the best runnable visit, ranked by the key
    ``(not local_eval, rank, completed_visits, ordinal, model_id)``:

    1. an EVAL visit whose model last trained on this very worker (its
       state is already there, so no load is needed) wins;
    2. work-conserving: longest remaining first, ``rank = -remaining_s``, the
       model's remaining visits times its estimated seconds per visit
       (``mop/priority.py``: measured through :meth:`complete`'s ``seconds``,
       before that from the ``cost_hint`` of :meth:`add_model`); while
       :attr:`shortest_first` is set (the tuner still proposes trials), shortest
       remaining first, ``rank = remaining_s``; strict: the
       fewest visits completed since it was added (lock-step, which keeps the
       strict rotations spread over the workers), ``rank = completed_visits``;
    3. ties are broken by visits completed, ordinal, then model id.

    Models are taken best first and each goes to the lowest idle worker it may
    run on (a local EVAL first to its own worker). Greedy filling is maximal: a
    model left waiting had no idle worker it could use when it was considered,
    and later assignments only take workers away. The ready queues are indexed
    by worker (``mop/queues.py``), so one assignment costs about
    ``log(models)``, not ``models x workers``.

    Args:
        num_partitions: Number of partitions/workers ``P`` (>= 1).
        seed: Seed of the strict TRAIN orders.
        strict_order: Whether TRAIN visits follow the precomputed order.
        evaluate: Whether each epoch has an EVAL phase after TRAIN.
    """

    # ------------------------------------------------------------------ models
    def add_model(
        self,
        model_id: str,
        epochs: int,
        start_epoch: int = 0,
        ordinal: int | None = None,
        trained: Sequence[int] = (),
        cost_hint: float | None = None,
        replay: Mapping[int, Sequence[int]] | None = None,
    ) -> None:
        """Registers a model to train ``epochs`` epochs from ``start_epoch``.

        Args:
            model_id: Unique id. A removed model's id may be added again once
                its last visit has ended; its logs from ``start_epoch`` on are
                then discarded.
            epochs: Number of epochs to run (>= 1); the model ends after epoch
                ``start_epoch + epochs - 1``.
            start_epoch: First epoch to train (> 0 when resuming a checkpoint).
            ordinal: Rotation offset of the strict order; defaults to the
                number of models added before this one.
            trained: Partitions of ``start_epoch`` already trained (resuming a
                model mid-epoch). In strict mode they must be the prefix of its
                planned order; if they are all partitions, the EVAL phase follows.
            cost_hint: The model's relative cost per sub-epoch (parameters or
                FLOPs, the same unit for every model): ranks it until its first
                sub-epoch is measured.
            replay: Epoch -> TRAIN order to follow (a logged ``visit_log``); an
                order shorter than ``P`` pins the first visits of that epoch.
                ``trained`` must agree with it.

        Raises:
            SchedulerError: On a duplicate id or invalid arguments.
        """
        if model_id in self._models:
            state = "being removed" if self._models[model_id].removed else "active"
            raise SchedulerError(f"model {model_id!r} is already {state}")
        _check_epochs(model_id, epochs)
        if start_epoch < 0:
            raise SchedulerError(f"model {model_id!r}: start_epoch must be >= 0")
        k = self._added if ordinal is None else ordinal
        trained = [int(p) for p in trained]
        m = _Model(model_id, k, start_epoch, start_epoch + epochs,
                   replay=check_replay(model_id, replay or {}, self.num_partitions))
        if trained:
            self._check_trained(m, trained)
        self._added += 1
        self._ordinals[model_id] = k
        self._cost.add(model_id, cost_hint)
        if trained:
            m.done = set(trained)
            if len(m.done) == self.num_partitions and self.evaluate:
                m.phase, m.done = VisitKind.EVAL, set()
        self._models[model_id] = m
        self._sync_free(m)
        for log in (self._train_log, self._eval_log):
            old = log.get(model_id, {})
            log[model_id] = {e: p for e, p in old.items() if e < start_epoch}
        if trained:
            self._train_log[model_id][start_epoch] = list(trained)

    def _check_trained(self, m: _Model, trained: list[int]) -> None:
        """A resumed model's trained partitions must be distinct, valid and a prefix of its
        planned order."""
        plan = self._plan(m) or []
        n = min(len(plan), len(trained))
        ok = len(set(trained)) == len(trained) and all(0 <= p < self.num_partitions for p in trained)
        if not ok or trained[:n] != plan[:n]:
            raise SchedulerError(
                f"model {m.model_id!r}: trained partitions {trained} of epoch {m.epoch} "
                f"are not a prefix of its order {plan}")

    def extend(self, model_id: str, epochs: int) -> None:
        """Gives a (done or still running) model ``epochs`` more epochs.

        Raises:
            SchedulerError: If the model is unknown/removed or ``epochs < 1``.
        """
        m = self._active(model_id)
        _check_epochs(model_id, epochs)
        m.end_epoch += epochs
        self._sync_free(m)

    def remove_model(self, model_id: str) -> None:
        """Removes a model; allowed at any time.

        If the model is running a visit it is dropped when that visit
        completes, fails or its worker goes down (no events are emitted for
        it); otherwise it is dropped at once. Its logs are kept.

        Raises:
            SchedulerError: If the model is unknown or already removed.
        """
        m = self._active(model_id)
        self._free.pop(model_id, None)
        self._stale(m)
        if m.worker is None:
            del self._models[model_id]
        else:
            m.removed = True

    # -------------------------------------------------------------- scheduling
    def assign(self) -> list[Visit]:
        """Fills every idle, up worker with a runnable visit, if one exists.

        Returns:
            The new visits, in ascending worker order; they are now running.
        """
        if not self._idle or not self._free:
            return []
        if self._ranked != self._cost.version or self._ready.size > 4 * len(self._free) + 64:
            self._rerank()
        running = {w: v.model_id for w, v in self._running.items()} if self.memory else {}
        draining = self._draining_groups()
        idle = set(self._idle)
        new: list[Visit] = []

        def place(entry: Entry, worker: int | None) -> bool:
            m = self._free[entry[3]]
            if worker is None:
                options = sorted(idle.difference(m.done))
            else:
                options = [worker] if worker not in m.done else []
            for w in options:
                if self._fits(m.model_id, w, running, draining):
                    idle.discard(w)
                    running[w] = m.model_id
                    new.append(self._start(m, w))
                    return True
            return False

        self._ready.fill(idle, self._live, place)
        new.sort(key=lambda v: v.partition)
        return new

    def _start(self, m: _Model, worker: int) -> Visit:
        """Runs the model's next visit on ``worker``."""
        del self._free[m.model_id]
        self._stale(m)
        visit = Visit(m.model_id, worker, m.epoch, m.phase)
        m.worker = worker
        self._running[worker] = visit
        self._idle.discard(worker)
        return visit

    def _live(self, entry: Entry) -> bool:
        m = self._free.get(entry[3])
        return m is not None and m.version == entry[4]

    def _rerank(self) -> None:
        """Queues every free model afresh (the estimates moved, or stale entries piled up)."""
        self._ranked = self._cost.version
        self._ready.clear()
        for m in self._free.values():
            self._queue(m)

    def _queue(self, m: _Model) -> None:
        self._stale(m)
        # strict orders stay spread over the workers while models move in lock-step
        # (simulated: longest-first costs strict order 1-4 points of utilisation)
        if self.strict_order:
            rank = float(m.completed)
        else:
            rank = self._remaining(m) if self._shortest_first else -self._remaining(m)
        entry = (rank, m.completed, m.ordinal, m.model_id, m.version)
        local = m.last_train_worker if m.phase is VisitKind.EVAL else None
        self._ready.push(entry, self._pinned(m), local)

    def _stale(self, m: _Model) -> None:
        """Makes the model's queued entries stale (versions are unique across models)."""
        self._stamp += 1
        m.version = self._stamp

    def _fits(self, model_id: str, worker: int, running: dict[int, str],
              draining: dict[object, set[str]]) -> bool:
        """Memory admission (always true without a ``MemoryPlan``)."""
        if self.memory is None:
            return True
        group = self.memory.groups[worker]
        if group in draining and model_id not in draining[group]:
            return False
        return self.memory.admits(model_id, worker, running)

    def _draining_groups(self) -> dict[object, set[str]]:
        """Groups where an exclusive model waits for its next visit: group -> models."""
        out: dict[object, set[str]] = {}
        if self.memory is None:
            return out
        for m in self._free.values():
            if not self.memory.is_exclusive(m.model_id):
                continue
            for w in range(self.num_partitions):
                if w not in self._down and self._runnable_kind(m, w) is not None:
                    out.setdefault(self.memory.groups[w], set()).add(m.model_id)
        return out

    def complete(self, visit: Visit, seconds: float | None = None) -> list[Event]:
        """Records that a running visit finished successfully.

        Args:
            visit: The visit, as :meth:`assign` returned it.
            seconds: Its measured time (compute): what ranks the model from now on.

        Returns:
            ``EpochDone`` if the visit ended an epoch, followed by
            ``ModelDone`` if that was the last requested epoch. Empty for a
            model removed while the visit ran (whose visit is then dropped
            and not logged).

        Raises:
            SchedulerError: If ``visit`` is not currently running.
        """
        m = self._release(visit, "complete")
        if seconds is not None:
            self._cost.observe(m.model_id, visit.kind is VisitKind.TRAIN, seconds)
        if m.removed:  # its result is discarded, so it is not logged either
            del self._models[m.model_id]
            return []
        events = self._advance(m, visit)
        self._sync_free(m)
        return events

    def _advance(self, m: _Model, visit: Visit) -> list[Event]:
        """Books a completed visit of ``m``; returns the events it causes."""
        log = self._train_log if visit.kind is VisitKind.TRAIN else self._eval_log
        log[visit.model_id].setdefault(visit.epoch, []).append(visit.partition)
        m.done.add(visit.partition)
        m.completed += 1
        if visit.kind is VisitKind.TRAIN:
            m.last_train_worker = visit.partition
        if len(m.done) < self.num_partitions:
            return []
        m.done = set()
        if m.phase is VisitKind.TRAIN and self.evaluate:
            m.phase = VisitKind.EVAL
            return []
        events: list[Event] = [EpochDone(m.model_id, m.epoch)]
        m.epoch += 1
        m.phase = VisitKind.TRAIN
        if m.finished:
            events.append(ModelDone(m.model_id, m.epoch))
        return events

    def fail(self, visit: Visit) -> None:
        """Records that a running visit failed; it becomes pending again.

        Raises:
            SchedulerError: If ``visit`` is not currently running.
        """
        m = self._release(visit, "fail")
        if m.removed:
            del self._models[m.model_id]
        else:
            self._sync_free(m)

    def worker_down(self, worker: int) -> Visit | None:
        """Marks a worker lost; it is not assignable until :meth:`worker_up`.

        Idempotent. The visit it was running (if any) becomes pending again,
        or is dropped together with its model if that model was removed.

        Returns:
            The visit that was running on the worker, or None.
        """
        self._check_worker(worker)
        self._down.add(worker)
        self._idle.discard(worker)
        visit = self._running.get(worker)
        if visit is not None:
            self.fail(visit)
        return visit

    def worker_up(self, worker: int) -> None:
        """Makes a worker assignable again (idempotent)."""
        self._check_worker(worker)
        self._down.discard(worker)
        if worker not in self._running:
            self._idle.add(worker)

    # ---------------------------------------------------------------- internal
    def _sync_free(self, m: _Model) -> None:
        if m.worker is None and not m.removed and not m.finished:
            self._free[m.model_id] = m
            self._queue(m)
        else:
            self._free.pop(m.model_id, None)
            self._stale(m)

    def _release(self, visit: Visit, action: str) -> _Model:
        if self._running.get(visit.partition) != visit:
            raise SchedulerError(f"cannot {action} {visit}: it is not running")
        del self._running[visit.partition]
        if visit.partition not in self._down:
            self._idle.add(visit.partition)
        m = self._models[visit.model_id]
        m.worker = None
        return m
