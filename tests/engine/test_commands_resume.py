"""Human-in-the-loop commands and resume from ``log.json``, on a scripted pool."""

from __future__ import annotations

import pytest

from cerebro.backend.scripted import Outcome
from cerebro.wire import Command, ModelResumed, ModelStatus

from .conftest import Plan, add


class Inbox:
    """A command source: ``queue(action, ...)`` at a given visit count; acks are collected."""

    def __init__(self, engine_ref):
        self.engine_ref, self.at, self.acks = engine_ref, [], []

    def queue(self, after_visits: int, **cmd):
        self.at.append((after_visits, cmd))

    def __call__(self):
        n = len(self.engine_ref[0].pool.tasks)
        due = [c for k, c in self.at if n >= k]
        self.at = [(k, c) for k, c in self.at if n < k]
        return [Command(**c, ack=lambda ok, message="", model_id=None, c=c:
                        self.acks.append((c["action"], ok, message, model_id))) for c in due]


@pytest.fixture
def hil(engine):
    ref: list = []
    inbox = Inbox(ref)
    e = engine(num_workers=2, commands=inbox)
    ref.append(e)
    return e, inbox


def test_stop_applies_at_the_next_sub_epoch_boundary(hil):
    e, inbox = hil
    inbox.queue(3, action="stop", model_id="a")
    plan = Plan([("a", 10), ("b", 2)])
    e.hopper.run(plan)
    a = e.hopper.runs["a"]
    assert a.status == ModelStatus.STOPPED and a.epochs_done < 10
    assert inbox.acks[0][:2] == ("stop", True)
    assert sum(1 for _, t in e.pool.tasks if t.model_id == "a") <= 3 + 2  # at most in flight
    assert "a" in plan.done and "b" in plan.done


def test_resume_add_and_rejections(hil):
    e, inbox = hil
    inbox.queue(2, action="stop", model_id="a")
    inbox.queue(6, action="resume", model_id="a", epochs=1)
    inbox.queue(6, action="add", params={"epochs": 1})
    inbox.queue(6, action="stop", model_id="nope")
    inbox.queue(6, action="fly", model_id="a")
    e.hopper.run(Plan([("a", 10), ("b", 3)]))
    by_action = {a: (ok, msg, mid) for a, ok, msg, mid in inbox.acks}
    assert by_action["resume"][0] is True
    assert by_action["add"][0] is True and by_action["add"][2] == "manual_0"
    assert e.hopper.runs["manual_0"].status == ModelStatus.DONE
    rejected = [(a, msg) for a, ok, msg, _ in inbox.acks if not ok]
    assert ("stop", "no model 'nope' in this search") in rejected
    assert any(a == "fly" and "unknown action" in msg for a, msg in rejected)
    a = e.hopper.runs["a"]
    assert a.status == ModelStatus.DONE and a.epochs_done == len(a.history["val_loss"])
    assert e.kinds(ModelResumed)[0].model_id == "a"


class Crash(Exception):
    pass


def test_resume_from_the_log_continues_the_same_visit_order(engine):
    # an undisturbed run: the reference visit order
    ref = engine(num_workers=2, store_dir="ref")
    ref.hopper.run(Plan([("m", 3)]))
    order = [(t.epoch, t.kind, t.partition, t.seed) for _, t in ref.pool.tasks]

    # a driver that dies after 7 visits...
    def dying(worker, task, n=[0]):  # noqa: B006 - a counter
        n[0] += 1
        if n[0] == 8:
            raise Crash("driver killed")
        return Outcome()

    first = engine(num_workers=2, script=dying, store_dir="run")
    with pytest.raises(Crash):
        first.hopper.run(Plan([("m", 3)]))
    log = first.layout.read_log("m")
    committed = sum(len(p) for p in log["visit_log"].values())
    assert 0 < committed < 6

    # ...and a rerun on the same store picks up from the last committed sub-epoch
    again = engine(num_workers=2, store_dir="run")

    class Resume(Plan):
        def refill(self, hopper):
            if self.models:
                self.models.clear()
                add(hopper, "m", 3, resume=again.layout.read_log("m"))

    again.hopper.run(Resume([("m", 3)]))
    redone = [(t.epoch, t.kind, t.partition, t.seed) for _, t in again.pool.tasks]
    train_done = [o for o in order if o[1] == "train"][:committed]
    assert [o for o in redone if o[1] == "train"] == [o for o in order if o[1] == "train"][
        committed:]
    assert set(train_done).isdisjoint(redone)
    run = again.hopper.runs["m"]
    assert run.status == ModelStatus.DONE and run.epochs_done == 3
    assert {e: sorted(p) for e, p in run.visit_log.items()} == {0: [0, 1], 1: [0, 1], 2: [0, 1]}
