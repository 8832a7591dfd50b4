"""``HopStats``: where the workers' time went, for utilisation and hop-cost figures."""

from __future__ import annotations

import dataclasses
from typing import Any

from cerebro.wire import VisitResult


@dataclasses.dataclass
class HopStats:
    """Worker time of a search, as the driver saw it.

    ``timeline`` holds one ``(worker, model_id, kind, start_s, end_s)`` per visit, in
    seconds from the first visit sent. ``core_s`` counts busy core-seconds: each visit's
    threads times its compute seconds; ``cores`` is the pool's cores (its workers' own).
    """

    wall_s: float = 0.0
    compute_s: float = 0.0
    load_s: float = 0.0
    save_s: float = 0.0
    build_s: float = 0.0
    train_compute_s: float = 0.0
    visits: int = 0
    builds: int = 0
    lost: int = 0
    redone_s: float = 0.0
    core_s: float = 0.0
    cores: int = 0
    timeline: list[tuple[int, str, str, float, float]] = dataclasses.field(default_factory=list)

    def add(self, kind: str, result: VisitResult) -> None:
        """Counts a completed visit."""
        self.visits += 1
        self.builds += int(result.built)
        self.compute_s += result.compute_s
        self.load_s += result.load_s
        self.save_s += result.save_s
        self.build_s += result.build_s
        self.core_s += max(1, result.threads) * result.compute_s
        if kind == "train":
            self.train_compute_s += result.compute_s

    def utilisation(self, workers: int) -> float:
        """Search-phase utilisation: busy core-seconds (threads x compute seconds of every
        visit) / (cores x search wall). With one thread per worker and one core each, that
        is compute seconds / (workers x wall)."""
        cores = self.cores or workers
        return self.core_s / (cores * self.wall_s) if self.wall_s else 0.0

    @property
    def busy_s(self) -> float:
        """Worker-seconds with a visit in flight, as the driver saw them."""
        return sum(end - start for _, _, _, start, end in self.timeline)

    def breakdown(self, workers: int) -> dict[str, float]:
        """Worker-seconds split into compute, load, save, build, other (messaging) and idle."""
        busy = self.busy_s
        return {"worker_s": workers * self.wall_s, "compute_s": self.compute_s,
                "load_s": self.load_s, "save_s": self.save_s, "build_s": self.build_s,
                "other_s": busy - self.compute_s - self.load_s - self.save_s - self.build_s,
                "idle_s": workers * self.wall_s - busy, "redone_s": self.redone_s}

    @property
    def hop_overhead(self) -> float:
        return (self.load_s + self.save_s) / self.train_compute_s if self.train_compute_s else 0.0

    def figures(self, workers: int, wall_s: float, start_s: float, restarts: int) -> dict[str, Any]:
        """The engine's figures for a result: times, utilisation, hop overhead, restarts."""
        return {"wall_s": wall_s, "start_s": start_s, "search_s": self.wall_s,
                "utilisation": self.utilisation(workers), "hop_overhead": self.hop_overhead,
                "cores": self.cores or workers, "core_s": self.core_s,
                "visits": self.visits, "builds": self.builds, "restarts": restarts,
                "lost_visits": self.lost, "time_s": self.breakdown(workers)}
