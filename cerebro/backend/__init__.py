"""Backends: where the workers live (``SparkBackend``)."""

from cerebro.backend.base import Backend, WorkerPool
from cerebro.backend.session import build_archive, java_options, local_session
from cerebro.backend.spark import SparkBackend

__all__ = ["Backend", "WorkerPool", "SparkBackend", "build_archive", "java_options",
           "local_session"]
