"""The event bus: typed events delivered by their type; listeners off the dispatch path; a
raising or blocking listener never stops or slows the search; commands are polled and handed
out once; a user's plain ``(kind, payload)`` callable works through one adapter."""

from __future__ import annotations

import dataclasses
import inspect
import threading
import time

import pytest

from cerebro import wire
from cerebro.engine import EventBus
from cerebro.wire import (CallableListener, Command, EpochEnd, Event, Listener, ModelDone,
                          VisitDone, as_listener, as_listeners)


class Seen(Listener):
    def __init__(self) -> None:
        self.done: list[VisitDone] = []
        self.other: list[Event] = []

    def on_visit_done(self, event: VisitDone) -> None:
        self.done.append(event)

    def on_event(self, event: Event) -> None:
        self.other.append(event)


def _done(i: int) -> VisitDone:
    return VisitDone("m", "train", i, 0, {"loss": 1.0}, 0.1)


def test_events_reach_the_method_of_their_type():
    seen = Seen()
    bus = EventBus([seen])
    bus.emit(_done(0))
    bus.emit(EpochEnd("m", 0, {"val_loss": 0.5}, 0, 0.5))
    bus.close()
    assert [e.epoch for e in seen.done] == [0]
    assert [type(e) for e in seen.other] == [EpochEnd]  # not overridden: the catch-all


def test_a_raising_listener_is_logged_and_keeps_getting_events(caplog):
    class Bad(Listener):
        def on_visit_done(self, event: VisitDone) -> None:
            raise RuntimeError("database is locked")

    seen = Seen()
    bus = EventBus([Bad(), seen])
    for i in range(3):
        bus.emit(_done(i))
    bus.close()
    assert [e.epoch for e in seen.done] == [0, 1, 2]
    assert bus.errors == 3 and "database is locked" in caplog.text


def test_a_blocking_listener_does_not_block_emit():
    release = threading.Event()

    class Slow(Listener):
        def on_event(self, event: Event) -> None:
            release.wait(5)

    bus = EventBus([Slow()])
    t0 = time.monotonic()
    for i in range(1000):
        bus.emit(_done(i))
    assert time.monotonic() - t0 < 0.5  # the hopper's side only queues
    release.set()
    bus.close()


def test_a_plain_callable_gets_kind_and_payload_through_the_adapter():
    got = []
    listener = as_listener(lambda kind, payload: got.append((kind, payload)))
    assert isinstance(listener, CallableListener) and as_listener(listener) is listener
    bus = EventBus([listener])
    bus.emit(ModelDone("m", best_epoch=1, best_value=0.2, state_key="runs/p/m/state-4.npz"))
    bus.emit(_done(3))
    bus.close()
    assert got[0] == ("model_done", {"model_id": "m", "status": "DONE", "best_epoch": 1,
                                     "best_value": 0.2, "state_key": "runs/p/m/state-4.npz",
                                     "stop_reason": ""})
    assert got[1][0] == "visit_done" and got[1][1]["epoch"] == 3
    assert isinstance(got[1][1]["metrics"], dict)
    with pytest.raises(TypeError, match="Listener or a callable"):
        as_listener("not a listener")  # type: ignore[arg-type]



def test_listener_mistakes_are_refused_up_front_naming_what_to_pass(tmp_path):
    """A one-argument callable, a Listener class, one listener not in a list: each a
    TypeError at the API boundary, not a warning per event in the listener thread."""
    from cerebro.storage import LocalStore
    from cerebro.tune import GridSearch, hp_choice

    def one_arg(event):
        pass

    with pytest.raises(TypeError, match=r"one_arg\(event\) must take two arguments.*payload"):
        as_listener(one_arg)
    with pytest.raises(TypeError, match=r"Seen is a class: pass an instance, Seen\(\)"):
        as_listener(Seen)  # type: ignore[arg-type]
    assert isinstance(as_listener(lambda kind, payload=None, *more: None), CallableListener)
    assert isinstance(as_listener(lambda *args: None), CallableListener)
    assert isinstance(as_listener(print), CallableListener)
    seen = Seen()
    assert as_listeners([seen, print])[0] is seen and as_listeners(()) == ()
    with pytest.raises(TypeError, match=r"listeners must be a list or tuple of listeners, got "
                                        r"function; for one listener pass listeners=\[\.\.\.\]"):
        GridSearch(None, LocalStore(str(tmp_path / "s")), lambda params: None,
                   {"lr": hp_choice([0.1])}, num_epochs=1,
                   listeners=lambda kind, payload: None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"listeners must be a list or tuple of listeners, got "
                                        r"str$"):
        as_listeners("console")  # type: ignore[arg-type]

def _events() -> list[type[Event]]:
    return [c for _, c in inspect.getmembers(wire, inspect.isclass)
            if issubclass(c, Event) and c is not Event]


@pytest.mark.parametrize("cls", _events(), ids=lambda c: c.__name__)
def test_every_event_is_frozen_named_and_has_its_own_listener_method(cls):
    """Adding an event is one dataclass (with ``kind`` and ``deliver``) + one method."""
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
    method = f"on_{cls.name}"
    assert callable(getattr(Listener, method, None)), f"Listener lacks {method}"
    assert cls.deliver is not Event.deliver
    assert method in inspect.getsource(cls.deliver)  # it calls its own method
    assert len({c.name for c in _events()}) == len(_events())


def test_commands_are_polled_and_handed_out_once_until_acked():
    acked = []

    def source():  # PENDING until the ack has run
        return [] if acked else [Command("stop", "m", id=7,
                                         ack=lambda ok, message="", model_id=None: acked.append(ok))]

    woke = threading.Event()
    bus = EventBus([], commands=source, poll_s=0.01, on_command=woke.set)
    assert woke.wait(2)
    time.sleep(0.1)  # several polls see the same PENDING row
    first = bus.pending_commands()
    assert [c.id for c in first] == [7]
    assert first[0].ack is not None
    first[0].ack(True, "stopped")
    time.sleep(0.1)
    assert bus.pending_commands() == [] and acked == [True]
    bus.close()
