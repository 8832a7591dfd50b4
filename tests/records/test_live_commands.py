"""Human-in-the-loop actions through the dashboard API on a running search (Spark local mode).

A GridSearch runs in a background thread; the test posts stop / add / resume commands to the
REST API, and the search applies each at its next sub-epoch boundary.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from cerebro.records import RecordsDB, queries
from cerebro.records.models import Trial, Visit

from .conftest import grid_search

pytestmark = pytest.mark.slow

EPOCHS = 30  # far more than the test lets run: every model ends by a command
TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def wait_for(predicate, what: str, timeout: float = 300.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except OperationalError:  # the search is still creating the database
            value = None
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def test_stop_add_resume_reach_the_running_search(spark, digits_df, tmp_path):
    from fastapi.testclient import TestClient

    from cerebro.dashboard import create_app
    from cerebro.storage import LocalStore

    store = LocalStore(str(tmp_path / "store"))
    search = grid_search(spark, store, units=(8, 16), epochs=EPOCHS)
    out: dict = {}

    def run():
        try:
            out["result"] = search.fit(digits_df)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            out["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    wait_for(lambda: store.exists("cerebro.db"), "the records database")
    db = RecordsDB(store)
    eid = wait_for(lambda: queries.list_experiments(db) and queries.list_experiments(db)[0]["id"],
                   "the experiment row")
    client = TestClient(create_app(db, token=TOKEN))
    first, second = f"{search.run_id}_000", f"{search.run_id}_001"

    def trial(model_id):
        return {t["model_id"]: t for t in client.get(
            f"/api/experiments/{eid}/trials", headers=AUTH).json()}.get(model_id)

    def command(body, expect="APPLIED"):
        r = client.post(f"/api/experiments/{eid}/commands", json=body, headers=AUTH)
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        done = wait_for(lambda: (c := client.get(f"/api/commands/{cid}", headers=AUTH).json())
                        ["status"] != "PENDING" and c, f"command {body}")
        assert done["status"] == expect, done
        return done

    def visits_of(model_id):
        with db.session() as s:
            return s.scalar(select(func.count()).select_from(Visit).join(Trial).where(
                Trial.experiment_id == eid, Trial.model_id == model_id))

    wait_for(lambda: (t := trial(first)) and t["epochs_done"] >= 1, "an epoch of the first model")

    # stop: applied at the next sub-epoch boundary, so a visit in flight may complete but none
    # starts after it. The command's ack is written on the records thread behind every
    # ``visit_started`` emitted before it, so once it reads APPLIED the start rows are all in.
    r = client.post(f"/api/experiments/{eid}/commands", json={"action": "stop", "model_id": first},
                    headers=AUTH)
    assert r.status_code == 201 and r.json()["status"] == "PENDING"
    before = visits_of(first)
    cid = r.json()["id"]
    applied = wait_for(lambda: (c := client.get(f"/api/commands/{cid}", headers=AUTH).json())
                       ["status"] != "PENDING" and c, "the stop")
    assert applied["status"] == "APPLIED", applied
    at_stop = visits_of(first)
    # between the post and the next poll (0.1 s), short sub-epochs may start one or two more
    assert at_stop - before <= 3
    wait_for(lambda: trial(first)["status"] == "STOPPED", "the first model to stop")
    stopped_at = trial(first)["epochs_done"]
    assert 1 <= stopped_at < EPOCHS
    time.sleep(1.0)  # the other model keeps hopping; the stopped one gets no more visits
    assert visits_of(first) == at_stop and trial(second)["status"] == "RUNNING"

    # a command that does not apply is rejected with a reason, and the search goes on
    rejected = command({"action": "stop", "model_id": first}, expect="REJECTED")
    assert "not running" in rejected["message"]

    # add a trial with chosen hyperparameters
    added = command({"action": "add", "params": {"units": 4, "lr": 0.01}})
    new = added["model_id"]
    assert new and new not in (first, second)
    wait_for(lambda: (t := trial(new)) and t["hyperparameters"] == {"units": 4, "lr": 0.01},
             "the added trial's row")

    # resume the stopped one for one more epoch
    command({"action": "resume", "model_id": first, "epochs": 1})
    wait_for(lambda: trial(first)["status"] == "DONE", "the resumed model to finish")
    assert trial(first)["epochs_done"] == stopped_at + 1

    # stop the rest: the search ends
    wait_for(lambda: trial(new)["epochs_done"] >= 1, "an epoch of the added model")
    command({"action": "stop", "model_id": second})
    command({"action": "stop", "model_id": new})
    thread.join(timeout=300)
    assert not thread.is_alive() and "error" not in out, out.get("error")

    result = out["result"]
    assert set(result.models) == {first, second, new}
    assert result.statuses == {first: "DONE", second: "STOPPED", new: "STOPPED"}
    assert result.models[new].params == {"units": 4, "lr": 0.01}
    assert len(result.models[first].history["val_accuracy"]) == stopped_at + 1
    exp = client.get(f"/api/experiments/{eid}", headers=AUTH).json()
    assert exp["status"] == "DONE"
    assert exp["trial_status"] == {"DONE": 1, "STOPPED": 2}
    # the experiment is over: actions are refused
    r = client.post(f"/api/experiments/{eid}/commands", json={"action": "stop", "model_id": second},
                    headers=AUTH)
    assert r.status_code == 409
