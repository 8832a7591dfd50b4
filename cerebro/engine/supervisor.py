"""``PoolSupervisor``: starts the workers, watches every visit's deadline, restarts the lost.

- **Start.** The pool starts in a thread while the search builds its first models.
- **Liveness.** Every visit gets a deadline derived from that model's own earlier visits
  (``LivenessPolicy``); a visit past it is treated as a lost worker (``LostReason.HUNG``):
  a worker that is stopped, deadlocked or swapping costs one sub-epoch, not the search.
- **Restarts.** A lost worker is restarted on its own (the others keep training); the
  visit is retried from the model's last committed state. At most ``max_restarts``
  restarts in all, and a worker that is lost again before it completed a single visit
  ``max_start_failures`` times in a row means the workers cannot run: the search stops
  with the reason.
"""

from __future__ import annotations

import dataclasses
import heapq
import threading
import time
from collections.abc import Callable, Hashable
from typing import Optional, Union

from cerebro._logging import get_logger
from cerebro.engine.ports import WorkerPool
from cerebro.mop import MemoryPlan
from cerebro.wire import LostReason, VisitResult, VisitTask, WorkerUp

log = get_logger("engine")


class WorkersFailed(RuntimeError):
    """The workers cannot keep running: too many restarts, or they die as they start."""


@dataclasses.dataclass(frozen=True)
class LivenessPolicy:
    """How long a visit may run before its worker counts as hung.

    A visit's deadline is ``factor`` times the longest earlier visit of the same model and
    kind (an evaluation with no earlier one uses the model's training visits), but at least
    ``floor_s``; a model's first visit, which also builds it on the worker, gets
    ``first_visit_s``. ``timeout_s`` overrides them all.
    """

    factor: float = 4.0
    floor_s: float = 60.0
    first_visit_s: float = 1800.0
    timeout_s: Optional[float] = None

    def deadline_s(self, longest: dict[str, float], kind: str) -> float:
        """The deadline of a visit of ``kind`` for a model whose longest earlier visits, per
        kind, took ``longest`` seconds."""
        if self.timeout_s is not None:
            return float(self.timeout_s)
        past = longest.get(kind) or longest.get("train")
        if not past:
            return max(self.first_visit_s, self.floor_s)
        return max(self.floor_s, self.factor * past)


class PoolSupervisor:
    """Owns the worker pool for the hopper.

    Args:
        start_pool: Starts a pool (``SearchRunner``: its backend's ``start_workers``).
        liveness: The visits' deadlines.
        max_restarts: Worker restarts allowed in the whole search.
        max_start_failures: Consecutive losses of a restarted worker before its first
            completed visit that end the search.
        clock: Seconds, monotonic (a simulated pool's virtual clock in tests).
    """

    def __init__(self, start_pool: Callable[[], WorkerPool],
                 liveness: Optional[LivenessPolicy] = None,
                 max_restarts: int = 10, max_start_failures: int = 3,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._start_pool = start_pool
        self.clock = clock
        self.liveness = liveness or LivenessPolicy()
        self.max_restarts = int(max_restarts)
        self.max_start_failures = int(max_start_failures)
        self.pool: Optional[WorkerPool] = None
        self.restarts = 0
        self.start_s = 0.0
        self._deadline: dict[int, tuple[float, float]] = {}  # worker -> (due, seconds)
        self._due: list[tuple[float, int]] = []  # a heap of (due, worker); stale ones skipped
        self._fresh_losses: dict[int, int] = {}
        self._restarting: set[int] = set()

    # -- start / stop --------------------------------------------------------------------------
    def start_while(self, work: Callable[[], None],
                    started: Optional[Callable[[], None]] = None) -> None:
        """Starts the pool in a thread while ``work`` runs (e.g. the first models' builds).

        If ``work`` fails, the pool is shut down once it is up and the error is raised.
        ``started`` is called (in the starting thread) as soon as the pool is up.
        """
        out: list[Union[WorkerPool, BaseException]] = []

        def start() -> None:
            try:
                out.append(self._start_pool())
                if started is not None:
                    started()
            except BaseException as e:  # noqa: BLE001 - re-raised in the calling thread
                out.append(e)

        starter = threading.Thread(target=start, name="cerebro-start-workers", daemon=True)
        starter.start()
        try:
            work()
        except BaseException:
            starter.join()
            if out and not isinstance(out[0], BaseException):
                out[0].shutdown(graceful=False)
            raise
        starter.join()
        if isinstance(out[0], BaseException):
            raise out[0]
        self.pool = out[0]
        self.start_s = float(self.pool.start_s)

    def shutdown(self, graceful: bool = True) -> None:
        if self.pool is not None:
            self.pool.shutdown(graceful=graceful)

    @property
    def started(self) -> WorkerPool:
        """The running pool.

        Raises:
            RuntimeError: The pool has not been started.
        """
        if self.pool is None:
            raise RuntimeError("the worker pool is not started")
        return self.pool

    @property
    def num_workers(self) -> int:
        return int(self.started.num_workers)

    def memory_plan(self, num_workers: int) -> Optional[MemoryPlan]:
        """Memory admission where the pool's workers share a host's memory (else ``None``)."""
        budgets = self.started.memory_budgets
        if not budgets:
            return None
        hosts = self.started.hosts
        by_host: dict[Hashable, int] = {h: b for h, b in budgets.items()}
        plan = MemoryPlan([hosts.get(w, "") for w in range(num_workers)], by_host)
        for w, rss in self.started.idle_rss.items():
            plan.set_idle(w, rss)
        log.info("memory admission: %s", ", ".join(f"{h or 'host'}: {b / 2**30:.1f} GiB"
                                                   for h, b in budgets.items()))
        return plan

    def cores(self, num_workers: int) -> tuple[list[str], Optional[list[int]]]:
        """The host of each worker, and the cores each owns (``None`` where the pool does not
        report them all: every visit then runs with its worker's own threads)."""
        hosts = self.started.hosts
        reported = self.started.cores
        cores = [int(reported.get(w, 0)) for w in range(num_workers)]
        return ([str(hosts.get(w, "")) for w in range(num_workers)],
                cores if all(c > 0 for c in cores) else None)

    def is_up(self, worker: int) -> bool:
        return worker not in self._restarting

    # -- visits ----------------------------------------------------------------------------------
    def submit(self, worker: int, task: VisitTask, deadline_s: float) -> None:
        self.started.submit(worker, task)
        due = self.clock() + deadline_s
        self._deadline[worker] = (due, deadline_s)
        heapq.heappush(self._due, (due, worker))

    def wait(self) -> list[tuple[int, VisitResult | WorkerUp]]:
        """Blocks until a worker answers or a visit passes its deadline.

        A visit past its deadline comes back as a lost visit (``LostReason.HUNG``).
        """
        first = self._next_due()
        out = list(self.started.wait(None if first is None
                                     else max(0.0, first - self.clock())))
        answered = {w for w, _ in out}
        now = self.clock()
        while (first := self._next_due()) is not None and first <= now:
            _, w = heapq.heappop(self._due)
            if w not in answered:
                seconds = self._deadline[w][1]
                out.append((w, VisitResult.lost_worker(
                    LostReason.HUNG, f"worker lost: no answer within the visit's "
                                     f"{seconds:.0f} s deadline (hung or stopped?)")))
        for w, item in out:
            self._deadline.pop(w, None)
            if isinstance(item, WorkerUp):
                self._restarting.discard(w)
            elif isinstance(item, VisitResult) and not item.lost:
                self._fresh_losses.pop(w, None)
        return out

    def _next_due(self) -> Optional[float]:
        """The earliest deadline of a visit still out (stale heap entries dropped)."""
        while self._due:
            due, w = self._due[0]
            if self._deadline.get(w, (None,))[0] == due:
                return due
            heapq.heappop(self._due)
        return None

    def lost(self, worker: int, result: VisitResult, model_id: str) -> None:
        """A visit's worker was lost: restart that worker (the others go on).

        Raises:
            WorkersFailed: The restart budget is spent, or the worker keeps dying before it
                completes a visit.
        """
        self.restarts += 1
        fresh = self._fresh_losses.get(worker, 0) + 1
        self._fresh_losses[worker] = fresh
        log.warning("worker %d lost (%s: %s) while running %s; restarting it (%d/%d)", worker,
                    result.lost_reason, result.error, model_id, self.restarts, self.max_restarts)
        if self.restarts > self.max_restarts:
            raise WorkersFailed(
                f"worker {worker} was lost ({result.error}) while running {model_id}, and "
                f"{self.restarts - 1} restart(s) were already done (max_restarts="
                f"{self.max_restarts}); giving up")
        if fresh > self.max_start_failures:
            raise WorkersFailed(
                f"worker {worker} was lost {fresh - 1} times in a row before completing a visit "
                f"(last: {result.error}); the workers cannot run here")
        self._restarting.add(worker)
        self.started.restart(worker)
