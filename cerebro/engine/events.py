"""``EventBus``: the search's listeners run on their own thread, off the dispatch path.

The hopper only puts events on a queue; a background thread hands them, in order, to the
listeners (console, records database, MLflow). A listener that raises is logged and keeps
getting the next events; one that blocks delays only the listeners after it, never a
worker. The same thread polls the human-in-the-loop command source (a database query) at
a bounded rate and queues what it finds for the hopper, and runs the commands'
acknowledgements, so no database round trip happens between a worker's reply and its next
visit.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Optional

from cerebro._logging import get_logger

log = get_logger("engine")

Listener = Callable[[str, dict[str, Any]], None]
CommandSource = Callable[[], list[dict[str, Any]]]
_STOP = object()


class EventBus:
    """Delivers events to listeners on a background thread.

    Args:
        listeners: Called as ``listener(kind, payload)``, in this order, for every event.
        commands: Optional source of human-in-the-loop commands (polled every ``poll_s``).
        poll_s: Seconds between two polls of ``commands``.
        on_command: Called (from the bus thread) when commands were queued, e.g. to wake
            the hopper's loop.
    """

    def __init__(self, listeners: Sequence[Optional[Listener]] = (),
                 commands: Optional[CommandSource] = None, poll_s: float = 0.1,
                 on_command: Optional[Callable[[], None]] = None) -> None:
        self.listeners = [f for f in listeners if f is not None]
        self.commands_source = commands
        self.poll_s = float(poll_s)
        self.on_command = on_command
        self.errors = 0
        self._events: queue.Queue[Any] = queue.Queue()
        self._commands: queue.Queue[dict[str, Any]] = queue.Queue()
        self._seen: set[Any] = set()  # ids of commands handed out (their ack may be queued)
        self._thread = threading.Thread(target=self._loop, name="cerebro-events", daemon=True)
        self._closed = False
        self._thread.start()

    # -- producer side (the hopper's thread) --------------------------------------------------
    def emit(self, kind: str, payload: dict[str, Any]) -> None:
        """Queues an event; returns at once."""
        if not self._closed:
            self._events.put((kind, payload))

    __call__ = emit

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Runs ``fn`` on the bus thread, after the events queued so far."""
        if not self._closed:
            self._events.put((fn, args, kwargs))

    def pending_commands(self) -> list[dict[str, Any]]:
        """The commands polled since the last call (their ``ack`` runs on the bus thread)."""
        out = []
        while True:
            try:
                out.append(self._commands.get_nowait())
            except queue.Empty:
                return out

    def close(self, timeout: float = 30.0) -> None:
        """Delivers what is queued (for at most ``timeout`` seconds) and stops the thread."""
        if self._closed:
            return
        self._closed = True
        self._events.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("listeners still busy after %.0f s; %d event(s) not delivered",
                        timeout, self._events.qsize())

    # -- the bus thread ------------------------------------------------------------------------
    def _loop(self) -> None:
        next_poll = time.monotonic()
        while True:
            wait = max(0.0, next_poll - time.monotonic()) if self.commands_source else None
            try:
                item = self._events.get(timeout=wait)
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            if item is not None:
                self._deliver(item)
            if self.commands_source is not None and time.monotonic() >= next_poll:
                self._poll()
                next_poll = time.monotonic() + self.poll_s

    def _deliver(self, item: tuple[Any, ...]) -> None:
        head = item[0]
        if callable(head):
            fn, args, kwargs = item
            self._guard(getattr(fn, "__name__", "callback"), lambda: fn(*args, **kwargs))
            return
        kind, payload = item
        for listener in self.listeners:
            self._guard(kind, functools.partial(listener, kind, payload))

    def _poll(self) -> None:
        source = self.commands_source
        assert source is not None
        found: list[dict[str, Any]] = []
        self._guard("commands", lambda: found.extend(source() or ()))
        for cmd in found:
            if cmd.get("id") is not None:
                if cmd["id"] in self._seen:  # still PENDING until its queued ack runs
                    continue
                self._seen.add(cmd["id"])
            ack = cmd.get("ack")
            if ack is not None:  # acknowledgements write to the database: on this thread
                cmd = {**cmd, "ack": self._deferred(ack)}
            self._commands.put(cmd)
        if found and self.on_command is not None:  # (a repeat wakes it too: harmless)
            self._guard("wake", self.on_command)

    def _deferred(self, fn: Callable[..., Any]) -> Callable[..., None]:
        """``fn`` made to run on the bus thread when called from another."""
        def later(*args: Any, **kwargs: Any) -> None:
            self.call(fn, *args, **kwargs)
        return later

    def _guard(self, what: str, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - a listener must never stop a search
            self.errors += 1
            log.warning("listener failed on %s: %s: %s", what, type(e).__name__, e)
