"""The worker's one reader of its connection to the driver, in its own thread.

While a visit trains, the worker's main thread is inside Keras ``fit``: a ``Retune`` (the
driver's word that the visit may now use more, or fewer, threads) must be read by another
thread. This one reads every message; the main loop takes visits from its queue.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, Optional

from cerebro.wire import Retune, VisitTask


class Receiver:
    """Reads the worker's connection: visits and ``"shutdown"`` go to :meth:`next`; a
    ``Retune``, and each visit's own ``VisitTask.threads`` before the visit is handed on
    (so a stale ``Retune`` never outlives its visit), go to ``want``.

    Args:
        conn: The worker's authenticated connection (``cerebro.backend.channel``).
        want: Takes the thread count the current visit should run with (``None``: the
            worker's own); ``VisitThreads.want``.
    """

    def __init__(self, conn: Any, want: Callable[[Optional[int]], None]) -> None:
        self.conn, self.want = conn, want
        self._inbox: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._read, name="cerebro-receiver",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def next(self) -> Any:
        """Blocks for the next visit or ``"shutdown"``; ``None``: the connection closed."""
        return self._inbox.get()

    def _read(self) -> None:
        from cerebro.backend import channel

        while True:
            try:
                msg = channel.recv(self.conn)
            except (EOFError, OSError):
                self._inbox.put(None)
                return
            if isinstance(msg, Retune):
                self.want(msg.threads)
                continue
            if isinstance(msg, VisitTask):
                self.want(msg.threads)
            self._inbox.put(msg)
            if isinstance(msg, str) and msg == "shutdown":
                return


__all__ = ["Receiver"]
