"""The hopper's dispatch, epochs, results and pruning on a scripted pool (no Spark, virtual time)."""

from __future__ import annotations

import pytest

from cerebro.backend.scripted import Outcome
from cerebro.wire import EpochEnd, ModelStatus, VisitDone, VisitStarted
from cerebro.wire import ModelDone as ModelDoneEvent

from .conftest import Plan


def coverage(engine, model_id):
    """(epoch, kind) -> partitions visited, from the tasks the pool received."""
    out: dict = {}
    for _, t in engine.pool.tasks:
        if t.model_id == model_id:
            out.setdefault((t.epoch, t.kind), []).append(t.partition)
    return out


def test_every_model_visits_every_partition_once_per_epoch(engine):
    e = engine(num_workers=3)
    plan = Plan([(f"m{i}", 2) for i in range(5)], parallelism=3)
    stats = e.hopper.run(plan)
    assert sorted(plan.done) == [f"m{i}" for i in range(5)]
    for i in range(5):
        cov = coverage(e, f"m{i}")
        assert set(cov) == {(0, "train"), (0, "eval"), (1, "train"), (1, "eval")}
        assert all(sorted(p) == [0, 1, 2] for p in cov.values()), cov
        run = e.hopper.runs[f"m{i}"]
        assert run.status == ModelStatus.DONE and run.epochs_done == 2
        assert len(run.history["val_loss"]) == 2
    # a worker runs one visit at a time (the pool raises otherwise) and is rarely idle
    assert stats.wall_s > 0
    assert len(e.kinds(EpochEnd)) == 10


def test_best_epoch_state_and_final_state_are_kept_and_the_rest_pruned(engine):
    def script(worker, task):  # val_loss best at epoch 1 of 3
        loss = {0: 0.9, 1: 0.2, 2: 0.5}[task.epoch]
        return Outcome(metrics={"loss": loss})

    e = engine(num_workers=2, script=script)
    e.hopper.run(Plan([("m", 3)]))
    run = e.hopper.runs["m"]
    assert run.best_epoch == 1 and run.best_value == 0.2
    assert run.seq == 6  # 3 epochs x 2 partitions
    assert sorted(e.layout.states("m")) == [4, 6]  # the best epoch's last state, the final one
    assert run.result_state_key == e.layout.state_key("m", 4)
    (done,) = e.kinds(ModelDoneEvent)
    assert done.best_epoch == 1 and done.best_value == 0.2
    assert done.state_key == run.result_state_key
    assert [(x.epoch, x.best_epoch) for x in e.kinds(EpochEnd)] == [(0, 0), (1, 1), (2, 1)]


def test_a_failed_visit_fails_its_model_and_the_search_goes_on(engine):
    def script(worker, task):
        if task.model_id == "bad" and task.epoch == 1:
            return Outcome(error="ValueError: shapes (8, 3) and (4,) do not match")
        return Outcome()

    e = engine(num_workers=2, script=script)
    plan = Plan([("bad", 2), ("good", 2), ("next", 1)])
    e.hopper.run(plan)
    assert plan.failed == {"bad": "error"}
    assert sorted(plan.done) == ["good", "next"]
    assert e.hopper.runs["bad"].status == ModelStatus.FAILED
    assert "do not match" in e.hopper.runs["bad"].error
    assert e.layout.read_log("bad")["status"] == "FAILED"


def test_stop_at_an_epoch_end_frees_the_slot_for_the_next_model(engine):
    e = engine(num_workers=2)
    plan = Plan([("a", 5), ("b", 1)], parallelism=1, stop_after={"a": 2})
    e.hopper.run(plan)
    assert e.hopper.runs["a"].status == ModelStatus.STOPPED and e.hopper.runs["a"].epochs_done == 2
    assert plan.done == ["a", "b"]
    assert max(t.epoch for _, t in e.pool.tasks if t.model_id == "a") == 1  # no visit after
    assert len([t for _, t in e.pool.tasks if t.model_id == "b"]) == 4


def test_elastic_threads_a_lone_model_uses_the_idle_workers_cores(engine):
    """One model on two one-core workers of one host: each visit gets both cores; with two
    models each keeps its own; utilisation counts threads x compute seconds."""
    e = engine(num_workers=2, hosts={0: "h", 1: "h"}, cores={0: 1, 1: 1})
    stats = e.hopper.run(Plan([("big", 2)], parallelism=1))
    assert [t.threads for _, t in e.pool.tasks] == [2] * 8  # 2 epochs x (2 train + 2 eval)
    assert stats.cores == 2 and stats.core_s == 2 * stats.compute_s
    assert stats.utilisation(2) == pytest.approx(1.0)  # one 2-thread visit at a time
    assert {d.threads for d in e.kinds(VisitDone)} == {2}
    assert {s.threads for s in e.kinds(VisitStarted)} == {2}

    e2 = engine(num_workers=2, hosts={0: "h", 1: "h"}, cores={0: 1, 1: 1}, store_dir="s2")
    e2.hopper.run(Plan([("a", 1), ("b", 1)], parallelism=2))
    assert {t.threads for _, t in e2.pool.tasks} == {1}


def test_elastic_threads_are_off_when_the_pool_does_not_report_cores(engine):
    e = engine(num_workers=2)
    stats = e.hopper.run(Plan([("m", 1)], parallelism=1))
    assert {t.threads for _, t in e.pool.tasks} == {None}
    assert stats.utilisation(2) == pytest.approx(0.5)
