"""The records and the dashboard on PostgreSQL: a throwaway server started by the test.

Needs the Debian ``postgresql`` package (``initdb``/``pg_ctl``) and the ``psycopg`` driver;
skipped, with the reason, when the server cannot be started here.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess
import tempfile

import pytest

from cerebro.wire import ModelAdded

from .conftest import AUTH, TOKEN, fill


def _pg_bin(name: str):
    found = shutil.which(name)
    if found:
        return found
    base = "/usr/lib/postgresql"
    for version in sorted(os.listdir(base), reverse=True) if os.path.isdir(base) else []:
        path = os.path.join(base, version, "bin", name)
        if os.path.exists(path):
            return path
    return None


def _as_server_user(cmd: list[str]) -> list[str]:
    """initdb refuses to run as root: run the server as ``postgres`` then."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@pytest.fixture(scope="module")
def pg_url():
    pytest.importorskip("psycopg", reason="the psycopg driver is not installed")
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: "
                    "apt-get install postgresql")
    # Not under pytest's tmp dir: that is private to root, and the server runs as postgres.
    root = pathlib.Path(tempfile.mkdtemp(prefix="cerebro-pg-"))
    request_cleanup = lambda: shutil.rmtree(root, ignore_errors=True)  # noqa: E731
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        try:
            shutil.chown(root, "postgres")
            shutil.chown(sock, "postgres")
        except (LookupError, PermissionError) as e:
            request_cleanup()
            pytest.skip(f"running as root and no usable 'postgres' user: {e}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = subprocess.run(_as_server_user([initdb, "-D", str(data), "-A", "trust", "-U", "cerebro",
                                        "-E", "UTF8", "--no-instructions"]),
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        request_cleanup()
        pytest.skip(f"initdb failed: {r.stderr.strip()[-300:]}")
    opts = f"-h 127.0.0.1 -p {port} -k {sock} -c fsync=off -c full_page_writes=off"
    r = subprocess.run(_as_server_user([pg_ctl, "-D", str(data), "-o", opts, "-l",
                                        str(root / "log"), "-w", "-t", "60", "start"]),
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        log = (root / "log").read_text()[-300:] if (root / "log").exists() else r.stderr
        request_cleanup()
        pytest.skip(f"the PostgreSQL server did not start: {log}")
    try:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={port} user=cerebro dbname=postgres",
                             autocommit=True) as conn:
            conn.execute("CREATE DATABASE records")
        yield f"postgresql+psycopg://cerebro@127.0.0.1:{port}/records"
    finally:
        subprocess.run(_as_server_user([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
                       capture_output=True, timeout=120)
        request_cleanup()


def test_migrations_on_postgresql(pg_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from cerebro.records import RecordsDB
    from cerebro.records.db import current_revision, head_revision
    from cerebro.records.models import Base

    db = RecordsDB(pg_url)
    assert current_revision(db.engine) == head_revision()
    assert {"experiments", "trials", "epoch_metrics", "visits", "commands"} <= set(db.tables())
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    RecordsDB(pg_url).close()  # reopening is a no-op


def test_records_and_dashboard_on_postgresql(pg_url):
    from fastapi.testclient import TestClient

    from cerebro.dashboard import create_app
    from cerebro.records import RecordsDB, queries

    eid = fill(pg_url, name="on-postgres", finish=True)
    db = RecordsDB(pg_url)
    exp = queries.get_experiment(db, eid)
    assert exp["status"] == "DONE" and exp["trial_status"] == {"DONE": 2, "FAILED": 1}
    assert exp["best"]["model_id"] == "m1" and exp["created_at"].endswith("+00:00")
    assert queries.histories(db, eid)["m1"]["val_accuracy"] == pytest.approx([0.7, 0.8])
    client = TestClient(create_app(db, token=TOKEN))
    assert client.get("/api/experiments").status_code == 401
    names = [e["name"] for e in client.get("/api/experiments", headers=AUTH).json()]
    assert "on-postgres" in names
    trials = client.get(f"/api/experiments/{eid}/trials?sort=hp.units&order=desc",
                        headers=AUTH).json()
    assert [t["model_id"] for t in trials] == ["m2", "m1", "m0"]
    delta = client.get(f"/api/experiments/{eid}/delta", headers=AUTH).json()
    assert len(delta["visits"]["rows"]) == 20 and delta["experiment"]["best_model_id"] == "m1"
    since = client.get(f"/api/experiments/{eid}/delta?since={delta['rev']}", headers=AUTH).json()
    assert since["trials"] == [] and since["metrics"]["rows"] == []
    imp = client.get(f"/api/experiments/{eid}/importance", headers=AUTH).json()
    assert len(imp["importances"]) == 2


def test_commands_round_trip_on_postgresql(pg_url):
    from cerebro.records import Recorder, RecordsDB, queries

    rec = Recorder(pg_url, "live", metric="val_loss")
    rec.on_model_added(ModelAdded("m0", epochs=3))
    cmd = queries.add_command(RecordsDB(pg_url), rec.experiment_id, "stop", "m0")
    [pending] = rec.commands()
    assert pending.action == "stop" and pending.ack is not None
    pending.ack(True, "stopped")
    assert queries.get_command(RecordsDB(pg_url), cmd["id"])["status"] == "APPLIED"
    rec.done()
    rec.close()
    again = Recorder(pg_url, "live", metric="val_loss", on_existing="overwrite")
    assert again.experiment_id != rec.experiment_id
    with pytest.raises(queries.NotFound):
        queries.get_experiment(RecordsDB(pg_url), rec.experiment_id)
    again.close()
