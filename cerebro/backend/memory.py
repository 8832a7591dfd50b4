"""Memory measurements and guards, with psutil (the pure scheduler only gets the numbers).

- ``VisitGuard`` (worker side): samples the worker's resident memory while a visit runs,
  keeps its peak for the result, and when the process grows past the visit's allowance
  gives the visit up before the host runs out (it tells the driver, then ends the process).
- ``HostWatch`` (driver side, local mode): workers share the driver's host. It keeps the
  host's available memory and the kernel's OOM-kill count, so a worker the kernel killed is
  recognised as killed for memory; and if the host runs short anyway it stops the largest
  busy worker itself, which costs one visit instead of the kernel picking the driver.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Optional

from cerebro._logging import get_logger

log = get_logger("backend")
SAMPLE_S = 0.05
GiB = 2**30


def rss_bytes(pid: Optional[int] = None) -> int:
    """Resident memory of a process (this one by default); 0 if it is gone."""
    import psutil

    try:
        return int(psutil.Process(pid or os.getpid()).memory_info().rss)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0


def oom_kills() -> int:
    """How many processes the kernel's OOM killer has killed since boot (-1: unknown)."""
    try:
        with open("/proc/vmstat") as f:
            for line in f:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


class VisitGuard:
    """Worker side: the peak memory of each visit, and its allowance enforced.

    Args:
        on_exceed: Called from the guard's thread with ``(rss, limit)`` when the process
            grows past the visit's limit; it should tell the driver. The process is then
            killed (a visit cannot be interrupted safely inside the framework).
    """

    def __init__(self, on_exceed: Callable[[int, int], None]) -> None:
        self.on_exceed = on_exceed
        self._limit: Optional[int] = None
        self._peak = 0
        self._active = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="cerebro-memory", daemon=True)
        self._thread.start()

    def start(self, limit: Optional[int]) -> None:
        """A visit starts with this allowance (``None``: only measure)."""
        with self._lock:
            self._limit, self._peak = limit, rss_bytes()
        self._active.set()

    def stop(self) -> int:
        """The visit ended; returns its peak resident memory."""
        self._active.clear()
        with self._lock:
            self._peak = max(self._peak, rss_bytes())
            return self._peak

    def _loop(self) -> None:
        while True:
            self._active.wait()
            rss = rss_bytes()
            with self._lock:
                self._peak = max(self._peak, rss)
                limit = self._limit
            if limit is not None and rss > limit and self._active.is_set():
                try:
                    self.on_exceed(rss, limit)
                finally:
                    os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(SAMPLE_S)


class HostWatch:
    """Driver side, for workers on the driver's host (local mode).

    Args:
        pids: Returns worker -> process id of the workers on this host.
        busy: Returns the workers running a visit.
        reserve_bytes: Memory the host must keep available; below it the largest busy
            worker is stopped.
        period_s: Seconds between samples.
    """

    def __init__(self, pids: Callable[[], dict[int, int]], busy: Callable[[], set[int]],
                 reserve_bytes: int, period_s: float = 0.25) -> None:
        self.pids, self.busy, self.reserve = pids, busy, int(reserve_bytes)
        self.period_s = period_s
        self.rss: dict[int, int] = {}
        self.killed: dict[int, int] = {}  # worker -> its memory when this watch stopped it
        self._oom_kills = oom_kills()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cerebro-host-memory",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closed.set()

    def _loop(self) -> None:
        import psutil

        while not self._closed.wait(self.period_s):
            try:
                pids = self.pids()
                self.rss = {w: rss_bytes(pid) for w, pid in pids.items()}
                if psutil.virtual_memory().available >= self.reserve:
                    continue
                busy = [w for w in self.busy() if self.rss.get(w)]
                if busy:
                    w = max(busy, key=lambda x: self.rss[x])
                    self.killed[w] = self.rss[w]
                    log.warning("host memory is short (%.1f GiB available): stopping worker %d "
                                "(%.1f GiB)", psutil.virtual_memory().available / GiB, w,
                                self.rss[w] / GiB)
                    os.kill(pids[w], signal.SIGKILL)
            except Exception as e:  # noqa: BLE001 - a watch must never break the pool
                log.debug("host memory watch: %s", e)

    def classify(self, worker: int) -> tuple[bool, int]:
        """Whether a worker that just died was killed for memory, and its last memory.

        True when this watch stopped it, or when the kernel's OOM killer killed a process
        since the last loss it classified.
        """
        if worker in self.killed:
            return True, self.killed.pop(worker)
        now = oom_kills()
        by_kernel = now > self._oom_kills >= 0
        self._oom_kills = now
        return by_kernel, self.rss.get(worker, 0)


MODEL_CACHE_CAP = GiB  # the most a worker keeps built by default


def model_cache_bytes(configured: Optional[int], workers_per_executor: int = 1,
                      executor_memory: Optional[int] = None,
                      worker_memory: Optional[int] = None) -> int:
    """The memory bound of a worker's model cache.

    The driver tells each worker to drop a model's build as soon as the model finishes, so
    the cache holds only models still in flight, and its bound is a backstop: by default
    ``min(1 GiB, 25% of the worker's share of its executor's memory)``. That share is
    ``worker_memory`` (``SparkBackend(worker_memory_mb=...)``) when set, else the
    executor's Python memory (``spark.executor.pyspark.memory``, else this host's physical
    memory) over the workers on it.

    Args:
        configured: ``SparkBackend(model_cache_mb=...)`` in bytes; ``None``: the default.
        workers_per_executor: Workers sharing the executor (local mode: all of them).
        executor_memory: The executor's Python memory in bytes, if Spark says.
        worker_memory: One worker's memory allowance in bytes, if set.
    """
    if configured is not None:
        return int(configured)
    if worker_memory:
        share = float(worker_memory)
    else:
        import psutil

        total = executor_memory or psutil.virtual_memory().total
        share = total / max(1, int(workers_per_executor))
    return int(min(MODEL_CACHE_CAP, 0.25 * share))


def spark_size_bytes(text: Optional[str], default_unit: str = "m") -> Optional[int]:
    """Bytes of a Spark size setting (``"2g"``, ``"512m"``, ``"1024"`` in ``default_unit``)."""
    if not text:
        return None
    text = str(text).strip().lower().rstrip("b")
    units = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
    unit = text[-1] if text[-1] in units else default_unit
    try:
        return int(float(text.rstrip("kmgt")) * units[unit])
    except ValueError:
        return None
