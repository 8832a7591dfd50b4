"""``SparkBackend``: workers are long-lived Spark tasks, one job per worker.

The backend takes a classic session's ``SparkContext`` or a Spark Connect session; the few
things a Connect session does differently (no ``SparkContext``) are in
``cerebro.backend.connect``, behind ``self.connect``.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Optional, Sequence

from cerebro._logging import get_logger
from cerebro.backend.base import Backend, WorkerPool
from cerebro.backend.worker import warm_up_task

log = get_logger("backend")


def _slots(sc) -> int:
    """Tasks the cluster can run at once now: what a barrier stage needs.

    This is the figure Spark itself checks barrier stages against; ``defaultParallelism``
    is not (``spark.default.parallelism`` overrides it, and a standalone cluster reports
    at least 2 before any executor registered).
    """
    from cerebro._upstream import spark_concurrent_task_slots

    slots = spark_concurrent_task_slots(sc)
    if slots is not None:
        return slots
    task_cpus = int(sc.getConf().get("spark.task.cpus", "1"))  # the public estimate
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
    """Runs model hopping on a Spark cluster (local mode, standalone, YARN, k8s), through a
    classic or a Spark Connect session.

    Args:
        spark_context: The ``SparkContext``, or a ``SparkSession`` (classic or Spark
            Connect); default: the active session's.
        num_workers: Workers (== data partitions); default: the context's default
            parallelism divided by ``spark.task.cpus``.
        start_timeout: Seconds to wait for all workers to connect and load their shards.
        verbose: 0 is quiet, 1 logs progress.
        model_cache_mb: Memory budget per worker for models kept built (LRU).
        keras_backend: Keras backend on the workers; default: the driver's.
        warm_up: Start the Python workers and their torch/Keras imports now, in the
            background (see ``warm_up``).
        visit_timeout: Seconds after which any visit counts as hung (its worker is
            restarted and the visit retried); default: derived per model from its earlier
            visits (4x its longest, at least ``visit_deadline_floor`` s).
        visit_deadline_floor: The shortest derived deadline, in seconds.
        max_restarts: Worker restarts allowed in one search.
        worker_memory_mb: Memory each worker may use (model, data, framework); default: in
            local mode the workers share what the host has available, elsewhere no limit.
        data_memory_mb: Memory each worker may hold its data in (default 1024). A worker
            copies its partition to its local disk on its first start; a copy (train and
            val, in the stored dtypes) that fits this budget is held in memory, a larger one
            is streamed from disk batch by batch through a shuffle buffer of a quarter of
            the budget. The choice is logged.
        local_dir: Directory on each executor's disk for the partitions' local copies;
            default ``$CEREBRO_LOCAL_DIR``, else the first of ``$SPARK_LOCAL_DIRS``, else the
            system's temporary directory (``cerebro-shards/`` below it). A restarted worker
            reuses its copy when the dataset's fingerprint matches.
        elastic_threads: A visit also uses the cores of the workers on its host that have
            nothing runnable (torch's intra-op threads, set per visit; the other Keras
            backends keep one thread per worker). ``False``: each visit runs with its
            worker's own ``spark.task.cpus`` threads.
        spark: A ``SparkSession``, classic or Spark Connect, instead of ``spark_context``.
            On Connect, workers are one-task ``mapInArrow`` jobs cancelled by job tag (see
            ``cerebro.backend.connect``).
    """

    def __init__(self, spark_context=None, num_workers: Optional[int] = None,
                 start_timeout: float = 600, verbose: int = 1,
                 model_cache_mb: int = 1024, keras_backend: Optional[str] = None,
                 warm_up: bool = True, visit_timeout: Optional[float] = None,
                 visit_deadline_floor: float = 60.0, max_restarts: int = 10,
                 worker_memory_mb: Optional[int] = None, data_memory_mb: float = 1024,
                 local_dir: Optional[str] = None, elastic_threads: bool = True, spark=None):
        self._bind_session(spark_context, spark)
        self._num_workers = self._resolve_workers(num_workers)
        self.start_timeout = float(start_timeout)
        self.verbose = verbose
        self.model_cache_bytes = int(model_cache_mb) * 1024 * 1024
        self.keras_backend = keras_backend or _keras_backend()
        self._keep_settings(visit_timeout, visit_deadline_floor, max_restarts, worker_memory_mb,
                            data_memory_mb, local_dir, elastic_threads)
        self._warm_thread: Optional[threading.Thread] = None
        if self.sc is not None:
            from cerebro.backend.session import tune_running_session

            applied = tune_running_session(self.sc, self.keras_backend)
            if applied:
                log.debug("tuned the running Spark session: %s", "; ".join(applied))
        if warm_up:
            self.warm_up()

    def _keep_settings(self, visit_timeout, visit_deadline_floor, max_restarts,
                       worker_memory_mb, data_memory_mb, local_dir, elastic_threads) -> None:
        """Checks and keeps the settings of the visits, memory, data and threads."""
        for name, value in (("visit_timeout", visit_timeout),
                            ("visit_deadline_floor", visit_deadline_floor),
                            ("worker_memory_mb", worker_memory_mb),
                            ("data_memory_mb", data_memory_mb)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or value <= 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if isinstance(max_restarts, bool) or not isinstance(max_restarts, int) or max_restarts < 0:
            raise ValueError(f"max_restarts must be an int >= 0, got {max_restarts!r}")
        self.visit_timeout = visit_timeout
        self.visit_deadline_floor = float(visit_deadline_floor)
        self.max_restarts = max_restarts
        self.worker_memory_bytes = int(worker_memory_mb * 2**20) if worker_memory_mb else None
        if data_memory_mb is None:
            raise ValueError("data_memory_mb must be a positive number, got None")
        self.data_memory_bytes = int(data_memory_mb * 2**20)
        if local_dir is not None and not isinstance(local_dir, (str, os.PathLike)):
            raise TypeError(f"local_dir must be a path (str), got {type(local_dir).__name__}")
        self.data_local_dir = None if local_dir is None else os.fspath(local_dir)
        if not isinstance(elastic_threads, bool):
            raise TypeError(f"elastic_threads must be a bool, got {elastic_threads!r}")
        self.elastic_threads = elastic_threads

    def _bind_session(self, spark_context, spark) -> None:
        """Sets ``self.connect`` (a Spark Connect session) or ``self.sc`` (a classic one)."""
        from cerebro.backend.connect import resolve

        self.connect = resolve(spark_context, spark)
        if self.connect is not None:
            self.sc = None
            return
        if spark is not None:
            spark_context = spark.sparkContext
        elif spark_context is None:
            from pyspark.sql import SparkSession

            spark_context = SparkSession.builder.getOrCreate().sparkContext
        elif hasattr(spark_context, "sparkContext"):  # a classic SparkSession
            spark_context = spark_context.sparkContext
        self.sc = spark_context
        _use_driver_python(self.sc)

    def _resolve_workers(self, num_workers: Optional[int]) -> int:
        """``num_workers``, or the free task slots; refuses more workers than slots."""
        slots = self._wait_for_slots(num_workers)
        if num_workers is None:
            if slots < 1:
                raise ValueError(f"no executor of {self.master!r} has registered a free core; "
                                 "is the cluster up?")
            num_workers = slots
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
            raise ValueError(f"num_workers must be a positive int, got {num_workers!r}")
        if num_workers > slots:
            raise ValueError(
                f"num_workers={num_workers}, but this Spark cluster can run only {slots} task(s) "
                f"at once (master {self.master!r}, spark.task.cpus={self.task_cpus}); use at "
                f"most {slots} workers"
            )
        return num_workers

    def warm_up(self) -> None:
        """Has ``num_workers`` Python workers import torch and Keras now, in the background.

        PySpark keeps an idle Python worker for about a minute and hands it, imports
        included, to the next task. The barrier tasks ``start_workers`` launches then skip
        the imports (most of a worker's start, seconds of CPU each), which instead ran while
        the driver did its own imports and data preparation. Does nothing if it already ran
        or Python workers are not reused (``spark.python.worker.reuse=false``).
        """
        if self.connect is not None:
            reuse = self.connect.conf("spark.python.worker.reuse", "true") or "true"
            if self._warm_thread is None and reuse.lower() == "true":
                self._warm_thread = self.connect.warm_up(self.num_workers, self.keras_backend)
            return
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
        if self.connect is not None:
            return self.connect.slots()  # an estimate: see cerebro.backend.connect
        deadline = time.monotonic() + (0 if self.sc.master.startswith("local") else patience)
        slots = _slots(self.sc)
        while slots < (1 if wanted is None else wanted) and time.monotonic() < deadline:
            time.sleep(0.5)
            slots = _slots(self.sc)
        return slots

    @property
    def num_workers(self) -> int:
        return self._num_workers

    @property
    def master(self) -> str:
        """The cluster's master URL (``local[2]``, ``spark://...``, ``yarn``, ...)."""
        return self.connect.master if self.connect is not None else str(self.sc.master)

    @property
    def is_local(self) -> bool:
        """Whether the workers run on this machine (local mode)."""
        if self.connect is not None:
            return self.connect.is_local
        return str(self.sc.master).startswith("local")

    @property
    def task_cpus(self) -> int:
        """``spark.task.cpus``: the threads each worker trains with."""
        if self.connect is not None:
            return self.connect.task_cpus
        return int(self.sc.getConf().get("spark.task.cpus", "1"))

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

    def quiet_console(self) -> None:
        """Quiets the console for the search's own display: Spark's stage progress bar
        (stopped for this session) and third-party INFO loggers (py4j, alembic)."""
        import logging

        from cerebro._upstream import stop_spark_progress_bar

        # A Connect client shows no progress bar unless SPARK_CONNECT_PROGRESS_BAR_ENABLED=1.
        if self.sc is not None and stop_spark_progress_bar(self.sc):
            log.debug("Spark's console progress bar is off for this session")
        for name in ("py4j", "alembic", "urllib3"):
            if logging.getLogger(name).getEffectiveLevel() < logging.WARNING:
                logging.getLogger(name).setLevel(logging.WARNING)

    def _driver_host(self) -> str:
        if self.connect is not None:
            return self.connect.driver_host()
        if self.sc.master.startswith("local"):
            return "127.0.0.1"
        return self.sc.getConf().get("spark.driver.host", "127.0.0.1")

    def _control_address(self) -> tuple[str, int, Optional[str]]:
        """(host workers connect to, port, address to listen on) of the control channel.

        The host is ``spark.driver.host`` (what executors already reach the driver by); the
        port is ``spark.cerebro.driver.port`` (default 0: any free port), for clusters whose
        firewall opens only fixed driver ports; the listening address is
        ``spark.driver.bindAddress`` when set (e.g. ``0.0.0.0`` in a container whose
        advertised address is not its own). On Spark Connect the channel listens on the
        client: see ``ConnectSession.driver_host``.
        """
        if self.connect is not None:
            raw = self.connect.conf("spark.cerebro.driver.port", "0") or "0"
        else:
            raw = self.sc.getConf().get("spark.cerebro.driver.port", "0")
        try:
            port = int(raw)
        except ValueError:
            port = -1
        if not 0 <= port <= 65535:
            raise ValueError(f"spark.cerebro.driver.port must be a port number (0-65535), "
                             f"got {raw!r}")
        if self.connect is not None:
            bind = self.connect.bind_address()
        elif self.sc.master.startswith("local"):
            bind = None
        else:
            bind = self.sc.getConf().get("spark.driver.bindAddress", None)
        return self._driver_host(), port, bind

    def start_workers(self, store, dataset, columns: Sequence[str]) -> WorkerPool:
        if self.connect is not None:
            from cerebro.backend.connect import ConnectWorkerPool

            return ConnectWorkerPool(self, store, dataset, tuple(columns))
        from cerebro.backend.pool import SparkWorkerPool

        return SparkWorkerPool(self, store, dataset, tuple(columns))
