"""A tiny discrete-event simulator driving a Scheduler like the real driver."""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from cerebro.mop import EpochDone, ModelDone, Scheduler, Visit, VisitKind

Duration = Callable[[random.Random, Visit], float]


def default_duration(rng: random.Random, visit: Visit) -> float:
    """TRAIN ~ U(0.8, 1.2), EVAL ~ U(0.2, 0.3) time units."""
    if visit.kind is VisitKind.TRAIN:
        return rng.uniform(0.8, 1.2)
    return rng.uniform(0.2, 0.3)


@dataclass
class SimResult:
    makespan: float
    busy: float
    num_workers: int
    events: list[EpochDone | ModelDone] = field(default_factory=list)
    assignments: list[tuple[float, Visit]] = field(default_factory=list)

    @property
    def utilisation(self) -> float:
        if self.makespan == 0:
            return 1.0
        return self.busy / (self.makespan * self.num_workers)


def simulate_measured(
    sched: Scheduler, sim_seed: int = 0, duration: Duration = default_duration
) -> SimResult:
    """As :func:`simulate`, telling the scheduler each visit's time (longest first)."""
    return simulate(sched, sim_seed, duration, measured=True)


def simulate(
    sched: Scheduler, sim_seed: int = 0, duration: Duration = default_duration,
    measured: bool = False,
) -> SimResult:
    """Runs ``sched`` to completion with random visit durations."""
    rng = random.Random(sim_seed)
    res = SimResult(0.0, 0.0, sched.num_partitions)
    now = 0.0
    seq = 0
    heap: list[tuple[float, int, Visit, float]] = []
    while True:
        for v in sched.assign():
            d = duration(rng, v)
            res.busy += d
            res.assignments.append((now, v))
            heapq.heappush(heap, (now + d, seq, v, d))
            seq += 1
        if not heap:
            break
        now, _, v, d = heapq.heappop(heap)
        res.events.extend(sched.complete(v, d if measured else None))
    res.makespan = now
    assert not sched.has_work(), "simulation stalled with work left"
    return res
