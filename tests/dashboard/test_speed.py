"""Every dashboard page and API call answers in under 300 ms on a search of 100 trials x 20
epochs (4 metrics an epoch, 4 workers: 16,000 visits), served by the real CLI server.

The records are written in bulk (SQLAlchemy Core) rather than event by event, so the test
builds them in seconds. Each URL is fetched once to warm up, then timed five times; the
median must be under the limit (the machine is shared: the worst is reported, not judged).
The ``.keras`` download is left out: it builds a Keras model, by design not a 300 ms call.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from sqlalchemy import insert

from cerebro.records import RecordsDB
from cerebro.records.models import EpochMetric, Experiment, Trial, Visit

from .conftest import TOKEN
from .test_cli import _free_port

TRIALS, EPOCHS, WORKERS = 100, 20, 4
LIMIT_S = 0.300


def build(where: str) -> int:
    """A finished-looking but RUNNING search of TRIALS x EPOCHS; returns the experiment id."""
    rng = random.Random(0)
    db = RecordsDB(where)
    now = dt.datetime.now(dt.timezone.utc)
    with db.engine.begin() as c:
        eid = c.execute(insert(Experiment).values(
            name="speed", kind="tune", metric="val_accuracy", direction="max", status="RUNNING",
            num_workers=WORKERS, budget=TRIALS, config={"space": {"units": "choice"}}, stats={},
            error="", created_at=now - dt.timedelta(hours=1), updated_at=now, rev=1)
        ).inserted_primary_key[0]
        trials, metrics, visits, clock = [], [], [], 0.0
        for i in range(TRIALS):
            hp = {"units": rng.choice([16, 32, 64, 128]), "lr": 10 ** rng.uniform(-4, -2),
                  "optimizer": rng.choice(["adam", "sgd"]), "dropout": rng.random() / 2}
            acc = [min(0.99, 0.3 + 0.03 * e + rng.random() * 0.1) for e in range(EPOCHS)]
            best = max(range(EPOCHS), key=lambda e: acc[e])
            trials.append(dict(id=i + 1, experiment_id=eid, model_id=f"speed_{i:03d}",
                               hyperparameters=hp, status="DONE", error="",
                               epochs_planned=EPOCHS, epochs_done=EPOCHS,
                               last_metrics={"val_accuracy": acc[-1]}, created_at=now,
                               updated_at=now, started_at=now, ended_at=now,
                               best_epoch=best + 1, best_value=acc[best], compute_s=10.0,
                               summary="Model: x\n" * 20, rev=1))
            for e in range(EPOCHS):
                for name, v in (("val_accuracy", acc[e]), ("val_loss", 1 - acc[e]),
                                ("train_accuracy", acc[e] + 0.02), ("train_loss", 0.98 - acc[e])):
                    metrics.append(dict(trial_id=i + 1, epoch=e + 1, name=name, value=v,
                                        recorded_at=now, rev=1))
                for kind in ("train", "eval"):
                    for w in range(WORKERS):
                        visits.append(dict(experiment_id=eid, trial_id=i + 1, worker=w,
                                           kind=kind, epoch=e + 1, start_s=clock,
                                           end_s=clock + 0.1, status="done", error="", rev=1))
                    clock += 0.1
        c.execute(insert(Trial), trials)
        c.execute(insert(EpochMetric), metrics)
        c.execute(insert(Visit), visits)
    db.close()
    return eid


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    where = str(tmp_path_factory.mktemp("speed"))
    eid = build(where)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cerebro.cli", "dashboard", "--store", where,
                             "--port", str(port), "--token", TOKEN],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(base + "/api/health", timeout=5)
            break
        except (urllib.error.URLError, ConnectionError):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.3)
    yield base, eid
    proc.terminate()
    proc.wait(timeout=30)


def _get(url: str) -> tuple[float, int]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=30) as r:
        body = r.read()
    return time.perf_counter() - t0, len(body)


def test_every_page_and_api_call_is_fast(server, capsys):
    from cerebro import __version__

    base, eid = server
    paths = ["/", f"/experiments/{eid}", f"/experiments/{eid}/charts", "/trials/1", "/docs",
             "/openapi.json", f"/static/{__version__}/plotly.min.js",
             f"/static/{__version__}/views.js", "/api/health", "/api/experiments",
             f"/api/experiments/{eid}", f"/api/experiments/{eid}/delta?since=0",
             f"/api/experiments/{eid}/delta?since=1", f"/api/experiments/{eid}/trials",
             f"/api/experiments/{eid}/trials?sort=hp.units&order=desc",
             f"/api/experiments/{eid}/metrics", f"/api/experiments/{eid}/history",
             f"/api/experiments/{eid}/schedule", f"/api/experiments/{eid}/stuck",
             f"/api/experiments/{eid}/importance", f"/api/experiments/{eid}/space",
             f"/api/experiments/{eid}/commands", f"/api/experiments/{eid}/visits?before=12001",
             "/api/trials/1", "/api/trials/1/summary"]
    slow, lines = [], []
    for path in paths:
        _get(base + path)  # warm-up (first imports, caches)
        times, size = zip(*(_get(base + path) for _ in range(5)))
        med = statistics.median(times)
        lines.append(f"{med * 1000:7.1f} ms median, {max(times) * 1000:7.1f} ms worst, "
                     f"{size[0] / 1024:8.0f} KiB  {path}")
        if med >= LIMIT_S:
            slow.append(path)
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert slow == [], f"slower than {LIMIT_S * 1000:.0f} ms: {slow}"
    full = _get(base + f"/api/experiments/{eid}/delta?since=0")[1]
    assert full > 400_000  # it really carried the 8,000 metrics and 4,000 newest visits


def test_a_first_delta_pages_its_visits(server):
    import json

    base, eid = server

    def get(path):
        req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    d = get(f"/api/experiments/{eid}/delta?since=0")
    ids = {row[0] for row in d["visits"]["rows"]}
    older = d["visits"]["older"]
    assert len(ids) == 4000 and older == min(ids)
    while older:
        page = get(f"/api/experiments/{eid}/visits?before={older}")
        ids |= {row[0] for row in page["rows"]}
        older = page["older"]
    assert len(ids) == TRIALS * EPOCHS * 2 * WORKERS
