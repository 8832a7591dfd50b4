"""Backends: where the workers live (``SparkBackend``).

``SparkBackend`` here is :class:`cerebro.backend.compat.SparkBackend`: the Spark backend
taking upstream Cerebro 1.x's constructor arguments as well (``docs/migrating.md``).
"""

from cerebro.backend.base import Backend, WorkerPool
from cerebro.backend.compat import SparkBackend
from cerebro.backend.session import build_archive, java_options, local_session

__all__ = ["Backend", "WorkerPool", "SparkBackend", "build_archive", "java_options",
           "local_session"]
