"""The dashboard's REST API and pages, through FastAPI's TestClient on a real SQLite file."""

from __future__ import annotations

import re

import pytest

from cerebro.wire import EpochEnd, ModelAdded, ModelDone, ModelStatus, VisitDone, VisitStarted

from .conftest import AUTH, TOKEN


def test_lists_experiments_and_trials(client, records):
    eid = records[2]
    [exp] = client.get("/api/experiments", headers=AUTH).json()
    assert exp["id"] == eid and exp["status"] == "RUNNING" and exp["trials"] == 3
    trials = client.get(f"/api/experiments/{eid}/trials", headers=AUTH).json()
    assert [t["model_id"] for t in trials] == ["m1", "m0", "m2"]
    assert trials[0]["hyperparameters"] == {"units": 16, "lr": 0.001}
    assert trials[0]["metrics"]["val_accuracy"] == pytest.approx(0.8)
    detail = client.get(f"/api/experiments/{eid}", headers=AUTH).json()
    assert detail["best"]["model_id"] == "m1"
    trial = client.get(f"/api/trials/{trials[0]['id']}", headers=AUTH).json()
    assert trial["history"]["val_accuracy"] == pytest.approx([0.7, 0.8])
    assert client.get(f"/api/experiments/{eid}/metrics", headers=AUTH).json()[:2] == \
        ["val_accuracy", "val_loss"]
    hist = client.get(f"/api/experiments/{eid}/history", headers=AUTH).json()
    assert set(hist) == {"m0", "m1", "m2"}
    sched = client.get(f"/api/experiments/{eid}/schedule", headers=AUTH).json()
    assert len(sched) == 2 * 2 * 2 * 2 + 4 and {v["worker"] for v in sched} == {0, 1}


@pytest.mark.parametrize("sort,order,expected", [
    ("val_loss", None, ["m1", "m0", "m2"]),
    ("hp.units", "desc", ["m2", "m1", "m0"]),
    ("hp.lr", "asc", ["m1", "m0", "m2"]),
    ("status", "asc", ["m0", "m2", "m1"]),  # DONE, FAILED, RUNNING
    ("epochs_done", "desc", ["m0", "m1", "m2"]),
])
def test_trials_sort_by_any_metric_or_hyperparameter(client, records, sort, order, expected):
    q = f"?sort={sort}" + (f"&order={order}" if order else "")
    trials = client.get(f"/api/experiments/{records[2]}/trials{q}", headers=AUTH).json()
    assert [t["model_id"] for t in trials] == expected


@pytest.mark.parametrize("path", ["/api/experiments", "/api/experiments/1", "/api/trials/1",
                                  "/api/experiments/1/trials", "/api/experiments/1/delta",
                                  "/api/experiments/1/importance", "/api/experiments/1/space"])
def test_token_is_required_when_configured(client, path):
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get(path, headers={"Authorization": TOKEN}).status_code == 401  # no "Bearer"
    r = client.get(path, headers=AUTH)
    assert r.status_code == 200
    assert client.get(path).headers["www-authenticate"] == "Bearer"


def test_actions_need_the_token(client, records):
    body = {"action": "stop", "model_id": "m1"}
    url = f"/api/experiments/{records[2]}/commands"
    assert client.post(url, json=body).status_code == 401
    r = client.post(url, json=body, headers=AUTH)
    assert r.status_code == 201 and r.json()["status"] == "PENDING"
    cmds = client.get(url, headers=AUTH).json()
    assert [(c["action"], c["model_id"]) for c in cmds] == [("stop", "m1")]
    assert client.get(f"/api/commands/{r.json()['id']}", headers=AUTH).json()["action"] == "stop"


def test_without_a_token_reads_are_open_and_actions_refused(records):
    from fastapi.testclient import TestClient

    from cerebro.dashboard import create_app

    open_client = TestClient(create_app(records[1]))
    assert open_client.get("/api/experiments").status_code == 200
    r = open_client.post(f"/api/experiments/{records[2]}/commands",
                         json={"action": "stop", "model_id": "m1"})
    assert r.status_code == 403 and "token" in r.json()["detail"]


@pytest.mark.parametrize("body,status", [
    ({"action": "explode", "model_id": "m1"}, 422),
    ({"action": "stop"}, 400),
    ({"action": "stop", "model_id": "nope"}, 404),
    ({"action": "add"}, 400),
    ({"action": "add", "params": {}}, 400),
    ({"action": "resume", "model_id": "m0", "epochs": 0}, 422),
    ({"action": "resume", "model_id": "m0", "epochs": "x"}, 422),
])
def test_bad_commands_are_refused(client, records, body, status):
    r = client.post(f"/api/experiments/{records[2]}/commands", json=body, headers=AUTH)
    assert r.status_code == status, r.text


def test_missing_things_are_404(client):
    for path in ("/api/experiments/99", "/api/trials/99", "/api/commands/99",
                 "/api/experiments/99/trials", "/api/experiments/99/schedule",
                 "/api/experiments/99/delta", "/api/experiments/99/importance",
                 "/api/experiments/99/space", "/api/trials/99/model.keras",
                 "/api/trials/99/summary"):
        assert client.get(path, headers=AUTH).status_code == 404, path


def test_finished_experiment_refuses_actions(tmp_path):
    from fastapi.testclient import TestClient

    from cerebro.dashboard import create_app

    from .conftest import fill

    eid = fill(str(tmp_path), finish=True)
    c = TestClient(create_app(str(tmp_path), token=TOKEN))
    r = c.post(f"/api/experiments/{eid}/commands", json={"action": "stop", "model_id": "m1"},
               headers=AUTH)
    assert r.status_code == 409 and "not running" in r.json()["detail"]


def test_pages_are_offline_and_locked_down(client):
    for path in ("/", "/experiments/1", "/experiments/1/charts", "/trials/2"):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY"
        assert not re.search(r"(src|href)=\"(https?:)?//", r.text)  # nothing from a CDN
        scripts = re.findall(r'<script src="([^"]+)"', r.text)
        assert [s.rsplit("/", 1)[1] for s in scripts] == ["plotly.min.js", "core.js",
                                                           "charts.js", "views.js"]
        for src in scripts:  # served from installed packages, cacheable
            js = client.get(src)
            assert js.status_code == 200 and "javascript" in js.headers["content-type"]
            assert "immutable" in js.headers["cache-control"]
    assert "plotly.js v" in client.get(scripts[0]).text[:200]
    assert client.get("/static/0/nope.js").status_code == 404


def test_openapi_spec_documents_the_api(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert "/api/experiments/{experiment_id}/trials" in paths
    assert "post" in paths["/api/experiments/{experiment_id}/commands"]
    assert all(p.startswith("/api/") for p in paths)
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert client.get("/api/health").json()["actions"] is True


def test_docs_serve_swagger_ui_offline(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)
    for src in re.findall(r'(?:src|href)="(/docs/[^"]+)"', page.text):
        assert client.get(src).status_code == 200, src
    assert "SwaggerUIBundle" in client.get("/docs/files/swagger-ui-bundle.js").text[:5000] or \
        len(client.get("/docs/files/swagger-ui-bundle.js").content) > 100_000
    assert client.get("/docs/files/..%2Fsecret").status_code == 404


def test_token_in_the_url_becomes_a_cookie_for_this_dashboard(client, records):
    r = client.get("/experiments/1?token=" + TOKEN + "&x=1", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/experiments/1?x=1"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("cerebro_token_") and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert client.get("/api/experiments").status_code == 200  # the cookie authenticates
    body = {"action": "stop", "model_id": "m1"}
    url = f"/api/experiments/{records[2]}/commands"
    assert client.post(url, json=body).status_code == 403  # no X-Cerebro: could be CSRF
    assert client.post(url, json=body, headers={"X-Cerebro": "1"}).status_code == 201
    client.cookies.clear()
    wrong = client.get("/?token=wrong", follow_redirects=False)
    assert wrong.status_code == 303 and "set-cookie" not in wrong.headers
    assert client.get("/api/experiments").status_code == 401


def test_delta_returns_only_what_changed(records):
    from fastapi.testclient import TestClient

    from cerebro.dashboard import create_app
    from cerebro.records import Recorder

    where, db, eid = records
    c = TestClient(create_app(db, token=TOKEN))
    full = c.get(f"/api/experiments/{eid}/delta?since=0", headers=AUTH).json()
    assert {t["model_id"] for t in full["trials"]} == {"m0", "m1", "m2"}
    assert full["metrics"]["columns"] == ["trial_id", "epoch", "name", "value"]
    assert len(full["metrics"]["rows"]) == (2 + 2 + 1) * 4
    assert len(full["visits"]["rows"]) == 20 and full["stuck"] == []
    assert full["experiment"]["best_model_id"] == "m1"
    same = c.get(f"/api/experiments/{eid}/delta?since={full['rev']}", headers=AUTH).json()
    assert same["trials"] == [] and same["metrics"]["rows"] == [] and same["rev"] == full["rev"]
    rec = Recorder(str(where), "GridSearch-abc", metric="val_accuracy")  # reopens it
    assert rec.experiment_id == eid
    rec.on_epoch_end(EpochEnd("m1", 2, {"val_accuracy": 0.95}, best_epoch=2, best_value=0.95))
    new = c.get(f"/api/experiments/{eid}/delta?since={full['rev']}", headers=AUTH).json()
    assert [t["model_id"] for t in new["trials"]] == ["m1"]
    assert new["trials"][0]["best_value"] == pytest.approx(0.95)
    assert new["trials"][0]["best_epoch"] == 3
    assert [r[1:] for r in new["metrics"]["rows"]] == [[3, "val_accuracy", 0.95]]
    assert new["rev"] > full["rev"]


def test_importance_space_and_summary(client, records):
    eid = records[2]
    imp = client.get(f"/api/experiments/{eid}/importance", headers=AUTH).json()
    assert imp["objective"] == "val_accuracy" and imp["trials"] == 3
    assert {i["name"] for i in imp["importances"]} == {"units", "lr"}
    assert sum(i["importance"] for i in imp["importances"]) == pytest.approx(1.0)
    space = client.get(f"/api/experiments/{eid}/space", headers=AUTH).json()
    units = next(h for h in space["hyperparameters"] if h["name"] == "units")
    assert sorted(v["value"] for v in units["values"]) == [8, 16, 32]
    assert units["type"] == "int" and units["trials"] == 3
    tid = client.get(f"/api/experiments/{eid}/trials", headers=AUTH).json()[0]["id"]
    summary = client.get(f"/api/trials/{tid}/summary", headers=AUTH).json()
    assert summary["summary"] == "" and "no spec" in summary["note"]  # nothing in the store
    r = client.get(f"/api/trials/{tid}/model.keras", headers=AUTH)
    assert r.status_code == 404 and "model spec" in r.json()["detail"]


def test_stuck_visit_is_flagged(tmp_path):
    import time

    from fastapi.testclient import TestClient

    from cerebro.dashboard import create_app
    from cerebro.records import Recorder

    rec = Recorder(str(tmp_path), "stuck", metric="val_loss")
    rec.on_model_added(ModelAdded("a", epochs=3))
    for p in (0, 1):
        rec.on_visit_started(VisitStarted("a", kind="train", epoch=0, partition=p))
        rec.on_visit_done(VisitDone("a", "train", 0, p, {}, 0.01))
    rec.on_visit_started(VisitStarted("a", "train", 1, 0, deadline_s=None))
    c = TestClient(create_app(str(tmp_path), stuck_factor=3, stuck_min_s=0.2))
    assert c.get("/api/experiments/1/stuck").json() == []
    time.sleep(0.3)
    [s] = c.get("/api/experiments/1/stuck").json()
    assert (s["model_id"], s["worker"], s["kind"], s["epoch"], s["reason"]) == \
        ("a", 0, "train", 2, "slow")
    assert s["elapsed_s"] >= 0.2 and s["times_typical"] > 3
    assert c.get("/api/experiments/1/delta").json()["stuck"][0]["visit_id"] == s["visit_id"]
    rec.on_visit_done(VisitDone("a", "train", 1, 0, {}, 0.4))
    assert c.get("/api/experiments/1/stuck").json() == []


def test_keras_download_is_the_spec_with_the_result_state(tmp_path):
    """Records without spec/state keys fall back to the project's RunLayout (the spec under
    ``runs/<project>/<model id>/``, its newest state)."""
    import keras
    import numpy as np
    from fastapi.testclient import TestClient

    from cerebro.dashboard import create_app
    from cerebro.keras import state as sm
    from cerebro.records import Recorder
    from cerebro.storage import LocalStore
    from cerebro.storage.layout import RunLayout

    store = LocalStore(str(tmp_path))
    lay = RunLayout(store, "dl")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="out")])
    model.compile("adam", "mse")
    store.write_bytes(lay.spec_key("m"), sm.model_to_bytes(model))
    first = sm.get_state(model)
    store.write_bytes(lay.state_key("m", 1), sm.state_to_bytes(first))
    later = dict(first, weights=[np.full_like(w, 0.5) for w in first["weights"]])
    store.write_bytes(lay.state_key("m", 3), sm.state_to_bytes(later))
    assert lay.spec_key("m").startswith("runs/dl/m/")  # the project folder is in the key
    rec = Recorder(store, "dl")
    rec.on_model_added(ModelAdded("m", epochs=1))
    rec.on_model_done(ModelDone("m", status=ModelStatus.DONE))
    c = TestClient(create_app(str(tmp_path), token=TOKEN))

    def download():
        r = c.get("/api/trials/1/model.keras", headers=AUTH)
        assert r.status_code == 200, r.text
        assert 'filename="m.keras"' in r.headers["content-disposition"]
        path = tmp_path / "m.keras"
        path.write_bytes(r.content)
        return keras.saving.load_model(str(path))

    assert all(np.allclose(w, 0.5) for w in download().get_weights())  # the newest state
    # the result's state wins
    rec.on_model_done(ModelDone("m", ModelStatus.DONE, state_key=lay.state_key("m", 1)))
    for got, want in zip(download().get_weights(), first["weights"]):
        np.testing.assert_allclose(got, want)
    summary = c.get("/api/trials/1/summary", headers=AUTH).json()
    assert "out" in summary["summary"] and summary["note"] == ""  # built from the spec
