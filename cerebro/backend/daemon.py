"""PySpark's Python worker daemon, with torch and Keras imported once, before it forks.

PySpark starts each Python worker by forking a daemon process. Stock, that daemon has
imported nothing but PySpark, so every cerebro worker imports torch and Keras itself: about
4 s of CPU each, all of it at the start of a search, competing with the driver's own imports
on a small machine. This daemon imports them once; the workers it forks inherit them, ready
(and share their memory pages until they write to them).

Enable it with ``spark.python.daemon.module=cerebro.backend.daemon`` (``local_session`` does).
It preloads only when ``KERAS_BACKEND`` is set in its environment (the driver's, in local
mode), so it never guesses a backend; workers check that the backend they inherited is the
driver's. Nothing here starts threads: torch's thread pools are created after the fork, in
the worker, when it sets its thread count.
"""

from __future__ import annotations

import os


def preload() -> dict:
    """Imports the Keras backend and Keras (what ``KERAS_BACKEND`` names); returns timings."""
    backend = os.environ.get("KERAS_BACKEND")
    if not backend:
        return {}
    from cerebro.backend.worker import _import_framework, passive_omp

    passive_omp()  # before torch loads OpenMP: the forked workers inherit the policy
    out: dict = {}
    _import_framework(backend, out)  # a failure shows again, with its message, in the worker
    return out


if __name__ == "__main__":
    preload()
    from pyspark import daemon

    daemon.manager()
