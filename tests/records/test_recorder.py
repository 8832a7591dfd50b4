"""The Recorder turns hopper events into rows; the search wiring; commands and their acks."""

from __future__ import annotations

import logging
import math

import pytest
from sqlalchemy import text

from cerebro.records import RecordsDB, Recorder, queries, record_search
from cerebro.records.recorder import jsonable
from cerebro.wire import (EpochEnd, FailReason, LostReason, ModelAdded,
                          ModelDone, ModelFailed, ModelResumed, ModelStatus, VisitDone, VisitLost,
                          VisitStarted, WorkersRestarted)


def feed(rec: Recorder, model_id: str, epochs: int, metric=lambda e: 0.5 + e / 10,
         workers: int = 2) -> None:
    """A model's events as the engine sends them (its best by the recorder's objective)."""
    rec.on_model_added(ModelAdded(model_id, epochs=epochs))
    history = []
    for e in range(epochs):
        for kind in ("train", "eval"):
            for w in range(workers):
                rec.on_visit_done(VisitDone(model_id, kind, e, w, {"loss": 1.0}, 0.01))
        history.append({"val_accuracy": metric(e), "val_loss": 1 - metric(e),
                        "train_loss": float("nan")})
        values = [h[rec.metric] for h in history]
        best = values.index(max(values) if rec.direction == "max" else min(values))
        rec.on_epoch_end(EpochEnd(model_id, e, history[-1], best, values[best]))


@pytest.fixture
def db(tmp_path):
    return RecordsDB(str(tmp_path))


def test_events_become_rows(db):
    params = {"m0": {"units": 8, "lr": 0.01}, "m1": {"units": 16, "lr": 0.001}}
    rec = Recorder(db, "exp", metric="val_accuracy", num_workers=2, budget=3,
                   params=lambda mid: params.get(mid, {}), config={"epochs": 2})
    feed(rec, "m0", 2)
    feed(rec, "m1", 2, metric=lambda e: 0.7 + e / 10)
    rec.on_model_done(ModelDone("m0", status=ModelStatus.DONE))
    rec.on_model_done(ModelDone("m1", status=ModelStatus.STOPPED))
    rec.on_model_added(ModelAdded("m2", epochs=2))
    rec.on_model_failed(ModelFailed("m2", error="ValueError: boom"))
    rec.on_workers_restarted(WorkersRestarted("m0", worker=0, restarts=1))  # nothing open
    rec.done({"utilisation": 0.9})
    rec.close()

    [exp] = queries.list_experiments(db)
    assert exp["status"] == "DONE" and exp["budget"] == 3 and exp["config"] == {"epochs": 2}
    assert exp["stats"] == {"utilisation": 0.9}
    assert exp["trial_status"] == {"DONE": 1, "STOPPED": 1, "FAILED": 1}
    trials = queries.list_trials(db, exp["id"])
    assert [t["model_id"] for t in trials] == ["m1", "m0", "m2"]  # best val_accuracy first
    assert trials[0]["hyperparameters"] == {"units": 16, "lr": 0.001}
    assert trials[0]["metrics"]["train_loss"] is None  # NaN is stored as NULL
    assert trials[2]["error"] == "ValueError: boom" and trials[2]["epochs_done"] == 0
    hist = queries.histories(db, exp["id"])
    assert hist["m0"]["val_accuracy"] == pytest.approx([0.5, 0.6])
    assert queries.get_experiment(db, exp["id"])["best"]["model_id"] == "m1"
    visits = queries.schedule(db, exp["id"])
    assert len(visits) == 2 * 2 * 2 * 2
    assert {v["epoch"] for v in visits} == {1, 2}
    assert queries.metric_names(db, exp["id"])[:2] == ["val_accuracy", "val_loss"]


def test_sorting_by_metric_hyperparameter_and_field(db):
    rec = Recorder(db, "exp", metric="val_loss", params=lambda mid: {"units": int(mid[1:])})
    for i, units in enumerate((32, 8, 16)):
        feed(rec, f"m{units}", 1, metric=lambda e, i=i: 0.1 * (i + 1))
    eid = rec.experiment_id
    ids = lambda **kw: [t["model_id"] for t in queries.list_trials(db, eid, **kw)]  # noqa: E731
    assert ids() == ["m16", "m8", "m32"]  # val_loss = 1 - metric: lowest first
    assert ids(sort="val_accuracy") == ["m16", "m8", "m32"]  # maximised: highest first
    assert ids(sort="val_accuracy", order="asc") == ["m32", "m8", "m16"]
    assert ids(sort="hp.units") == ["m8", "m16", "m32"]
    assert ids(sort="hp.units", order="desc") == ["m32", "m16", "m8"]
    assert ids(sort="model_id") == ["m16", "m32", "m8"]
    assert ids(sort="no_such_metric") == ["m32", "m8", "m16"]  # all missing: stable


def test_resume_and_commands_with_acks(db):
    rec = Recorder(db, "exp")
    feed(rec, "m0", 1)
    rec.on_model_done(ModelDone("m0", status=ModelStatus.STOPPED))
    eid = rec.experiment_id
    with db.session() as s:  # planned 3 epochs, stopped after 1
        s.execute(text("UPDATE trials SET epochs_planned = 3"))
    stop = queries.add_command(db, eid, "stop", "m0")
    resume = queries.add_command(db, eid, "resume", "m0")
    add = queries.add_command(db, eid, "add", params={"units": 4})
    cmds = rec.commands()
    assert [c.action for c in cmds] == ["stop", "resume", "add"]
    assert cmds[1].epochs == 2  # what was left of the plan
    assert cmds[2].params == {"units": 4}
    acks = [c.ack for c in cmds if c.ack is not None]
    acks[0](False, "m0 is STOPPED, not running")
    acks[1](True, "resumed")
    acks[2](True, "added m1", "m1")
    rec.on_model_resumed(ModelResumed("m0", epochs=3))
    assert rec.commands() == []
    assert queries.get_command(db, stop["id"])["status"] == "REJECTED"
    assert queries.get_command(db, resume["id"])["status"] == "APPLIED"
    assert queries.get_command(db, add["id"])["model_id"] == "m1"
    assert queries.list_trials(db, eid)[0]["status"] == "RUNNING"


def test_add_command_validation(db):
    rec = Recorder(db, "exp")
    feed(rec, "m0", 1)
    eid = rec.experiment_id
    with pytest.raises(ValueError, match="action"):
        queries.add_command(db, eid, "explode", "m0")
    with pytest.raises(ValueError, match="model_id"):
        queries.add_command(db, eid, "stop")
    with pytest.raises(queries.NotFound):
        queries.add_command(db, eid, "stop", "nope")
    with pytest.raises(ValueError, match="params"):
        queries.add_command(db, eid, "add")
    with pytest.raises(queries.NotFound):
        queries.add_command(db, eid + 1, "stop", "m0")
    rec.close()  # without done(): the search failed
    with pytest.raises(ValueError, match="not running"):
        queries.add_command(db, eid, "stop", "m0")


def test_close_without_done_marks_failure_and_rejects_pending(db):
    rec = Recorder(db, "exp")
    feed(rec, "m0", 1)
    cmd = queries.add_command(db, rec.experiment_id, "stop", "m0")
    rec.close()
    exp = queries.get_experiment(db, rec.experiment_id)
    assert exp["status"] == "FAILED" and exp["ended_at"]
    assert queries.list_trials(db, rec.experiment_id)[0]["status"] == "FAILED"
    assert queries.get_command(db, cmd["id"])["status"] == "REJECTED"


def test_a_database_error_never_reaches_the_search(db, caplog):
    rec = Recorder(db, "exp")
    with db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE visits")
    with caplog.at_level(logging.WARNING, logger="cerebro.records"):
        rec.on_visit_done(VisitDone("m0", "train", 0, 0, {}, 0.1))
    assert "could not record visit_done" in caplog.text
    rec.on_epoch_end(EpochEnd("m0", epoch=0, metrics={"val_loss": 0.3}))
    assert queries.list_trials(db, rec.experiment_id)[0]["epochs_done"] == 1


def test_record_search_wiring(tmp_path, monkeypatch):
    from cerebro.storage import LocalStore

    store = LocalStore(str(tmp_path / "store"))
    rec = record_search(store, "s", metric="val_loss")
    assert rec.listeners == [rec.recorder]
    rec.recorder.on_model_added(ModelAdded("m", epochs=1))
    assert rec.commands() == []
    rec.done({"wall_s": 1.0})
    rec.close()
    db = RecordsDB(store)
    assert queries.list_experiments(db)[0]["status"] == "DONE"

    monkeypatch.setenv("CEREBRO_RECORDS", "off")
    off = record_search(store, "s")
    assert off.recorder is None and off.commands is None and off.experiment_id is None
    assert off.listeners == []
    off.done()
    off.close()
    assert queries.list_trials(db, queries.list_experiments(db)[0]["id"])[0]["model_id"] == "m"

    other = tmp_path / "elsewhere.db"
    monkeypatch.setenv("CEREBRO_RECORDS", f"sqlite:///{other}")
    record_search(store, "s2").close()
    assert queries.list_experiments(RecordsDB(str(other)))[0]["name"] == "s2"

    monkeypatch.delenv("CEREBRO_RECORDS")
    (tmp_path / "file").write_text("")
    broken = record_search(store, "s3", records=str(tmp_path / "file" / "x.db"))
    assert broken.recorder is None  # cannot be opened: the search runs without records


def test_jsonable():
    import numpy as np

    assert jsonable({"a": np.float32(0.5), "b": np.int64(3), "c": (1, 2), "d": math.inf,
                     1: {"x": float("nan")}}) == {"a": 0.5, "b": 3, "c": [1, 2], "d": None,
                                                  "1": {"x": None}}


def test_every_contract_event_is_recorded(db):
    """Today's events and the contract's richer ones (best, memory, keys, summary, loss)."""
    rec = Recorder(db, "proj", metric="val_loss", config={"objective": {"name": "val_loss",
                                                                          "direction": "min"}})
    rec.on_model_added(ModelAdded("t0", 3, {"units": 8}, "runs/proj/t0/model.keras",
                                  "Model: t0 ..."))
    rec.on_visit_started(VisitStarted("t0", kind="train", epoch=0, partition=1, deadline_s=30.0))
    eid = rec.experiment_id
    [open_] = queries.schedule(db, eid)
    assert open_["end_s"] is None and open_["status"] == "running" and open_["deadline_s"] == 30
    rec.on_visit_done(VisitDone("t0", "train", 0, 1, {}, 0.5, peak_rss_bytes=300 * 2**20))
    rec.on_visit_started(VisitStarted("t0", kind="eval", epoch=0, partition=0))
    rec.on_visit_lost(VisitLost("t0", "eval", 0, 0, LostReason.MEMORY, "killed"))
    for e, loss, best in ((0, 0.5, 0), (1, 0.3, 1), (2, 0.4, 1)):
        rec.on_epoch_end(EpochEnd("t0", e, {"val_loss": loss}, best, min(0.5, 0.3, loss)))
    rec.on_model_done(ModelDone("t0", ModelStatus.DONE, 1, 0.3, "runs/proj/t0/state-000004.npz"))
    visits = queries.schedule(db, eid)
    assert [(v["status"], v["lost_reason"]) for v in visits] == [("done", None),
                                                                  ("lost", "memory")]
    assert visits[0]["peak_rss_bytes"] == 300 * 2**20 and visits[0]["end_s"] >= 0
    t = queries.get_trial(db, queries.list_trials(db, eid)[0]["id"])
    assert (t["best_epoch"], t["best_value"]) == (2, pytest.approx(0.3))  # min, 1-based
    assert t["hyperparameters"] == {"units": 8} and t["summary"] == "Model: t0 ..."
    assert t["spec_key"] == "runs/proj/t0/model.keras"
    assert t["state_key"] == "runs/proj/t0/state-000004.npz"
    assert t["peak_rss_bytes"] == 300 * 2**20 and t["compute_s"] == pytest.approx(0.5)
    assert t["started_at"] and t["duration_s"] >= 0

    # the engine's best (0-based epoch in the event) is stored as given: never recomputed
    rec.on_model_added(ModelAdded("t1", epochs=2))
    rec.on_epoch_end(EpochEnd("t1", 0, {"val_loss": 0.2}, best_epoch=0, best_value=0.2))
    rec.on_epoch_end(EpochEnd("t1", 1, {"val_loss": 0.1}, best_epoch=0, best_value=0.2))
    # an epoch without the objective (best_value None) leaves the best as it was
    rec.on_epoch_end(EpochEnd("t1", 2, {"loss": 0.1}, best_epoch=0, best_value=None))
    rec.on_model_failed(ModelFailed("t1", error="boom", reason=FailReason.MEMORY))
    t1 = next(x for x in queries.list_trials(db, eid) if x["model_id"] == "t1")
    assert (t1["best_epoch"], t1["best_value"]) == (1, 0.2)
    assert t1["fail_reason"] == "memory" and t1["status"] == "FAILED"
    exp = queries.get_experiment(db, eid)
    assert exp["direction"] == "min" and exp["best_model_id"] == "t1"

def test_reopening_and_overwriting_an_experiment(db):
    first = Recorder(db, "proj", metric="val_accuracy")
    feed(first, "t0", 2)
    first.close()  # interrupted: FAILED
    eid = first.experiment_id
    again = Recorder(db, "proj", metric="val_accuracy", on_existing="resume")
    assert again.experiment_id == eid
    assert queries.get_experiment(db, eid)["status"] == "RUNNING"
    again.on_model_added(ModelAdded("t0", 3))
    again.on_epoch_end(EpochEnd("t0", 1, {"val_accuracy": 0.9}, best_epoch=1, best_value=0.9))
    again.on_epoch_end(EpochEnd("t0", 2, {"val_accuracy": 0.8}, best_epoch=1, best_value=0.9))
    again.done()
    t = queries.list_trials(db, eid)[0]
    assert t["epochs_done"] == 3 and (t["best_epoch"], t["best_value"]) == (2, 0.9)
    assert queries.histories(db, eid)["t0"]["val_accuracy"] == pytest.approx([0.5, 0.9, 0.8])

    Recorder(db, "other").close()
    fresh = Recorder(db, "proj", on_existing="overwrite")
    assert fresh.experiment_id != eid
    assert sorted(e["name"] for e in queries.list_experiments(db)) == ["other", "proj"]
    assert queries.list_trials(db, fresh.experiment_id) == []
    with pytest.raises(queries.NotFound):
        queries.get_experiment(db, eid)
    extra = Recorder(db, "proj", on_existing="new")
    assert len([e for e in queries.list_experiments(db) if e["name"] == "proj"]) == 2
    assert queries.resolve_experiment(db, "proj") == extra.experiment_id
    with pytest.raises(ValueError, match="on_existing"):
        Recorder(db, "proj", on_existing="append")


def test_unknown_experiment_lists_the_choices(db):
    Recorder(db, "alpha").close()
    with pytest.raises(queries.NotFound) as e:
        queries.resolve_experiment(db, "beta")
    assert e.value.choices[0][1] == "alpha" and "alpha" in str(e.value)
