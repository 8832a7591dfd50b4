"""The interfaces the engine and the runner need from a backend, owned by their consumer.

``cerebro.backend`` implements them (``backend/base.py``'s ABCs, ``SparkBackend``,
``SparkWorkerPool``, ``ScriptedPool``) without importing this module: conformance is
structural (``typing.Protocol``), checked by ``tests/engine/test_ports.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Protocol, runtime_checkable

from cerebro.storage.base import Store
from cerebro.wire import VisitResult, VisitTask, WorkerUp


@runtime_checkable
class WorkerPool(Protocol):
    """Running workers, one per partition, each holding its shard (``PoolSupervisor``'s)."""

    @property
    def num_workers(self) -> int:
        """Number of workers (== partitions)."""
        ...

    @property
    def start_s(self) -> float:
        """Seconds the pool took to start (0.0 if not measured)."""
        ...

    @property
    def hosts(self) -> dict[int, str]:
        """Worker -> host name (for memory groups)."""
        ...

    @property
    def idle_rss(self) -> dict[int, int]:
        """Worker -> resident memory when idle, in bytes (0: unknown)."""
        ...

    @property
    def cores(self) -> dict[int, int]:
        """Worker -> the CPU cores it owns (empty: unknown; elastic threads are then off)."""
        ...

    @property
    def memory_budgets(self) -> Optional[dict[str, int]]:
        """Host -> bytes its workers may use together (``None``: no memory admission)."""
        ...

    def submit(self, worker: int, task: VisitTask) -> None:
        """Sends one visit to an idle worker."""
        ...

    def wait(self, timeout: Optional[float] = None) -> list[tuple[int, VisitResult | WorkerUp]]:
        """Blocks until at least one worker answers (or ``timeout``); returns the answers:
        a ``VisitResult`` (``lost=True`` for a worker that died) or a restarted worker's
        ``WorkerUp``."""
        ...

    def restart(self, worker: int) -> None:
        """Stops one worker and starts a new one for its partition (``WorkerUp`` follows)."""
        ...

    def shutdown(self, graceful: bool = True) -> None:
        """Stops all workers (``graceful``: let running visits finish). Idempotent."""
        ...


@runtime_checkable
class Backend(Protocol):
    """Where a search's workers run (``SearchRunner``'s): how many, how they start, and the
    supervision settings the user gave it (visit deadlines, restarts)."""

    @property
    def num_workers(self) -> int:
        """Number of workers this backend runs."""
        ...

    @property
    def visit_timeout(self) -> Optional[float]:
        """Seconds after which any visit counts as hung (``None``: derived per model)."""
        ...

    @property
    def visit_deadline_floor(self) -> float:
        """The shortest derived visit deadline, in seconds."""
        ...

    @property
    def max_restarts(self) -> int:
        """Worker restarts allowed in one search."""
        ...

    def start_workers(self, store: Store, dataset: object,
                      columns: Sequence[str]) -> WorkerPool:
        """Starts one worker per partition; each loads its shard of ``columns`` once.

        ``dataset`` is the prepared data (a ``cerebro.data.DatasetInfo``), opaque here.
        """
        ...

    def quiet_console(self) -> None:
        """Quiets third-party console output while the search shows its own progress."""
        ...
