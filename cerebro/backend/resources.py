"""What one worker may use: its cores and the host's memory, from the session's settings."""

from __future__ import annotations

import os
from typing import Any

from cerebro.backend.memory import GiB


def backend_worker_cores(backend: Any) -> int:
    """The cores one worker owns: ``spark.task.cpus``; on a classic local master, at least
    its even share of this host's usable cores.

    A local master's thread count (``local``, ``local[2]``) bounds how many Spark tasks run
    at once, not how many cores they may use: every worker is a process on this host. So the
    seed's ``master("local")`` with one worker trains on all of the host's cores, as
    sequential AutoKeras does, instead of on one.
    """
    sc = getattr(backend, "sc", None)  # None: Spark Connect (no master known: a cluster)
    return worker_cores(str(sc.master) if sc is not None else "", int(backend.task_cpus),
                        int(backend.num_workers))


def worker_cores(master: str, task_cpus: int, num_workers: int) -> int:
    """:func:`backend_worker_cores` from the master URL, ``spark.task.cpus`` and the workers."""
    if not master.startswith("local"):  # a cluster
        return task_cpus
    return max(task_cpus, usable_cores() // max(1, num_workers))


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def host_reserve() -> int:
    """Memory the host keeps for the driver, Spark and the system: 5%, at least 1 GiB."""
    import psutil

    return max(GiB, int(0.05 * psutil.virtual_memory().total))


def spark_conf(backend: Any, key: str, default: str) -> str:
    """A Spark setting of the backend's session (classic or Connect)."""
    connect = getattr(backend, "connect", None)
    value = connect.conf(key, default) if connect is not None else backend.sc.getConf().get(
        key, default)
    return default if value is None else str(value)
