"""``Phases``: when each start-up phase of a search ended, in seconds since ``fit`` began.

The front end creates one when ``fit`` starts and hands it down: data preparation, the
runner, the supervisor and the hopper each mark the end of their phase. The result carries
them as ``result.stats["phases"]`` (a name -> seconds dict, in the order they were marked)
and the search logs them in one INFO line once the first visit is sent. Names used:

========================  =============================================================
``data_inspected``        the one Spark job that checks the columns and fingerprints them
``data_written``          the shards are in the store (written, or reused)
``data_prepared``         the graph is configured from the data (bounded sample read)
``records_ready``         the records database is open (created or migrated)
``first_model_built``     the first trial's model is built and its spec written
``workers_ready``         every worker is connected and holds its shard
``first_visit``           the first visit is sent to a worker
``first_result``          the first visit's answer came back
``search_end``            the last visit's answer came back
========================  =============================================================
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Optional

from cerebro._logging import get_logger

log = get_logger("engine")


class Phases:
    """Named instants, each kept the first time it is marked.

    Args:
        clock: Seconds (``time.perf_counter`` by default); the start is ``clock()`` now.
    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._t0 = clock()
        self._marks: dict[str, float] = {}
        self._lock = threading.Lock()  # the supervisor marks from its start thread
        self._logged = False

    def mark(self, name: str, at: Optional[float] = None) -> None:
        """Records ``name`` now (or at the ``clock`` reading ``at``), unless already marked."""
        t = (self._clock() if at is None else at) - self._t0
        with self._lock:
            self._marks.setdefault(name, round(t, 3))

    def as_dict(self) -> dict[str, float]:
        """Name -> seconds since the start, in the order they were marked."""
        with self._lock:
            return dict(self._marks)

    def log_once(self) -> None:
        """Logs the phases marked so far in one INFO line (the first call only)."""
        if self._logged:
            return
        self._logged = True
        log.info("start-up (s since fit): %s",
                 ", ".join(f"{k} {v:.2f}" for k, v in self.as_dict().items()))
