"""The GPU a worker trains on: the address Spark assigned its task, or the CPU.

On a cluster with GPU resources (``spark.executor.resource.gpu.amount`` and
``spark.task.resource.gpu.amount``), Spark hands each task the addresses of the GPUs it
reserved for it (``TaskContext.resources()["gpu"].addresses``). A worker:

1. reads them first thing (:func:`task_gpus`) and, before torch or Keras import, sets
   ``CUDA_VISIBLE_DEVICES`` to them (:func:`before_imports`), so the process sees only its
   own GPU, as ``cuda:0``;
2. once the framework imported, checks a CUDA device is usable and picks the Keras device
   (:func:`choose_device`); when Spark assigned a GPU but none is usable (a CPU-only torch
   build, a fake GPU from a discovery script, a broken driver) it trains on the CPU and logs
   one line saying so;
3. trains every visit inside :func:`device_scope` (``keras.device``).

Thread counts stay ``spark.task.cpus`` (the worker sets them); the batch size is the model's
own: each worker trains one model at a time on one device, so nothing is rescaled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
from typing import Iterator, Optional

from cerebro._logging import get_logger

log = get_logger("gpu")


@dataclasses.dataclass(frozen=True)
class GpuPlan:
    """What Spark assigned a task, and how the process was set up before its imports.

    Attributes:
        addresses: The GPU addresses Spark assigned the task (empty: none asked for).
        visible: What ``CUDA_VISIBLE_DEVICES`` was set to, or None where it was left alone
            (no GPU assigned, or CUDA may already be initialised in this reused worker).
        index: The device index within this process for the first assigned GPU.
    """

    addresses: tuple[str, ...] = ()
    visible: Optional[str] = None
    index: int = 0


def task_gpus() -> tuple[str, ...]:
    """The GPU addresses Spark assigned the running task; empty outside a task or without."""
    try:
        from pyspark import TaskContext
    except ImportError:
        return ()
    ctx = TaskContext.get()
    if ctx is None:
        return ()
    info = ctx.resources().get("gpu")
    return tuple(str(a) for a in info.addresses) if info is not None else ()


def before_imports(addresses: tuple[str, ...]) -> GpuPlan:
    """Points ``CUDA_VISIBLE_DEVICES`` at the assigned GPUs, if torch has not imported yet.

    A Python worker that PySpark reused (after a warm-up task, or forked from the preloading
    daemon) may have CUDA set up already with every GPU visible; there the variable would
    come too late, so it is left alone and the assigned address is used as the index into
    what the process sees.
    """
    if not addresses:
        return GpuPlan()
    if "torch" not in sys.modules and "tensorflow" not in sys.modules:
        visible = ",".join(addresses)
        os.environ["CUDA_VISIBLE_DEVICES"] = visible
        return GpuPlan(addresses, visible, 0)
    seen = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    first = addresses[0]
    if seen:
        index = seen.index(first) if first in seen else 0
    else:
        index = int(first) if first.isdigit() else 0
    return GpuPlan(addresses, None, index)


def _cuda_devices(keras_backend: str) -> int:
    """CUDA devices this process can use, for the framework Keras runs on."""
    try:
        if keras_backend == "torch":
            import torch

            return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
        if keras_backend == "tensorflow":
            import tensorflow as tf

            return len(tf.config.list_physical_devices("GPU"))
        if keras_backend == "jax":
            import jax

            return len([d for d in jax.devices() if d.platform == "gpu"])
    except Exception:  # noqa: BLE001 - a broken CUDA set-up means: no usable GPU
        return 0
    return 0


def _stderr_logger() -> logging.Logger:
    """This module's logger, writing to the worker's stderr (the executor's log) as well."""
    if not any(getattr(h, "_cerebro_gpu", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._cerebro_gpu = True  # type: ignore[attr-defined]
        log.addHandler(handler)
        log.propagate = False
        log.setLevel(logging.INFO)
    return log


def choose_device(plan: GpuPlan, keras_backend: str, partition: int, threads: int) -> str:
    """The Keras device name the worker trains on (``"cuda:N"`` or ``"cpu"``); logs it.

    Called after the framework imported. Without an assigned GPU this is ``"cpu"`` and
    nothing is logged.
    """
    if not plan.addresses:
        return "cpu"
    out = _stderr_logger()
    usable = _cuda_devices(keras_backend)
    if usable > plan.index:
        device = f"cuda:{plan.index}"
        if keras_backend == "torch":
            import torch

            torch.cuda.set_device(plan.index)
        out.info("cerebro worker %d: training on GPU address %s (%s, CUDA_VISIBLE_DEVICES=%s), "
                 "%d CPU thread(s)", partition, plan.addresses[0], device,
                 os.environ.get("CUDA_VISIBLE_DEVICES", ""), threads)
        return device
    out.warning("cerebro worker %d: Spark assigned GPU address %s (CUDA_VISIBLE_DEVICES=%s) "
                "but %s sees no usable CUDA device; training on CPU with %d thread(s)",
                partition, ",".join(plan.addresses), os.environ.get("CUDA_VISIBLE_DEVICES", ""),
                keras_backend, threads)
    return "cpu"


@contextlib.contextmanager
def device_scope(device: str) -> Iterator[None]:
    """Everything Keras builds and trains inside runs on ``device`` (this thread only)."""
    if device == "cpu" and not os.environ.get("CUDA_VISIBLE_DEVICES"):
        yield  # Keras's own default: no GPU to steer away from
        return
    import keras

    with keras.device(device):
        yield
