"""The dashboard's REST API and pages, through FastAPI's TestClient on a real SQLite file."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

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
                                  "/api/experiments/1/trials", "/api/experiments/1/charts/gantt"])
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
                 "/api/experiments/99/charts/curves", "/api/trials/99/charts/curves"):
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


@pytest.mark.parametrize("path", ["/api/experiments/1/charts/curves",
                                  "/api/experiments/1/charts/curves?metric=val_loss&model_id=m0",
                                  "/api/trials/2/charts/curves",
                                  "/api/experiments/1/charts/gantt"])
def test_charts_are_drawn_server_side(client, path):
    svg = client.get(path, headers=AUTH)
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    root = ET.fromstring(svg.content)
    assert root.tag.endswith("svg")
    png = client.get(path + ("&" if "?" in path else "?") + "fmt=png", headers=AUTH)
    assert png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_gantt_names_every_trial(client):
    svg = client.get("/api/experiments/1/charts/gantt", headers=AUTH).text
    for mid in ("m0", "m1", "m2"):
        assert mid in svg


def test_pages_are_offline_and_locked_down(client):
    for path in ("/", "/experiments/1"):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY"
        assert not re.search(r"(src|href)=\"https?://", r.text)  # nothing from a CDN
        assert "Authorization" in r.text  # the pages read the API with the token
    assert client.get("/docs").status_code == 404  # Swagger UI would load from a CDN


def test_openapi_spec_documents_the_api(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert "/api/experiments/{experiment_id}/trials" in paths
    assert "post" in paths["/api/experiments/{experiment_id}/commands"]
    assert all(p.startswith("/api/") for p in paths)
    assert client.get("/api/health").json()["actions"] is True
