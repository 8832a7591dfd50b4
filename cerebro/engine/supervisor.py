"""``PoolSupervisor``: starts the workers, watches every visit's deadline, restarts the lost.

- **Start.** The pool starts in a thread while the search builds its first models.
- **Liveness.** A busy worker sends a heartbeat every second from a thread that does not
  train; one silent for ``LivenessPolicy.heartbeat_s`` (10 s) is lost
  (``LostReason.NO_HEARTBEAT``): a stopped process or a frozen host is found within seconds,
  whatever the visit's length, the first visit included. As the backstop for a worker
  that beats but never finishes, every visit also gets a deadline derived from that
  model's own earlier visits; a visit past it is lost too (``LostReason.HUNG``). Either
  costs one sub-epoch, not the search.
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

    Independently of the deadline, a busy worker whose pool reports no sign of life
    (``WorkerPool.silent_s``) for ``heartbeat_s`` seconds is lost; ``None``: no
    heartbeat check.
    """

    factor: float = 4.0
    floor_s: float = 60.0
    first_visit_s: float = 1800.0
    timeout_s: Optional[float] = None
    heartbeat_s: Optional[float] = 10.0

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
        self._forget: dict[int, set[str]] = {}  # worker -> finished models it may drop

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
    def forget(self, model_id: str) -> None:
        """A model finished: every worker drops its build with its next visit."""
        for w in range(self.num_workers):
            self._forget.setdefault(w, set()).add(model_id)

    def remember(self, model_id: str) -> None:
        """A finished model runs again (more epochs): the workers keep it after all."""
        for pending in self._forget.values():
            pending.discard(model_id)

    def submit(self, worker: int, task: VisitTask, deadline_s: float) -> None:
        forget = self._forget.pop(worker, None)
        if forget:
            forget.discard(task.model_id)
            task = dataclasses.replace(task, forget=tuple(sorted(forget)))
        self.started.submit(worker, task)
        due = self.clock() + deadline_s
        self._deadline[worker] = (due, deadline_s)
        heapq.heappush(self._due, (due, worker))

    def retune(self, worker: int, threads: int) -> None:
        """Passes a running visit's new thread count to its worker (elastic threads)."""
        self.started.retune(worker, threads)

    def wait(self) -> list[tuple[int, VisitResult | WorkerUp]]:
        """Blocks until a worker answers, falls silent or a visit passes its deadline.

        A busy worker silent for ``heartbeat_s`` comes back as a lost visit
        (``LostReason.NO_HEARTBEAT``), a visit past its deadline too (``LostReason.HUNG``).
        """
        wake = [t for t in (self._next_due(), self._next_silence()) if t is not None]
        out = list(self.started.wait(max(0.0, min(wake) - self.clock()) if wake else None))
        answered = {w for w, _ in out}
        now = self.clock()
        out += self._silent(answered)
        while (first := self._next_due()) is not None and first <= now:
            _, w = heapq.heappop(self._due)
            if w not in answered:
                seconds = self._deadline[w][1]
                out.append((w, VisitResult.lost_worker(
                    LostReason.HUNG, f"worker lost: no answer within the visit's "
                                     f"{seconds:.0f} s deadline (hung or stopped?)")))
        kept: list[tuple[int, VisitResult | WorkerUp]] = []
        for w, item in out:
            if (isinstance(item, VisitResult) and item.lost and w in self._restarting
                    and w not in self._deadline):  # lost again while starting: no visit
                self.lost(w, item, "no visit (it was starting)")
                continue
            self._deadline.pop(w, None)
            if isinstance(item, WorkerUp):
                self._restarting.discard(w)
            elif isinstance(item, VisitResult) and not item.lost:
                self._fresh_losses.pop(w, None)
            kept.append((w, item))
        return kept

    def _next_silence(self) -> Optional[float]:
        """When the busy worker heard from longest ago passes ``heartbeat_s`` of silence."""
        if self.liveness.heartbeat_s is None:
            return None
        silent = [s for w, s in self.started.silent_s().items()
                  if w in self._deadline or w in self._restarting]
        return self.clock() + self.liveness.heartbeat_s - max(silent) if silent else None

    def _silent(self, answered: set[int]) -> list[tuple[int, VisitResult]]:
        """Lost visits of the busy (and starting) workers silent for ``heartbeat_s`` (added
        to ``answered``)."""
        limit = self.liveness.heartbeat_s
        if limit is None:
            return []
        out: list[tuple[int, VisitResult]] = []
        for w, silent in self.started.silent_s().items():
            if (w in self._deadline or w in self._restarting) and w not in answered \
                    and silent >= limit:
                answered.add(w)
                out.append((w, VisitResult.lost_worker(
                    LostReason.NO_HEARTBEAT, f"worker lost: no heartbeat for {silent:.0f} s "
                                             "(stopped, frozen or cut off?)")))
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
