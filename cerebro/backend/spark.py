"""``SparkBackend``: workers are long-lived Spark barrier tasks, one per partition."""

from __future__ import annotations

import os
import threading
import time
import uuid
from multiprocessing.connection import wait as wait_connections
from typing import Optional, Sequence

from cerebro._logging import get_logger
from cerebro.backend import channel
from cerebro.backend.base import Backend, WorkerPool
from cerebro.backend.worker import WorkerConfig, barrier_task, warm_up_task
from cerebro.wire import LostReason, VisitResult, VisitTask

log = get_logger("backend")


def _slots(sc) -> int:
    """Tasks the cluster can run at once now: what a barrier stage needs.

    This is the figure Spark itself checks barrier stages against; ``defaultParallelism``
    is not (``spark.default.parallelism`` overrides it, and a standalone cluster reports
    at least 2 before any executor registered).
    """
    jsc = sc._jsc.sc()
    try:
        return int(jsc.maxNumConcurrentTasks(jsc.resourceProfileManager().defaultResourceProfile()))
    except Exception:  # noqa: BLE001 - an internal API; fall back to the public estimate
        task_cpus = int(sc.getConf().get("spark.task.cpus", "1"))
        return max(1, int(sc.defaultParallelism) // task_cpus)


def _keras_backend() -> str:
    import sys

    if "keras" in sys.modules:  # imported (maybe still importing, in another thread)
        import keras  # waits for that import to finish

        return keras.backend.backend()
    return os.environ.get("KERAS_BACKEND", "torch")


def _use_driver_python(sc) -> None:
    """Makes local-mode Python workers run this interpreter (and so see this environment).

    Without ``PYSPARK_PYTHON``, Spark starts workers with whatever ``python3`` is on PATH,
    which in a virtual environment that is not activated lacks pyarrow, keras and cerebro.
    """
    import sys

    if os.environ.get("PYSPARK_PYTHON") or sc.pythonExec == sys.executable:
        return
    if sc.master.startswith("local"):
        log.info("Spark workers will use this driver's Python (%s)", sys.executable)
        sc.pythonExec = sys.executable
    else:
        log.warning("Spark workers use %r, not this driver's Python %s; set PYSPARK_PYTHON if "
                    "the executors lack cerebro's dependencies", sc.pythonExec, sys.executable)


class SparkBackend(Backend):
    """Runs model hopping on a Spark cluster (local mode, standalone, YARN, k8s).

    Args:
        spark_context: The ``SparkContext``; default: the active session's.
        num_workers: Workers (== data partitions); default: the context's default
            parallelism divided by ``spark.task.cpus``.
        start_timeout: Seconds to wait for all workers to connect and load their shards.
        verbose: 0 is quiet, 1 logs progress.
        model_cache_mb: Memory budget per worker for models kept built (LRU).
        keras_backend: Keras backend on the workers; default: the driver's.
        warm_up: Start the Python workers and their torch/Keras imports now, in the
            background (see ``warm_up``).
    """

    def __init__(self, spark_context=None, num_workers: Optional[int] = None,
                 start_timeout: float = 600, verbose: int = 1,
                 model_cache_mb: int = 1024, keras_backend: Optional[str] = None,
                 warm_up: bool = True):
        if spark_context is None:
            from pyspark.sql import SparkSession

            spark_context = SparkSession.builder.getOrCreate().sparkContext
        self.sc = spark_context
        _use_driver_python(self.sc)
        slots = self._wait_for_slots(num_workers)
        if num_workers is None:
            if slots < 1:
                raise ValueError(f"no executor of {self.sc.master!r} has registered a free core; "
                                 "is the cluster up?")
            num_workers = slots
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
            raise ValueError(f"num_workers must be a positive int, got {num_workers!r}")
        if num_workers > slots:
            raise ValueError(
                f"num_workers={num_workers}, but this Spark cluster can run only {slots} task(s) "
                f"at once (master {self.sc.master!r}, spark.task.cpus="
                f"{self.sc.getConf().get('spark.task.cpus', '1')}); use at most {slots} workers"
            )
        self._num_workers = num_workers
        self.start_timeout = float(start_timeout)
        self.verbose = verbose
        self.model_cache_bytes = int(model_cache_mb) * 1024 * 1024
        self.keras_backend = keras_backend or _keras_backend()
        self._warm_thread: Optional[threading.Thread] = None
        if warm_up:
            self.warm_up()

    def warm_up(self) -> None:
        """Has ``num_workers`` Python workers import torch and Keras now, in the background.

        PySpark keeps an idle Python worker for about a minute and hands it, imports
        included, to the next task. The barrier tasks ``start_workers`` launches then skip
        the imports (most of a worker's start, seconds of CPU each), which instead ran while
        the driver did its own imports and data preparation. Does nothing if it already ran
        or Python workers are not reused (``spark.python.worker.reuse=false``).
        """
        conf = self.sc.getConf()
        if self._warm_thread is not None or \
                conf.get("spark.python.worker.reuse", "true").lower() != "true":
            return
        n = self.num_workers
        task = warm_up_task(int(conf.get("spark.task.cpus", "1")), self.keras_backend)

        def job():
            try:
                self.sc.setJobDescription("cerebro: warm up the Python workers")
                self.sc.parallelize(range(n), n).mapPartitions(task).collect()
            except Exception as e:  # noqa: BLE001 - only an optimisation
                log.debug("warming up the Python workers failed: %s", e)

        self._warm_thread = threading.Thread(target=job, name="cerebro-warm-up", daemon=True)
        self._warm_thread.start()

    def _wait_for_slots(self, wanted: Optional[int], patience: float = 10.0) -> int:
        """Executors of a real cluster register over a few seconds; wait for them briefly."""
        deadline = time.monotonic() + (0 if self.sc.master.startswith("local") else patience)
        slots = _slots(self.sc)
        while slots < (1 if wanted is None else wanted) and time.monotonic() < deadline:
            time.sleep(0.5)
            slots = _slots(self.sc)
        return slots

    @property
    def num_workers(self) -> int:
        return self._num_workers

    def prepare_data(self, store, df, validation=0.25, num_partitions=None,
                     feature_columns: Sequence[str] | None = None,
                     label_columns: Sequence[str] | None = None, seed: int = 0):
        """Validates ``df`` and writes it into ``store`` as one train and val shard per worker.

        Args:
            store: A ``cerebro.storage.Store``.
            df: A Spark DataFrame.
            validation: Fraction in (0, 1), or a bool/int column name marking val rows.
            num_partitions: Must equal ``num_workers`` (the default): one shard per worker.
            feature_columns: Feature columns; default ``["features"]``.
            label_columns: Label columns; default ``["label"]``.
            seed: Seed of the random split.
        """
        from cerebro.data.prepare import prepare_data

        if num_partitions is not None and num_partitions != self.num_workers:
            raise ValueError(
                f"num_partitions={num_partitions} but model hopping needs one partition per "
                f"worker ({self.num_workers}); leave num_partitions unset"
            )
        return prepare_data(store, df, feature_columns or ["features"], label_columns or ["label"],
                            self.num_workers, validation=validation, seed=seed)

    def _driver_host(self) -> str:
        if self.sc.master.startswith("local"):
            return "127.0.0.1"
        return self.sc.getConf().get("spark.driver.host", "127.0.0.1")

    def start_workers(self, store, dataset, columns: Sequence[str]) -> "SparkWorkerPool":
        return SparkWorkerPool(self, store, dataset, tuple(columns))


class SparkWorkerPool(WorkerPool):
    """The live barrier job plus one authenticated connection per worker."""

    def __init__(self, backend: SparkBackend, store, dataset, columns: tuple[str, ...]):
        self.backend = backend
        self._n = backend.num_workers
        self.server = channel.ControlServer(backend._driver_host(), channel.new_secret())
        self._job_group = f"cerebro-{uuid.uuid4().hex[:8]}"
        cfg = WorkerConfig(
            address=self.server.address, secret=self.server.secret, store=store,
            dataset=dataset, columns=columns,
            threads=int(backend.sc.getConf().get("spark.task.cpus", "1")),
            keras_backend=backend.keras_backend, cache_bytes=backend.model_cache_bytes,
            log_level=get_logger("").getEffectiveLevel(),
        )
        self._job_error: Optional[BaseException] = None
        self._job = threading.Thread(target=self._run_job, args=(cfg,), name="cerebro-spark-job",
                                     daemon=True)
        self.conns: dict[int, object] = {}
        self.pids: dict[int, int] = {}  # worker -> Python process id (for diagnostics)
        self.busy: set[int] = set()
        self.started_at = time.monotonic()
        self.ready_info: dict[int, dict] = {}
        self._closed = False
        self._job.start()
        try:
            self._await_workers(backend.start_timeout)
        except BaseException:
            self.shutdown()
            raise
        self.start_s = time.monotonic() - self.started_at

    def _run_job(self, cfg: WorkerConfig) -> None:
        sc = self.backend.sc
        try:
            sc.setJobGroup(self._job_group, "cerebro model-hopping workers", True)
            rdd = sc.parallelize(range(self._n), self._n)
            rdd.barrier().mapPartitions(barrier_task(cfg)).collect()
        except BaseException as e:  # noqa: BLE001 - surfaced by _await_workers / wait
            self._job_error = e

    def _await_workers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.conns) < self._n:
            if self._job_error is not None:
                raise RuntimeError(f"the Spark worker job failed to start: {self._job_error}")
            try:
                p, conn, _hello = self.server.next_worker(timeout=0.5)
            except Exception:  # queue.Empty
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"only {len(self.conns)} of {self._n} workers connected within "
                        f"{timeout:.0f} s; is the cluster busy?") from None
                continue
            self.conns[p] = conn
            self.pids[p] = int(_hello.get("pid", 0))
        for p, conn in self.conns.items():
            remaining = max(0.1, deadline - time.monotonic())
            if not conn.poll(remaining):
                raise TimeoutError(f"worker {p} did not load its shard within {timeout:.0f} s")
            self.ready_info[p] = channel.recv(conn)
        log.info("%d workers ready in %.1f s", self._n, time.monotonic() - self.started_at)

    @property
    def num_workers(self) -> int:
        return self._n

    def submit(self, worker: int, task: VisitTask) -> None:
        if worker in self.busy:
            raise RuntimeError(f"worker {worker} is busy")
        channel.send(self.conns[worker], task)
        self.busy.add(worker)

    def wait(self, timeout: float | None = None) -> list[tuple[int, VisitResult]]:
        by_conn = {self.conns[w]: w for w in self.busy}
        if not by_conn:
            return []
        out = []
        for conn in wait_connections(list(by_conn), timeout):
            w = by_conn[conn]
            self.busy.discard(w)
            try:
                out.append((w, channel.recv(conn)))
            except (EOFError, OSError) as e:
                out.append((w, VisitResult.lost_worker(
                    LostReason.EXITED, f"worker lost: {type(e).__name__}")))
        return out

    def shutdown(self, graceful: bool = True) -> None:
        """Stops the workers. ``graceful=False`` cancels the Spark job at once (Ctrl-C, a
        lost worker), which kills workers in the middle of a visit."""
        if self._closed:
            return
        self._closed = True
        for conn in self.conns.values():
            try:
                channel.send(conn, "shutdown")
            except (OSError, ValueError):
                pass
        if not graceful:
            self.backend.sc.cancelJobGroup(self._job_group)
        self._job.join(timeout=30)
        if self._job.is_alive():
            self.backend.sc.cancelJobGroup(self._job_group)
            self._job.join(timeout=30)
        for conn in self.conns.values():
            try:
                conn.close()
            except OSError:
                pass
        self.server.close()
