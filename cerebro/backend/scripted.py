"""``ScriptedPool``: an in-process worker pool whose answers a script decides.

It is the one stand-in for Spark workers, for testing the engine's logic in seconds
(``tests/engine``) and for simulating a driver with hundreds of workers
(``benchmarks/driver_scale.py``). Time is virtual: ``wait`` jumps the ``VirtualClock`` to
the next answer, so a 1 s sub-epoch costs nothing, and the hopper and supervisor read the
same clock (pass ``pool.clock`` as the ``PoolSupervisor``'s ``clock``).

A script is ``script(worker, task) -> Outcome``: how long the visit takes and whether it
answers with metrics, fails, loses its worker (died / out of memory) or hangs forever.
Training visits write a small state file at ``task.out_key`` when the pool has a store, so
the hopper's pruning and resume paths run on real files.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
from collections.abc import Callable
from typing import Any, Optional

from cerebro.backend.base import WorkerPool
from cerebro.wire import LostReason, VisitResult, VisitTask, WorkerUp


class VirtualClock:
    """Seconds that pass only when the pool says so."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance_to(self, t: float) -> None:
        self.now = max(self.now, float(t))


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one scripted visit does.

    Attributes:
        seconds: How long it takes (virtual seconds).
        metrics: Its metrics when it succeeds (default: a loss that falls with the epoch).
        error: A failed visit (``ok=False``) with this message; the worker lives on.
        lost: The worker is lost after ``seconds`` (died, or over its memory).
        hang: The worker never answers (stopped or deadlocked).
        peak_rss_bytes: The worker's peak memory during the visit.
    """

    seconds: float = 1.0
    metrics: Optional[dict[str, float]] = None
    error: str = ""
    lost: Optional[LostReason] = None
    hang: bool = False
    peak_rss_bytes: int = 0


Script = Callable[[int, VisitTask], Outcome]


def default_metrics(task: VisitTask) -> dict[str, float]:
    """A loss that falls and an accuracy that rises with the epoch (stable per model)."""
    base = (sum(map(ord, task.model_id)) % 7) / 10.0
    loss = 1.0 / (1.0 + task.epoch) + base
    return {"loss": loss, "accuracy": 1.0 - loss / 2.0}


class ScriptedPool(WorkerPool):
    """Workers in this process, answering as ``script`` says, on a virtual clock.

    Args:
        num_workers: Workers (== partitions).
        script: Decides each visit's outcome (default: 1 s, ``default_metrics``).
        store: Where training visits write their (tiny) state files; ``None``: no files.
        restart_s: Virtual seconds a restarted worker takes to be up again.
        hosts / idle_rss / memory_budgets: What a real pool reports for memory admission.
        cores: Worker -> the cores it owns (elastic threads; empty: off). A visit answers
            with the threads its task asked for (its script may scale its seconds by them).
        samples: Rows per visit (the epoch's metrics are weighted by it).
    """

    def __init__(self, num_workers: int, script: Optional[Script] = None, store: Any = None,
                 restart_s: float = 1.0, hosts: Optional[dict[int, str]] = None,
                 idle_rss: Optional[dict[int, int]] = None,
                 memory_budgets: Optional[dict[str, int]] = None, samples: int = 100,
                 cores: Optional[dict[int, int]] = None) -> None:
        self._n = int(num_workers)
        self.script: Script = script or (lambda worker, task: Outcome())
        self.store, self.restart_s, self.samples = store, float(restart_s), int(samples)
        self._hosts = dict(hosts or {})
        self._idle_rss = dict(idle_rss or {})
        self._budgets = memory_budgets
        self._cores = dict(cores or {})
        self.clock = VirtualClock()
        self.tasks: list[tuple[int, VisitTask]] = []  # every submitted visit, in order
        self.restarted: list[int] = []
        self.closed = False
        self._busy: dict[int, int] = {}  # worker -> generation of its pending answer
        self._generation = dict.fromkeys(range(self._n), 0)
        self._events: list[tuple[float, int, int, int, Any]] = []  # (t, order, worker, gen, item)
        self._order = itertools.count()

    @property
    def num_workers(self) -> int:
        return self._n

    @property
    def hosts(self) -> dict[int, str]:
        return self._hosts

    @property
    def idle_rss(self) -> dict[int, int]:
        return self._idle_rss

    @property
    def cores(self) -> dict[int, int]:
        return self._cores

    @property
    def memory_budgets(self) -> Optional[dict[str, int]]:
        return self._budgets

    def submit(self, worker: int, task: VisitTask) -> None:
        if self.closed:
            raise RuntimeError("the pool is shut down")
        if worker in self._busy:
            raise RuntimeError(f"worker {worker} is busy: the hopper sent it two visits")
        self.tasks.append((worker, task))
        out = self.script(worker, task)
        self._busy[worker] = self._generation[worker]
        if out.hang:
            return
        if out.lost is not None:
            item: Any = VisitResult.lost_worker(out.lost, f"worker lost: scripted {out.lost}",
                                                exit_signal=9)
        elif out.error:
            item = VisitResult(ok=False, error=out.error)
        else:
            if task.kind == "train" and task.out_key and self.store is not None:
                self.store.write_bytes(task.out_key, f"{task.model_id}@{task.epoch}".encode())
            item = VisitResult(ok=True, metrics=out.metrics or default_metrics(task),
                               samples=self.samples, compute_s=out.seconds,
                               peak_rss_bytes=out.peak_rss_bytes,
                               threads=task.threads or self._cores.get(worker, 1))
        self._push(self.clock() + out.seconds, worker, item)

    def _push(self, t: float, worker: int, item: Any) -> None:
        heapq.heappush(self._events, (t, next(self._order), worker, self._generation[worker],
                                      item))

    def wait(self, timeout: float | None = None) -> list[tuple[int, VisitResult | WorkerUp]]:
        """Jumps the clock to the next answer (or by ``timeout``) and returns what is due."""
        self._drop_stale()
        if not self._events:
            if timeout is None:
                raise RuntimeError("wait() would block forever: no answer is coming")
            self.clock.advance_to(self.clock() + timeout)
            return []
        due = self._events[0][0]
        if timeout is not None and due > self.clock() + timeout:
            self.clock.advance_to(self.clock() + timeout)
            return []
        self.clock.advance_to(due)
        out: list[tuple[int, VisitResult | WorkerUp]] = []
        while self._events and self._events[0][0] <= self.clock():
            _, _, worker, gen, item = heapq.heappop(self._events)
            if gen != self._generation[worker]:
                continue
            if isinstance(item, VisitResult):
                self._busy.pop(worker, None)
            out.append((worker, item))
        return out

    def _drop_stale(self) -> None:
        while self._events and self._events[0][3] != self._generation[self._events[0][2]]:
            heapq.heappop(self._events)

    def restart(self, worker: int) -> None:
        """Forgets the worker's pending answer; it is up again after ``restart_s``."""
        self._generation[worker] += 1
        self._busy.pop(worker, None)
        self.restarted.append(worker)
        self._push(self.clock() + self.restart_s, worker,
                   WorkerUp(worker, self._hosts.get(worker, ""), self._idle_rss.get(worker, 0),
                            self._cores.get(worker, 0)))

    def shutdown(self, graceful: bool = True) -> None:
        self.closed = True
        self._events.clear()


__all__ = ["Outcome", "ScriptedPool", "VirtualClock", "default_metrics"]
