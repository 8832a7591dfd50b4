"""Lost, hung and out-of-memory workers on a scripted pool: restart, retry, give up."""

from __future__ import annotations

import pytest

from cerebro.backend.scripted import Outcome
from cerebro.engine import LivenessPolicy, WorkersFailed
from cerebro.wire import LostReason, ModelStatus, VisitLost, VisitStarted

from .conftest import Plan, lose_once


def visits(engine, model_id):
    return [(t.epoch, t.kind, t.partition) for _, t in engine.pool.tasks if t.model_id == model_id]


def test_a_lost_worker_is_restarted_alone_and_the_visit_retried_once(engine):
    e = engine(num_workers=2, script=lose_once(lambda t: t.model_id == "a" and t.epoch == 1
                                               and t.kind == "train"))
    plan = Plan([("a", 2), ("b", 2)])
    e.hopper.run(plan)
    assert sorted(plan.done) == ["a", "b"] and not plan.failed
    assert len(e.pool.restarted) == 1 and e.supervisor.restarts == 1
    a = visits(e, "a")
    assert len(a) == 9  # 2 epochs x (2 train + 2 eval) + the one redone
    assert len(set(a)) == 8  # ...and it is the same visit again
    lost = e.kinds(VisitLost)
    assert len(lost) == 1 and lost[0].model_id == "a" and lost[0].reason == LostReason.EXITED
    assert {ep: sorted(p) for ep, p in e.hopper.runs["a"].visit_log.items()} == {0: [0, 1],
                                                                               1: [0, 1]}
    assert e.hopper.stats.lost == 1


def test_the_retry_starts_from_the_last_committed_state(engine):
    e = engine(num_workers=2, script=lose_once(lambda t: t.model_id == "a" and t.epoch == 1
                                               and t.kind == "train"))
    e.hopper.run(Plan([("a", 2)]))
    tries = [t for _, t in e.pool.tasks if t.model_id == "a" and t.epoch == 1 and t.kind == "train"]
    lost, again = tries[0], next(t for t in tries[1:] if t.partition == tries[0].partition)
    assert again.state_key == lost.state_key and again.out_key == lost.out_key
    assert again.seed == lost.seed  # same shuffle and dropout: the redone visit is the same


def test_max_restarts_ends_the_search_with_the_reason(engine):
    e = engine(num_workers=2, max_restarts=3,
               script=lambda w, t: Outcome(lost=LostReason.EXITED) if t.kind == "train"
               else Outcome())
    with pytest.raises(WorkersFailed, match="max_restarts=3|cannot run"):
        e.hopper.run(Plan([(f"m{i}", 1) for i in range(6)], parallelism=6))
    assert e.pool.closed


def test_workers_that_die_as_they_start_end_the_search(engine):
    e = engine(num_workers=1, max_restarts=100,
               script=lambda w, t: Outcome(lost=LostReason.EXITED))
    with pytest.raises(WorkersFailed, match="before completing a visit"):
        e.hopper.run(Plan([(f"m{i}", 1) for i in range(20)], parallelism=20))
    assert len(e.pool.restarted) <= 4


def test_a_model_that_keeps_losing_its_worker_fails_and_the_search_goes_on(engine):
    def script(worker, task):
        if task.model_id == "cursed" and task.kind == "train":
            return Outcome(lost=LostReason.EXITED)
        return Outcome()

    e = engine(num_workers=2, script=script)
    plan = Plan([("cursed", 1), ("ok", 2), ("after", 1)])
    e.hopper.run(plan)
    assert plan.failed == {"cursed": "lost"}
    assert sorted(plan.done) == ["after", "ok"]
    assert "lost 3 times" in e.hopper.runs["cursed"].error


def test_out_of_memory_twice_fails_the_model_naming_memory(engine):
    def script(worker, task):
        if task.model_id == "huge":
            return Outcome(lost=LostReason.MEMORY, peak_rss_bytes=30 * 2**30)
        return Outcome(peak_rss_bytes=2**30)

    e = engine(num_workers=2, script=script, hosts={0: "h", 1: "h"},
               memory_budgets={"h": 16 * 2**30}, idle_rss={0: 2**29, 1: 2**29})
    plan = Plan([("huge", 1), ("small", 2)])
    e.hopper.run(plan)
    assert plan.failed == {"huge": "memory"}
    assert "out of memory" in e.hopper.runs["huge"].error
    assert plan.done == ["small"] and e.hopper.runs["small"].status == ModelStatus.DONE
    assert sum(1 for _, t in e.pool.tasks if t.model_id == "huge") == 2  # tried, retried once


def test_a_hung_visit_times_out_and_costs_one_sub_epoch(engine):
    liveness = LivenessPolicy(factor=3.0, floor_s=5.0, first_visit_s=10.0)
    e = engine(num_workers=2, liveness=liveness,
               script=lose_once(lambda t: t.model_id == "a" and t.epoch == 2
                                and t.kind == "train", hang=True))
    plan = Plan([("a", 3), ("b", 3)])
    e.hopper.run(plan)
    assert sorted(plan.done) == ["a", "b"]
    lost = e.kinds(VisitLost)
    assert [x.reason for x in lost] == [LostReason.HUNG] and "deadline" in lost[0].error
    a = visits(e, "a")
    assert len(a) == 12 + 1  # exactly one sub-epoch redone
    # the deadline came from the model's own visits (1 s each): the floor, 5 s
    started = [x for x in e.kinds(VisitStarted) if x.model_id == "a" and x.epoch == 2]
    assert started[0].deadline_s == 5.0
    assert e.hopper.runs["a"].epochs_done == 3


def test_a_user_timeout_overrides_the_derived_deadline(engine):
    e = engine(num_workers=1, liveness=LivenessPolicy(timeout_s=42.0),
               script=lose_once(lambda t: t.kind == "train", hang=True))
    t0 = e.pool.clock()
    e.hopper.run(Plan([("a", 1)]))
    assert e.kinds(VisitStarted)[0].deadline_s == 42.0
    assert e.pool.clock() - t0 >= 42.0
