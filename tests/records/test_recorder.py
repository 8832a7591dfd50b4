"""The Recorder turns hopper events into rows; the search wiring; commands and their acks."""

from __future__ import annotations

import logging
import math

import pytest
from sqlalchemy import text

from cerebro.records import RecordsDB, Recorder, fan_out, queries, record_search
from cerebro.records.recorder import jsonable


def feed(rec: Recorder, model_id: str, epochs: int, metric=lambda e: 0.5 + e / 10,
         workers: int = 2) -> None:
    rec("model_added", {"model_id": model_id, "epochs": epochs})
    for e in range(epochs):
        for kind in ("train", "eval"):
            for w in range(workers):
                rec("visit_done", {"model_id": model_id, "kind": kind, "epoch": e, "partition": w,
                                   "metrics": {"loss": 1.0}, "seconds": 0.01})
        rec("epoch_end", {"model_id": model_id, "epoch": e,
                          "metrics": {"val_accuracy": metric(e), "val_loss": 1 - metric(e),
                                      "train_loss": float("nan")}})


@pytest.fixture
def db(tmp_path):
    return RecordsDB(str(tmp_path))


def test_events_become_rows(db):
    params = {"m0": {"units": 8, "lr": 0.01}, "m1": {"units": 16, "lr": 0.001}}
    rec = Recorder(db, "exp", metric="val_accuracy", num_workers=2, budget=3,
                   params=lambda mid: params.get(mid, {}), config={"epochs": 2})
    feed(rec, "m0", 2)
    feed(rec, "m1", 2, metric=lambda e: 0.7 + e / 10)
    rec("model_done", {"model_id": "m0", "status": "DONE"})
    rec("model_done", {"model_id": "m1", "status": "STOPPED"})
    rec("model_added", {"model_id": "m2", "epochs": 2})
    rec("model_failed", {"model_id": "m2", "error": "ValueError: boom"})
    rec("workers_restarted", {"model_id": "m0"})  # an event the recorder ignores
    rec.done({"utilisation": 0.9})
    rec.close()

    [exp] = queries.list_experiments(db)
    assert exp["status"] == "DONE" and exp["budget"] == 3 and exp["config"] == {"epochs": 2}
    assert exp["stats"] == {"utilisation": 0.9}
    assert exp["trial_status"] == {"RUNNING": 0, "DONE": 1, "STOPPED": 1, "FAILED": 1}
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
    rec("model_done", {"model_id": "m0", "status": "STOPPED"})
    eid = rec.experiment_id
    with db.session() as s:  # planned 3 epochs, stopped after 1
        s.execute(text("UPDATE trials SET epochs_planned = 3"))
    stop = queries.add_command(db, eid, "stop", "m0")
    resume = queries.add_command(db, eid, "resume", "m0")
    add = queries.add_command(db, eid, "add", params={"units": 4})
    cmds = rec.commands()
    assert [c["action"] for c in cmds] == ["stop", "resume", "add"]
    assert cmds[1]["epochs"] == 2  # what was left of the plan
    assert cmds[2]["params"] == {"units": 4}
    cmds[0]["ack"](False, "m0 is STOPPED, not running")
    cmds[1]["ack"](True, "resumed")
    cmds[2]["ack"](True, "added m1", "m1")
    rec("model_resumed", {"model_id": "m0", "epochs": 3})
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
        rec("visit_done", {"model_id": "m0", "kind": "train", "epoch": 0, "partition": 0,
                           "metrics": {}, "seconds": 0.1})
    assert "could not record visit_done" in caplog.text
    rec("epoch_end", {"model_id": "m0", "epoch": 0, "metrics": {"val_loss": 0.3}})
    assert queries.list_trials(db, rec.experiment_id)[0]["epochs_done"] == 1


def test_record_search_wiring(tmp_path, monkeypatch):
    from cerebro.storage import LocalStore

    seen = []
    store = LocalStore(str(tmp_path / "store"))
    rec = record_search(store, "s", listeners=(lambda k, p: seen.append(k),), metric="val_loss")
    rec.listener("model_added", {"model_id": "m", "epochs": 1})
    assert seen == ["model_added"] and rec.commands() == []
    rec.done({"wall_s": 1.0})
    rec.close()
    db = RecordsDB(store)
    assert queries.list_experiments(db)[0]["status"] == "DONE"

    monkeypatch.setenv("CEREBRO_RECORDS", "off")
    off = record_search(store, "s", listeners=(lambda k, p: seen.append(k),))
    assert off.recorder is None and off.commands is None and off.experiment_id is None
    off.listener("model_done", {"model_id": "m"})
    off.done()
    off.close()
    assert seen[-1] == "model_done"

    other = tmp_path / "elsewhere.db"
    monkeypatch.setenv("CEREBRO_RECORDS", f"sqlite:///{other}")
    record_search(store, "s2").close()
    assert queries.list_experiments(RecordsDB(str(other)))[0]["name"] == "s2"

    monkeypatch.delenv("CEREBRO_RECORDS")
    (tmp_path / "file").write_text("")
    broken = record_search(store, "s3", records=str(tmp_path / "file" / "x.db"))
    assert broken.recorder is None  # cannot be opened: the search runs without records


def test_fan_out_and_jsonable():
    import numpy as np

    calls = []
    fan_out(None, lambda k, p: calls.append(1), lambda k, p: calls.append(2))("e", {})
    assert calls == [1, 2]
    assert jsonable({"a": np.float32(0.5), "b": np.int64(3), "c": (1, 2), "d": math.inf,
                     1: {"x": float("nan")}}) == {"a": 0.5, "b": 3, "c": [1, 2], "d": None,
                                                  "1": {"x": None}}
