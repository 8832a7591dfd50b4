"""The worker loop: runs inside one long-lived Spark barrier task per worker.

It connects back to the driver over the authenticated channel, loads its train and val
shard once, then runs visits until told to stop. It holds no scheduling logic at all.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from typing import Any

from cerebro.engine.tasks import VisitTask


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
    cache_bytes: int
    log_level: int = 30


def _set_threads(n: int, keras_backend: str) -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    os.environ["KERAS_BACKEND"] = keras_backend
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


def run_worker(partition: int, cfg: WorkerConfig) -> dict:
    """Serves visits for ``partition`` until the driver says stop; returns a small summary."""
    import logging

    from cerebro.backend import channel

    logging.getLogger("cerebro").setLevel(cfg.log_level)
    conn = channel.connect(cfg.address, cfg.secret)
    channel.send(conn, {"hello": partition, "pid": os.getpid(), "host": socket.gethostname()})
    _set_threads(cfg.threads, cfg.keras_backend)

    from cerebro.data.shard import load_shard
    from cerebro.keras.runtime import WorkerRuntime

    t0 = time.perf_counter()
    train = load_shard(cfg.store, cfg.dataset, "train", partition, cfg.columns)
    val = load_shard(cfg.store, cfg.dataset, "val", partition, cfg.columns)
    runtime = WorkerRuntime(cfg.store, train, val, cfg.cache_bytes)
    import keras  # noqa: F401 - import once here so the first visit does not pay for it

    channel.send(conn, {"ready": partition, "load_s": time.perf_counter() - t0,
                        "train_rows": train.rows, "val_rows": val.rows,
                        "shard_bytes": train.nbytes + val.nbytes})
    visits = 0
    while True:
        try:
            msg = channel.recv(conn)
        except EOFError:
            break  # the driver went away: nothing more to do
        if msg == "shutdown":
            break
        if not isinstance(msg, VisitTask):
            continue
        result = runtime.run(msg)
        visits += 1
        channel.send(conn, result)
    conn.close()
    return {"partition": partition, "visits": visits}


def barrier_task(cfg: WorkerConfig):
    """The function Spark runs in each barrier task (``mapPartitions``)."""

    def fn(_iterator):
        from pyspark import BarrierTaskContext

        ctx = BarrierTaskContext.get()
        yield run_worker(ctx.partitionId(), cfg)

    return fn

