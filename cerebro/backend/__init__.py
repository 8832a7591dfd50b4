"""Backends: where the workers live (``SparkBackend``)."""

from cerebro.backend.base import Backend, WorkerPool
from cerebro.backend.spark import SparkBackend

__all__ = ["Backend", "WorkerPool", "SparkBackend"]
