"""``SparkWorkerPool``: one long-lived Spark job per worker, each a single task.

Each worker is its own one-task Spark job (in its own job group; on Spark Connect, with its
own job tag: ``cerebro.backend.connect``), so a worker that dies, hangs or runs out of
memory is cancelled and started again on its own while the others keep training. Workers
connect back to the driver over the authenticated control channel; a restarted worker is a
new *generation* of its partition, and a connection from an older generation (e.g. Spark
retrying the cancelled task) is turned away.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from multiprocessing import Pipe
from multiprocessing.connection import wait as wait_connections
from typing import Any, Optional

from cerebro._logging import get_logger
from cerebro.backend import channel
from cerebro.backend.base import WorkerPool
from cerebro.backend.memory import GiB, HostWatch, spark_size_bytes
from cerebro.backend.resources import backend_worker_cores, host_reserve, spark_conf
from cerebro.backend.worker import WorkerConfig, worker_task
from cerebro.wire import Heartbeat, LostReason, Retune, VisitResult, VisitTask, WorkerUp

log = get_logger("backend")
START_RETRIES = 2  # a worker lost while the pool first starts is started again this often


class SparkWorkerPool(WorkerPool):
    """The workers' Spark jobs plus one authenticated connection per worker."""

    def __init__(self, backend: Any, store: Any, dataset: Any, columns: tuple[str, ...]) -> None:
        self.backend = backend
        self._n = backend.num_workers
        self._wake_r, self._wake_w = Pipe(duplex=False)
        self._wake_lock = threading.Lock()
        host, port, bind = backend._control_address()
        self.server = channel.ControlServer(host, channel.new_secret(), notify=self._wake,
                                            port=port, bind=bind)
        self._group = f"cerebro-{uuid.uuid4().hex[:8]}"
        per_executor = self._n if backend.is_local else min(self._n, max(1, int(
            spark_conf(backend, "spark.executor.cores", str(self._n))) // backend.task_cpus))
        self.cfg = WorkerConfig(
            address=self.server.address, secret=self.server.secret, store=store,
            dataset=dataset, columns=columns,
            threads=backend.task_cpus,
            keras_backend=backend.keras_backend, cache_bytes=backend.model_cache_bytes,
            log_level=get_logger("").getEffectiveLevel(),
            data_memory_bytes=getattr(backend, "data_memory_bytes", None),
            local_dir=getattr(backend, "data_local_dir", None), cores=backend_worker_cores(backend),
            workers_per_executor=per_executor,
            executor_memory_bytes=spark_size_bytes(
                spark_conf(backend, "spark.executor.pyspark.memory", "")),
            worker_memory_bytes=getattr(backend, "worker_memory_bytes", None))
        self.conns: dict[int, Any] = {}
        self.pids: dict[int, int] = {}
        self.ready_info: dict[int, dict[str, Any]] = {}
        self.busy: set[int] = set()
        self._beats: dict[int, float] = {}  # busy worker -> last sign of life (monotonic)
        self._starting: dict[int, Any] = {}
        self._gen: dict[int, int] = {}
        self._job_errors: dict[int, BaseException] = {}
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._jobs: dict[tuple[int, int], threading.Thread] = {}  # (worker, generation)
        self.started_at = time.monotonic()
        self.watch: Optional[HostWatch] = None
        for p in range(self._n):
            self._launch(p)
        try:
            self._await_all(backend.start_timeout)
        except BaseException:
            self.shutdown(graceful=False)
            raise
        self.start_s = time.monotonic() - self.started_at
        if self.local:
            self.watch = HostWatch(lambda: dict(self.pids), lambda: set(self.busy),
                                   reserve_bytes=host_reserve())

    @property
    def local(self) -> bool:
        return bool(self.backend.is_local)

    # -- jobs ----------------------------------------------------------------------------------
    def _launch(self, p: int) -> None:
        gen = self._gen[p] = self._gen.get(p, -1) + 1
        cfg = dataclasses.replace(self.cfg, generation=gen)
        self._job_errors.pop(p, None)
        t = threading.Thread(target=self._run_job, args=(p, gen, cfg), daemon=True,
                             name=f"cerebro-worker-{p}")
        self._threads.append(t)
        self._jobs[(p, gen)] = t
        t.start()

    def _job_group(self, p: int, gen: int) -> str:
        return f"{self._group}-w{p}-g{gen}"

    def _cancel_job(self, p: int, gen: int) -> None:
        """Cancels the Spark job of generation ``gen`` of worker ``p`` (kills its task)."""
        self.backend.sc.cancelJobGroup(self._job_group(p, gen))

    def _run_job(self, p: int, gen: int, cfg: WorkerConfig) -> None:
        sc = self.backend.sc
        try:
            sc.setJobGroup(self._job_group(p, gen), f"cerebro worker {p}", True)
            sc.parallelize([p], 1).mapPartitions(worker_task(p, cfg)).collect()
        except BaseException as e:  # noqa: BLE001 - surfaced by wait / _await_all
            if self._gen.get(p) == gen and not self._closed:
                self._job_errors[p] = e
                self._wake()

    def _wake(self) -> None:
        with self._wake_lock:
            self._wake_w.send_bytes(b"!")

    def _await_all(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        retries: dict[int, int] = {}
        while len(self.conns) < self._n:
            failed = {p: e for p, e in self._job_errors.items() if p not in self.conns}
            if failed:
                p, e = next(iter(failed.items()))
                raise RuntimeError(f"the Spark job of worker {p} failed to start: {e}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"only {len(self.conns)} of {self._n} workers were ready within "
                    f"{timeout:.0f} s; is the cluster busy?")
            lost = [(p, item) for p, item in self._poll_starting(min(left, 1.0))
                    if isinstance(item, VisitResult)]  # died while loading its shard
            lost += self._silent_starts()
            for p, item in lost:
                retries[p] = retries.get(p, 0) + 1
                if retries[p] > START_RETRIES:
                    raise RuntimeError(f"a worker failed to start: {item.error}")
                log.warning("worker %d lost while starting (%s); starting it again", p, item.error)
                self.restart(p)
        log.info("%d workers ready in %.1f s", self._n, time.monotonic() - self.started_at)

    def _silent_starts(self) -> list[tuple[int, VisitResult]]:
        """Starting workers silent for the backend's ``heartbeat_timeout`` (stopped)."""
        limit = getattr(self.backend, "heartbeat_timeout", None)
        if limit is None:
            return []
        now = time.monotonic()
        return [(p, VisitResult.lost_worker(
                    LostReason.NO_HEARTBEAT, f"no heartbeat for {now - self._beats[p]:.0f} s"))
                for p in list(self._starting) if now - self._beats.get(p, now) >= limit]

    def _poll_starting(self, timeout: Optional[float]) -> list[tuple[int, Any]]:
        """Waits on the connecting workers only."""
        return self._handle(wait_connections([self._wake_r, *self._starting.values()], timeout))

    # -- connections ---------------------------------------------------------------------------
    def _accept(self) -> None:
        while self._wake_r.poll():
            self._wake_r.recv_bytes()
        for p, conn, hello in self.server.connected():
            if int(hello.get("generation", 0)) != self._gen.get(p):
                _close(conn, "shutdown")  # an older generation of a restarted worker
                continue
            self._starting[p] = conn
            self._beats[p] = time.monotonic()
            self.pids[p] = int(hello.get("pid", 0))

    def _handle(self, ready: list[Any]) -> list[tuple[int, Any]]:
        out: list[tuple[int, Any]] = []
        by_conn = {c: ("busy", w) for w, c in self.conns.items() if w in self.busy}
        by_conn.update({c: ("starting", p) for p, c in self._starting.items()})
        for c in ready:
            if c is self._wake_r:
                self._accept()
                out += self._failed_starts()
                continue
            role, w = by_conn.get(c, (None, -1))
            if role == "starting":
                out += self._on_ready(w, c)
            elif role == "busy":
                result = self._receive(w, c)
                if result is not None:
                    self.busy.discard(w)
                    out.append((w, result))
        return out

    def _on_ready(self, p: int, conn: Any) -> list[tuple[int, Any]]:
        try:
            info = channel.recv(conn)
        except (EOFError, OSError) as e:
            del self._starting[p]
            return [(p, VisitResult.lost_worker(LostReason.EXITED,
                                                f"worker lost while starting: {e!r}"))]
        self._beats[p] = time.monotonic()
        if isinstance(info, Heartbeat):
            return []  # still loading its shard
        del self._starting[p]
        self.conns[p], self.ready_info[p] = conn, info
        return [(p, WorkerUp(p, str(info.get("host", "")), int(info.get("rss_bytes", 0)),
                             int(info.get("cores", 0)) if self.elastic else 0))]

    def _failed_starts(self) -> list[tuple[int, Any]]:
        out = []
        for p, e in list(self._job_errors.items()):
            if p not in self.conns and p not in self._starting:
                del self._job_errors[p]
                out.append((p, VisitResult.lost_worker(
                    LostReason.EXITED, f"worker failed to start: {str(e).splitlines()[0]}")))
        return out

    def _receive(self, w: int, conn: Any) -> Optional[VisitResult]:
        """A busy worker's message: its visit's result, or ``None`` for a heartbeat."""
        try:
            msg = channel.recv(conn)
        except (EOFError, OSError) as e:
            return self._lost(w, f"worker lost: {type(e).__name__}")
        self._beats[w] = time.monotonic()
        if isinstance(msg, Heartbeat):
            return None
        if isinstance(msg, dict) and "memory_exceeded" in msg:
            self._drop(w)
            return dataclasses.replace(VisitResult.lost_worker(
                LostReason.MEMORY, f"worker {w} grew to {msg['memory_exceeded'] / GiB:.1f} GiB, "
                                   f"over its {msg['limit'] / GiB:.1f} GiB allowance"),
                peak_rss_bytes=int(msg["memory_exceeded"]))
        return msg  # type: ignore[no-any-return]

    def _lost(self, w: int, error: str) -> VisitResult:
        self._drop(w)
        memory, rss = self.watch.classify(w) if self.watch is not None else (False, 0)
        if memory:
            return dataclasses.replace(VisitResult.lost_worker(
                LostReason.MEMORY, f"{error}; killed for memory at {rss / GiB:.1f} GiB",
                exit_signal=9), peak_rss_bytes=rss)
        return VisitResult.lost_worker(LostReason.EXITED, error)

    def _drop(self, w: int) -> None:
        conn = self.conns.pop(w, None)
        if conn is not None:
            _close(conn)

    # -- WorkerPool ----------------------------------------------------------------------------
    @property
    def num_workers(self) -> int:
        return self._n

    def submit(self, worker: int, task: VisitTask) -> None:
        if worker in self.busy:
            raise RuntimeError(f"worker {worker} is busy")
        channel.send(self.conns[worker], task)
        self.busy.add(worker)
        self._beats[worker] = time.monotonic()

    def retune(self, worker: int, threads: int) -> None:
        """Sends a busy worker its visit's new threads (``Retune``); its receiver thread
        takes it in while the visit trains. A broken connection is left to ``wait``."""
        conn = self.conns.get(worker)
        if worker not in self.busy or conn is None:
            return
        try:
            channel.send(conn, Retune(int(threads)))
        except (OSError, ValueError) as e:
            log.debug("retune of worker %d not sent: %s", worker, e)

    def wait(self, timeout: float | None = None) -> list[tuple[int, VisitResult | WorkerUp]]:
        """Blocks until a worker answers or ``timeout`` passes; heartbeats are taken in on
        the way (``silent_s``) without returning."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            conns = [self.conns[w] for w in self.busy] + list(self._starting.values())
            left = None if end is None else max(0.0, end - time.monotonic())
            out = self._handle(wait_connections([self._wake_r, *conns], left))
            if out or (end is not None and time.monotonic() >= end):
                return out

    def silent_s(self) -> dict[int, float]:
        """Busy and starting (connected, not yet ready) workers' silence so far."""
        now = time.monotonic()
        return {w: now - self._beats[w] for w in (*self.busy, *self._starting)
                if w in self._beats}

    def restart(self, worker: int) -> None:
        old = self._gen.get(worker, 0)
        if self.local:  # a stopped or hung process would hold its task slot until Spark's
            _kill_local(self.pids.get(worker))  # kill timeout, and its memory meanwhile
        self.busy.discard(worker)
        self._drop(worker)
        self._starting.pop(worker, None)
        self._cancel_job(worker, old)
        self._launch(worker)

    @property
    def hosts(self) -> dict[int, str]:
        return {w: str(i.get("host", "")) for w, i in self.ready_info.items()}

    @property
    def idle_rss(self) -> dict[int, int]:
        return {w: int(i.get("rss_bytes", 0)) for w, i in self.ready_info.items()}

    @property
    def elastic(self) -> bool:
        return bool(getattr(self.backend, "elastic_threads", True))

    @property
    def cores(self) -> dict[int, int]:
        if not self.elastic:
            return {}
        return {w: int(i.get("cores", 0)) for w, i in self.ready_info.items()}

    @property
    def memory_budgets(self) -> Optional[dict[str, int]]:
        budget = getattr(self.backend, "worker_memory_bytes", None)
        if budget:
            return {h: budget * list(self.hosts.values()).count(h) for h in set(self.hosts.values())}
        if not self.local:
            return None
        import psutil

        total = psutil.virtual_memory().available + sum(self.idle_rss.values()) - host_reserve()
        return {h: total for h in set(self.hosts.values())}

    def shutdown(self, graceful: bool = True) -> None:
        """Stops the workers. ``graceful=False`` cancels their jobs at once (Ctrl-C, a fatal
        error), which kills workers in the middle of a visit."""
        if self._closed:
            return
        self._closed = True
        if self.watch is not None:
            self.watch.close()
        for conn in list(self.conns.values()) + list(self._starting.values()):
            _close(conn, "shutdown")
        if not graceful:
            for p, gen in self._gen.items():
                self._cancel_job(p, gen)
        self._join(30)
        for p, gen in self._gen.items():
            job = self._jobs.get((p, gen))
            if job is None or job.is_alive():  # a finished job: Spark would warn "Failed
                self._cancel_job(p, gen)       # to cancel job group" after every search
        self.server.close()

    def _join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))


def _kill_local(pid: Optional[int]) -> None:
    """SIGKILLs a local worker process, if it is still one of this driver's descendants."""
    import signal

    import psutil

    if not pid:
        return
    try:
        if any(p.pid == pid for p in psutil.Process().children(recursive=True)):
            psutil.Process(pid).send_signal(signal.SIGKILL)
    except psutil.Error:
        pass


def _close(conn: Any, message: Optional[str] = None) -> None:
    try:
        if message is not None:
            channel.send(conn, message)
    except (OSError, ValueError):
        pass
    try:
        conn.close()
    except OSError:
        pass
