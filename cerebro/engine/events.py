"""``EventBus``: the search's listeners run on their own thread, off the dispatch path.

Events are the typed records of ``cerebro.wire`` (``VisitStarted``, ``EpochEnd``...); the bus
hands each to every ``Listener`` by double dispatch (``event.deliver(listener)`` calls the
listener's method for that event's type). The hopper only puts events on a queue; a
background thread hands them, in order, to the listeners (console, records database,
MLflow). A listener that raises is logged and keeps getting the next events; one that
blocks delays only the listeners after it, never a worker. The same thread polls the
human-in-the-loop command source (a database query) at a bounded rate and queues what it
finds for the hopper, and runs the commands' acknowledgements, so no database round trip
happens between a worker's reply and its next visit.
"""

from __future__ import annotations

import dataclasses
import functools
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Optional, Union

from cerebro._logging import get_logger
from cerebro.wire import Ack, Command, Event, Listener

log = get_logger("engine")

CommandSource = Callable[[], Sequence[Command]]


@dataclasses.dataclass(frozen=True)
class _Call:
    """A function to run on the bus thread, in order with the events."""

    fn: Callable[..., object]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class _Stop:
    """The end of the queue."""


_Item = Union[Event, _Call, _Stop]


class EventBus:
    """Delivers events to listeners on a background thread.

    Args:
        listeners: Get every event, in this order (a user's plain ``(kind, payload)``
            callable comes wrapped: ``cerebro.wire.as_listener``).
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
        self._events: queue.Queue[_Item] = queue.Queue()
        self._commands: queue.Queue[Command] = queue.Queue()
        self._seen: set[int] = set()  # ids of commands handed out (their ack may be queued)
        self._thread = threading.Thread(target=self._loop, name="cerebro-events", daemon=True)
        self._closed = False
        self._thread.start()

    # -- producer side (the hopper's thread) --------------------------------------------------
    def emit(self, event: Event) -> None:
        """Queues an event; returns at once."""
        if not self._closed:
            self._events.put(event)

    __call__ = emit

    def call(self, fn: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """Runs ``fn`` on the bus thread, after the events queued so far."""
        if not self._closed:
            self._events.put(_Call(fn, args, kwargs))

    def pending_commands(self) -> list[Command]:
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
        self._events.put(_Stop())
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("listeners still busy after %.0f s; %d event(s) not delivered",
                        timeout, self._events.qsize())

    # -- the bus thread ------------------------------------------------------------------------
    def _loop(self) -> None:
        next_poll = time.monotonic()
        while True:
            wait = max(0.0, next_poll - time.monotonic()) if self.commands_source else None
            item: Optional[_Item]
            try:
                item = self._events.get(timeout=wait)
            except queue.Empty:
                item = None
            if isinstance(item, _Stop):
                return
            if item is not None:
                self._deliver(item)
            if self.commands_source is not None and time.monotonic() >= next_poll:
                self._poll()
                next_poll = time.monotonic() + self.poll_s

    def _deliver(self, item: Union[Event, _Call]) -> None:
        if isinstance(item, _Call):
            call = item
            self._guard(getattr(call.fn, "__name__", "callback"),
                        lambda: call.fn(*call.args, **call.kwargs))
            return
        event = item
        for listener in self.listeners:
            self._guard(event.name, functools.partial(event.deliver, listener))

    def _poll(self) -> None:
        source = self.commands_source
        assert source is not None
        found: list[Command] = []
        self._guard("commands", lambda: found.extend(source() or ()))
        for cmd in found:
            if cmd.id is not None:
                if cmd.id in self._seen:  # still PENDING until its queued ack runs
                    continue
                self._seen.add(cmd.id)
            if cmd.ack is not None:  # acknowledgements write to the database: on this thread
                cmd = dataclasses.replace(cmd, ack=self._deferred(cmd.ack))
            self._commands.put(cmd)
        if found and self.on_command is not None:  # (a repeat wakes it too: harmless)
            self._guard("wake", self.on_command)

    def _deferred(self, ack: Ack) -> Ack:
        """``ack`` made to run on the bus thread when called from another."""
        def later(ok: bool, message: str = "", model_id: Optional[str] = None) -> None:
            self.call(ack, ok, message, model_id)
        return later

    def _guard(self, what: str, fn: Callable[[], object]) -> None:
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - a listener must never stop a search
            self.errors += 1
            log.warning("listener failed on %s: %s: %s", what, type(e).__name__, e)
