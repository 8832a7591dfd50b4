"""The event bus: listeners off the dispatch path; a raising or blocking listener never
stops or slows the search; commands are polled and handed out once."""

from __future__ import annotations

import threading
import time

from cerebro.engine import EventBus


def test_a_raising_listener_is_logged_and_keeps_getting_events(caplog):
    got = []

    def bad(kind, payload):
        raise RuntimeError("database is locked")

    bus = EventBus([bad, lambda k, p: got.append(k)])
    for i in range(3):
        bus.emit("visit_done", {"i": i})
    bus.close()
    assert got == ["visit_done"] * 3
    assert bus.errors == 3 and "database is locked" in caplog.text


def test_a_blocking_listener_does_not_block_emit():
    release = threading.Event()
    bus = EventBus([lambda k, p: release.wait(5)])
    t0 = time.monotonic()
    for i in range(1000):
        bus.emit("visit_done", {"i": i})
    assert time.monotonic() - t0 < 0.5  # the hopper's side only queues
    release.set()
    bus.close()


def test_commands_are_polled_and_handed_out_once_until_acked():
    acked = []
    rows = [{"id": 7, "action": "stop", "model_id": "m",
             "ack": lambda ok, message="", model_id=None: acked.append(ok)}]

    def source():
        return [dict(r) for r in rows if not acked]  # PENDING until the ack has run

    woke = threading.Event()
    bus = EventBus([], commands=source, poll_s=0.01, on_command=woke.set)
    assert woke.wait(2)
    time.sleep(0.1)  # several polls see the same PENDING row
    first = bus.pending_commands()
    assert [c["id"] for c in first] == [7]
    first[0]["ack"](True, "stopped")
    time.sleep(0.1)
    assert bus.pending_commands() == [] and acked == [True]
    bus.close()
