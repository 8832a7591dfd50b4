"""Spark Connect: the backend's Spark jobs through a Connect ``SparkSession``.

A Connect session (``SparkSession.builder.remote("sc://host:15002")``, or
``spark.api.mode=connect``) has no ``SparkContext``: no RDDs, job groups, broadcast
variables or ``SparkConf``. What the classic path does through the context, this module does
with DataFrame and session APIs that Connect offers:

- **One Spark job per worker**, as on the classic path: each worker is a one-row, one-partition
  DataFrame whose ``mapInArrow`` task runs the worker loop (``cerebro.backend.worker``), started
  from its own driver thread. A lost worker is cancelled and restarted alone.
- **Job tags** (``SparkSession.addTag`` / ``interruptTag``) where the classic path uses job
  groups: each worker generation's job carries its own tag.
- **Settings** come from the session's runtime configuration (``spark.conf.get``), which holds
  the server's Spark settings (``spark.master``, ``spark.task.cpus``).
- **Slots**: the session's default parallelism (the partitions of ``spark.range``), divided by
  ``spark.task.cpus``. Before executors register, a real cluster reports fewer: pass
  ``num_workers`` there.
- **The control channel** listens on the client, which may be far from the cluster: see
  ``ConnectSession.driver_host``.

What the session cannot change on a running server (a ``spark.python.daemon.module`` with
torch preloaded, the workers' ``PYSPARK_PYTHON``) is set when the server starts.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
from typing import Any, Callable, Iterator, Optional

from cerebro._logging import get_logger
from cerebro.backend.pool import SparkWorkerPool
from cerebro.backend.worker import WorkerConfig, warm_up_task, worker_task

log = get_logger("backend")

_SUMMARY_SCHEMA = "partition long, visits long"
_WARM_SCHEMA = "pid long"


def is_connect_session(obj: Any) -> bool:
    """Whether ``obj`` is a Spark Connect ``SparkSession`` (without importing the client)."""
    module = sys.modules.get("pyspark.sql.connect.session")
    return module is not None and isinstance(obj, module.SparkSession)


def resolve(spark_context: Any, spark: Any) -> Optional["ConnectSession"]:
    """The Connect session ``SparkBackend`` was given (as ``spark`` or ``spark_context``), or,
    given neither, the active session if it is a Connect one; ``None`` for a classic one."""
    for given in (spark, spark_context):
        if given is not None:
            return ConnectSession(given) if is_connect_session(given) else None
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    return ConnectSession(active) if is_connect_session(active) else None


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "") or host.startswith("localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _route_address(host: str) -> str:
    """This machine's address on the route to ``host`` (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((host, 15002))
        return str(s.getsockname()[0])


def _arrow_summary(summary: dict[str, Any]) -> Any:
    import pyarrow as pa

    return pa.RecordBatch.from_pydict({"partition": [int(summary["partition"])],
                                       "visits": [int(summary["visits"])]})


def arrow_worker_task(partition: int, cfg: WorkerConfig) -> Callable[[Iterator[Any]], Iterator[Any]]:
    """The ``mapInArrow`` function of worker ``partition``'s one-task job: the worker loop."""
    task = worker_task(partition, cfg)

    def fn(batches: Iterator[Any]) -> Iterator[Any]:
        for _ in batches:  # the one input row
            pass
        for summary in task(iter(())):
            yield _arrow_summary(summary)

    return fn


def arrow_warm_up_task(threads: int, keras_backend: str) -> Callable[[Iterator[Any]], Iterator[Any]]:
    """The ``mapInArrow`` function of a warm-up task (see ``SparkBackend.warm_up``)."""
    task = warm_up_task(threads, keras_backend)

    def fn(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        for _ in batches:
            pass
        for pid in task(iter(())):
            yield pa.RecordBatch.from_pydict({"pid": [int(pid)]})

    return fn


class ConnectSession:
    """What ``SparkBackend`` and its pool ask of Spark, on a Connect session."""

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        self._master: Optional[str] = None

    def conf(self, key: str, default: Optional[str] = None) -> Optional[str]:
        """A setting of the session (the server's Spark settings included)."""
        value = self.spark.conf.get(key, default)
        return None if value is None else str(value)

    @property
    def master(self) -> str:
        if self._master is None:
            self._master = self.conf("spark.master", "") or ""
        return self._master

    @property
    def task_cpus(self) -> int:
        return int(self.conf("spark.task.cpus", "1") or "1")

    @property
    def server_host(self) -> str:
        """The host name of the Connect server this session talks to."""
        return str(self.spark.client.host)

    @property
    def is_local(self) -> bool:
        """Workers run on this machine: a local-mode server reached over loopback."""
        return self.master.startswith("local") and _is_loopback(self.server_host)

    def slots(self) -> int:
        """Tasks the cluster runs at once: the default parallelism over ``spark.task.cpus``.

        One small job: the partitions ``spark.range`` gets by default (the server's
        ``defaultParallelism`` unless ``spark.sql.leafNodeDefaultParallelism`` is set).
        """
        from pyspark.sql import functions as F

        row = (self.spark.range(0, 1 << 16).select(F.spark_partition_id().alias("p"))
               .agg(F.max("p").alias("p")).first())
        parallelism = 1 if row is None or row["p"] is None else int(row["p"]) + 1
        return max(1, parallelism // self.task_cpus)

    def driver_host(self) -> str:
        """The address workers reach this client at.

        ``spark.cerebro.driver.host`` when set (``spark.conf.set`` on the session, or a
        server setting); else 127.0.0.1 when the server is on this machine (a loopback
        address); else this machine's address on its route to the Connect server. The
        executors must be able to connect to it (see docs/cluster.md).
        """
        configured = self.conf("spark.cerebro.driver.host", None)
        if configured:
            return configured
        host = self.server_host
        if _is_loopback(host):
            return "127.0.0.1"
        try:
            return _route_address(host)
        except OSError as e:
            raise ValueError(
                f"cannot tell which address of this machine the executors reach (no route to "
                f"the Connect server {host!r}: {e}); set spark.cerebro.driver.host") from e

    def bind_address(self) -> Optional[str]:
        """``spark.cerebro.driver.bindAddress`` (e.g. ``0.0.0.0`` in a container), or None."""
        return self.conf("spark.cerebro.driver.bindAddress", None) or None

    def run_one_task(self, fn: Callable[[Iterator[Any]], Iterator[Any]], schema: str,
                     tag: str) -> list[Any]:
        """Runs ``fn`` as the one task of a job tagged ``tag``; blocks until it ends."""
        self.spark.addTag(tag)
        try:
            return list(self.spark.range(0, 1, 1, 1).mapInArrow(fn, schema).collect())
        finally:
            self.spark.removeTag(tag)

    def cancel(self, tag: str) -> None:
        """Cancels the job tagged ``tag`` (its task, and so its worker, is killed)."""
        try:
            self.spark.interruptTag(tag)
        except Exception as e:  # noqa: BLE001 - a session closing already ends its jobs
            log.debug("interrupting Spark Connect tag %s failed: %s", tag, e)

    def warm_up(self, n: int, keras_backend: str) -> threading.Thread:
        """Starts ``n`` warm-up tasks in one job in the background (see ``SparkBackend``)."""
        task = arrow_warm_up_task(self.task_cpus, keras_backend)

        def job() -> None:
            try:
                self.spark.range(0, n, 1, n).mapInArrow(task, _WARM_SCHEMA).collect()
            except Exception as e:  # noqa: BLE001 - only an optimisation
                log.debug("warming up the Python workers failed: %s", e)

        thread = threading.Thread(target=job, name="cerebro-warm-up", daemon=True)
        thread.start()
        return thread


class ConnectWorkerPool(SparkWorkerPool):
    """``SparkWorkerPool`` whose workers are one-task jobs of a Connect session."""

    def _run_job(self, p: int, gen: int, cfg: WorkerConfig) -> None:
        connect: ConnectSession = self.backend.connect
        try:
            connect.run_one_task(arrow_worker_task(p, cfg), _SUMMARY_SCHEMA,
                                 self._job_group(p, gen))
        except BaseException as e:  # noqa: BLE001 - surfaced by wait / _await_all
            if self._gen.get(p) == gen and not self._closed:
                self._job_errors[p] = e
                self._wake()

    def _cancel_job(self, p: int, gen: int) -> None:
        self.backend.connect.cancel(self._job_group(p, gen))
