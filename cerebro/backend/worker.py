"""The worker loop: runs inside one long-lived Spark barrier task per worker.

It connects back to the driver over the authenticated channel, loads its train and val
shard once, then runs visits until told to stop. It holds no scheduling logic at all; it
measures each visit's peak memory and gives a visit up past its memory allowance.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import socket
import threading
import time
from typing import Any, Optional

from cerebro.wire import Heartbeat, VisitTask

HEARTBEAT_S = 1.0  # a busy worker's heartbeat interval


@dataclasses.dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker needs, shipped inside the Spark task closure."""

    address: tuple[str, int]
    secret: bytes
    store: Any
    dataset: Any  # DatasetInfo
    columns: tuple[str, ...]
    threads: int
    keras_backend: str
    cache_bytes: Optional[int]  # None: sized from the executor's memory (memory.py)
    log_level: int = 30
    generation: int = 0
    data_memory_bytes: Optional[int] = None
    local_dir: Optional[str] = None
    heartbeat_s: float = HEARTBEAT_S
    workers_per_executor: int = 1
    executor_memory_bytes: Optional[int] = None
    worker_memory_bytes: Optional[int] = None
    cores: int = 0  # the cores this worker owns (0: ``threads``), reported to the driver


def passive_omp() -> None:
    """OpenMP threads that sleep, not spin, between parallel regions (unless the user chose).

    Read once, when torch loads its OpenMP runtime, so this runs before torch imports. With
    elastic threads a visit may run 2+ intra-op threads on a host whose other processes are
    busy: spinning threads then steal the cores the working ones need (measured on a loaded
    2-core host: a 2-thread sub-epoch 10x slower than a 1-thread one; passive: as fast).
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _set_env(n: int, keras_backend: str) -> None:
    """Thread counts and the Keras backend: before torch and Keras import."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    passive_omp()
    os.environ["KERAS_BACKEND"] = keras_backend


def _set_threads(n: int, keras_backend: str) -> None:
    _set_env(n, keras_backend)
    if keras_backend == "torch":
        import torch

        torch.set_num_threads(n)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass  # already set in this (reused) Python worker
    elif keras_backend == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(n)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass


class VisitThreads:
    """Sets each visit's CPU threads in the thread that trains, and follows a ``Retune``.

    ``want`` (from the receiver thread: a new visit's ``VisitTask.threads``, or a
    ``Retune`` while it runs) sets the desired count; ``begin`` applies it as a visit
    starts and ``follow``, called by the visit before each batch (a Keras callback), applies
    a change mid-visit: torch's intra-op thread count is per OpenMP thread, so it must be
    set in the training thread. Only torch follows; the other backends keep the worker's own
    threads, which is logged once.
    """

    def __init__(self, keras_backend: str, own: int) -> None:
        self.keras_backend, self.own = keras_backend, max(1, int(own))
        self.desired = self.own
        self.used = self.own  # the most threads the current visit has run with
        self._said = False
        self._now = self.own
        self._since = 0.0
        self._thread_s = 0.0
        self._t0 = 0.0

    def want(self, wanted: Optional[int]) -> None:
        """The count the visit should run with from its next batch (``None``: own)."""
        self.desired = max(1, int(wanted)) if wanted else self.own

    def apply(self, wanted: Optional[int]) -> int:
        """Sets the threads for one visit; returns the count it runs with."""
        self.want(wanted)
        return self.begin()

    def begin(self) -> int:
        """A visit starts: its threads are the desired ones; returns the count."""
        self._t0 = self._since = time.perf_counter()
        self._thread_s = 0.0
        self.used = self._now = self._set(self.desired)
        return self._now

    def follow(self) -> None:
        """Before each batch: applies a changed desired count (a cheap compare if none)."""
        if self.desired != self._now and self.keras_backend == "torch":
            t = time.perf_counter()
            self._thread_s += self._now * (t - self._since)
            self._now, self._since = self._set(self.desired), t
            self.used = max(self.used, self._now)

    def thread_s(self, compute_s: float) -> float:
        """The visit's thread-seconds over ``compute_s``: its time-weighted mean threads
        (since ``begin``) times ``compute_s``."""
        t = time.perf_counter()
        elapsed = t - self._t0
        total = self._thread_s + self._now * (t - self._since)
        return compute_s * (total / elapsed if elapsed > 0 else self._now)

    def _set(self, n: int) -> int:
        if self.keras_backend != "torch":
            if n != self.own and not self._said:
                self._said = True
                from cerebro._logging import get_logger

                get_logger("worker").info(
                    "elastic threads: the %s backend keeps %d thread(s) per visit (only "
                    "torch's intra-op threads follow the idle cores of the host)",
                    self.keras_backend, self.own)
            return self.own
        import torch

        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
        return n


def _import_framework(keras_backend: str, out: dict) -> None:
    """Imports the Keras backend and Keras; runs in a thread while the shard loads."""
    from cerebro._upstream import NOT_FOR_WORKERS, modules_hidden

    t0 = time.perf_counter()
    try:
        if keras_backend == "torch":
            import torch  # noqa: F401
        out["backend_import_s"] = time.perf_counter() - t0
        # Keras imports them for features a worker never uses: hidden, they save about 40%
        # of its import time and ~185 MB (measured in cerebro._upstream.modules_hidden).
        with modules_hidden(NOT_FOR_WORKERS):
            import keras
        out["keras_import_s"] = time.perf_counter() - t0 - out["backend_import_s"]
        if keras.backend.backend() != keras_backend:
            raise RuntimeError(
                f"this Python worker's Keras runs on {keras.backend.backend()!r} but the "
                f"driver's on {keras_backend!r}; Keras was imported before the worker could "
                "choose (by the cerebro.backend.daemon with another KERAS_BACKEND?): set "
                "KERAS_BACKEND to the same value for the driver and the executors")
    except BaseException as e:  # noqa: BLE001 - re-raised by the worker's main thread
        out["error"] = e


def run_worker(partition: int, cfg: WorkerConfig) -> dict:
    """Serves visits for ``partition`` until the driver says stop; returns a small summary."""
    import logging

    from cerebro.backend import channel

    logging.getLogger("cerebro").setLevel(cfg.log_level)
    entered, t_entry = time.time(), time.perf_counter()
    from cerebro.backend import gpu

    plan = gpu.before_imports(gpu.task_gpus())  # CUDA_VISIBLE_DEVICES before torch imports
    # Keras and its backend import (seconds of CPU) in a thread while this one connects and
    # loads the shard (I/O, mostly outside the GIL); nothing to do if a warm-up did it.
    _set_env(cfg.threads, cfg.keras_backend)
    imports: dict = {}
    importer = threading.Thread(target=_import_framework, args=(cfg.keras_backend, imports),
                                name="cerebro-import", daemon=True)
    importer.start()
    conn = channel.connect(cfg.address, cfg.secret)
    host = socket.gethostname()
    channel.send(conn, {"hello": partition, "pid": os.getpid(), "host": host,
                        "generation": cfg.generation})
    heart = Heart(conn, partition, cfg.heartbeat_s)
    heart.working()  # it beats while it loads its shard, until the "ready" below
    heart.start()
    connect_s = time.perf_counter() - t_entry
    runtime, shards, load_s = _open(partition, cfg)
    importer.join()
    if "error" in imports:
        raise imports["error"]
    _set_threads(cfg.threads, cfg.keras_backend)  # in this thread: the one that trains
    device = gpu.choose_device(plan, cfg.keras_backend, partition, cfg.threads)

    from cerebro.backend.memory import VisitGuard, rss_bytes

    timings = {"entered": entered, "connect_s": connect_s, "shard_load_s": load_s,
               "backend_import_s": imports.get("backend_import_s", 0.0),
               "keras_import_s": imports.get("keras_import_s", 0.0),
               "ready_s": time.perf_counter() - t_entry}

    def over_allowance(rss: int, limit: int) -> None:
        heart.send({"memory_exceeded": rss, "limit": limit, "partition": partition})

    guard = VisitGuard(over_allowance)
    gc.freeze()  # ~450k start-up objects out of the collector's sight: 220 ms -> 1 ms a pass
    heart.send({"ready": partition, "load_s": load_s, "pid": os.getpid(), "host": host,
                "rss_bytes": rss_bytes(), "gc_frozen": gc.get_freeze_count(),
                "timings": timings, "device": device, "cores": cfg.cores or cfg.threads,
                "gpus": list(plan.addresses), **shards}, busy=False)
    try:
        with gpu.device_scope(device):
            visits = _serve(conn, runtime, guard, heart,
                            VisitThreads(cfg.keras_backend, cfg.threads))
    finally:
        heart.stop()
    conn.close()
    return {"partition": partition, "visits": visits}


class Heart:
    """Sends this worker's messages, and a ``Heartbeat`` every ``interval`` seconds while it
    starts and while a visit runs, from its own thread (the main thread trains).

    One lock orders every send on the connection; the busy flag flips under it, so no beat
    follows a visit's result (an idle worker's connection stays empty). A stopped process
    (SIGSTOP) stops this thread too: its silence is how the driver finds it.
    """

    def __init__(self, conn: Any, worker: int, interval: float = 1.0) -> None:
        self.conn, self.worker, self.interval = conn, worker, float(interval)
        self._lock = threading.Lock()
        self._busy = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="cerebro-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def send(self, msg: Any, busy: Optional[bool] = None) -> None:
        """Sends ``msg``; ``busy`` (when given) is set in the same breath."""
        from cerebro.backend import channel

        with self._lock:
            if busy is not None:
                self._busy = busy
            channel.send(self.conn, msg)

    def working(self) -> None:
        """Beats from now until the next ``send(..., busy=False)``."""
        with self._lock:
            self._busy = True

    def _beat(self) -> None:
        from cerebro.backend import channel

        beat = Heartbeat(self.worker)
        while not self._stop.wait(self.interval):
            with self._lock:
                if not self._busy:
                    continue
                try:
                    channel.send(self.conn, beat)
                except (OSError, ValueError):
                    return  # the driver went away; the main thread sees it too


def _open(partition: int, cfg: WorkerConfig):
    """Copies the worker's partition (train and val) to local disk, or reuses its copy, and
    holds it in memory if it fits the data budget, else streams it from disk (logged)."""
    import pyarrow as pa

    from cerebro._logging import get_logger
    from cerebro.data.local import local_root, materialize
    from cerebro.backend.memory import model_cache_bytes
    from cerebro.keras.runtime import WorkerRuntime

    # Arrow's default pool (mimalloc) keeps the Parquet decoder's buffers after the copy:
    # the system allocator gives most of it back.
    pa.set_memory_pool(pa.system_memory_pool())
    t0 = time.perf_counter()
    root = local_root(cfg.local_dir)
    train, reused_t = materialize(cfg.store, cfg.dataset, "train", partition, cfg.columns, root)
    val, reused_v = materialize(cfg.store, cfg.dataset, "val", partition, cfg.columns, root)
    copy_s = time.perf_counter() - t0
    disk_bytes = train.nbytes + val.nbytes
    budget = cfg.data_memory_bytes
    in_memory = budget is None or disk_bytes <= budget
    copy_dir = str(train.path.parent)
    if in_memory:
        train, val = train.load(), val.load()
    reused = reused_t and reused_v
    get_logger("worker").info(
        "worker %d: shard of %d train + %d val rows, %.1f MB, %s local copy %s in %.1f s; "
        "%s (data budget %s)", partition, train.rows, val.rows, disk_bytes / 2**20,
        "reused" if reused else "wrote", copy_dir, copy_s,
        "held in memory" if in_memory else "streamed from disk",
        "none" if budget is None else f"{budget / 2**20:.0f} MB")
    buffer = None if budget is None else max(1, budget // 4)
    cache = model_cache_bytes(cfg.cache_bytes, cfg.workers_per_executor,
                              cfg.executor_memory_bytes, cfg.worker_memory_bytes)
    runtime = WorkerRuntime(cfg.store, train, val, cache,
                            **({} if buffer is None else {"buffer_bytes": buffer}))
    info = {"train_rows": train.rows, "val_rows": val.rows, "shard_bytes": disk_bytes,
            "data_in_memory": in_memory, "local_copy_reused": reused,
            "local_copy": copy_dir, "model_cache_bytes": cache}
    return runtime, info, time.perf_counter() - t0


def _serve(conn, runtime, guard, heart: Heart, threads: VisitThreads) -> int:
    """Runs visits until the driver says stop; returns how many ran."""
    from cerebro.backend.receiver import Receiver

    receiver = Receiver(conn, threads.want)
    receiver.start()
    runtime.batch_hook = threads.follow  # a Retune takes effect at the next batch
    visits = 0
    while True:
        msg = receiver.next()
        if msg is None or msg == "shutdown":
            break  # the driver went away or said stop
        if not isinstance(msg, VisitTask):
            continue
        heart.working()
        threads.begin()
        guard.start(msg.memory_limit_bytes)
        result = runtime.run(msg)
        result.peak_rss_bytes = guard.stop()
        result.thread_s = threads.thread_s(result.compute_s)
        result.threads = threads.used
        visits += 1
        heart.send(result, busy=False)
    return visits


def warm_up_task(threads: int, keras_backend: str):
    """The function a warm-up Spark task runs: torch and Keras imported in this Python worker,
    which PySpark keeps and hands, imports included, to a later task (see
    ``SparkBackend.warm_up``)."""

    def fn(_iterator):
        _set_env(threads, keras_backend)
        imports: dict = {}
        _import_framework(keras_backend, imports)
        if "error" in imports:
            raise imports["error"]
        _set_threads(threads, keras_backend)
        yield os.getpid()

    return fn


def worker_task(partition: int, cfg: WorkerConfig):
    """The function the Spark task of worker ``partition`` runs (``mapPartitions``)."""

    def fn(_iterator):
        yield run_worker(partition, cfg)

    return fn
