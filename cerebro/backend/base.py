"""Backend ABCs: where workers live.

They implement the interfaces the engine and the runner own, ``cerebro.engine.ports``'s
``WorkerPool`` and ``Backend`` Protocols, structurally (``backend`` does not import
``engine``; ``tests/engine/test_ports.py`` checks that they conform).
"""

from __future__ import annotations

import abc
from typing import Optional, Sequence

from cerebro.wire import VisitResult, VisitTask, WorkerUp


class WorkerPool(abc.ABC):
    """Running workers, one per partition, each holding its shard.

    Attributes:
        start_s: Seconds the pool took to start (0.0: not measured).
    """

    start_s: float = 0.0

    @property
    @abc.abstractmethod
    def num_workers(self) -> int:
        """Number of workers (== partitions)."""

    @abc.abstractmethod
    def submit(self, worker: int, task: VisitTask) -> None:
        """Sends one visit to an idle worker."""

    @abc.abstractmethod
    def wait(self, timeout: float | None = None) -> list[tuple[int, VisitResult | WorkerUp]]:
        """Blocks until at least one worker answers (or ``timeout``); returns the answers.

        A worker that died answers ``VisitResult.lost_worker(...)`` (``lost=True``); a
        restarted worker that is ready again answers ``WorkerUp``.
        """

    @abc.abstractmethod
    def restart(self, worker: int) -> None:
        """Stops one worker (lost, hung or over its memory) and starts a new one for its
        partition; ``wait`` reports ``WorkerUp`` when it is ready. The others go on."""

    @abc.abstractmethod
    def shutdown(self, graceful: bool = True) -> None:
        """Stops all workers and frees their slots. Idempotent.

        Args:
            graceful: Let running visits finish; False stops them at once.
        """

    @property
    def hosts(self) -> dict[int, str]:
        """Worker -> host name (for memory groups)."""
        return {}

    @property
    def cores(self) -> dict[int, int]:
        """Worker -> the CPU cores it owns; empty: unknown (elastic threads off)."""
        return {}

    @property
    def idle_rss(self) -> dict[int, int]:
        """Worker -> resident memory when idle, in bytes (0: unknown)."""
        return {}

    @property
    def memory_budgets(self) -> Optional[dict[str, int]]:
        """Host -> bytes its workers may use together, where workers share a host's
        memory (local mode); ``None``: no memory admission."""
        return None


class Backend(abc.ABC):
    """Creates prepared datasets and worker pools.

    Attributes:
        visit_timeout: Seconds after which any visit counts as hung (``None``: derived per
            model from its earlier visits).
        visit_deadline_floor: The shortest derived visit deadline, in seconds.
        max_restarts: Worker restarts allowed in one search.
    """

    visit_timeout: Optional[float] = None
    visit_deadline_floor: float = 60.0
    max_restarts: int = 10

    @property
    @abc.abstractmethod
    def num_workers(self) -> int:
        """Number of workers this backend runs."""

    @abc.abstractmethod
    def prepare_data(self, store, df, validation=0.25, num_partitions=None,
                     feature_columns: Sequence[str] | None = None,
                     label_columns: Sequence[str] | None = None, seed: int = 0):
        """Writes ``df`` as train/val shards into ``store``; returns a ``DatasetInfo``."""

    @abc.abstractmethod
    def start_workers(self, store, dataset, columns: Sequence[str]) -> WorkerPool:
        """Starts one worker per partition; each loads its shard of ``columns`` once."""

    def quiet_console(self) -> None:
        """Quiets third-party console output while a search shows its own progress
        (default: nothing to quiet)."""
        return None
