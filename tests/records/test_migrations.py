"""The Alembic migration environment: a fresh database is upgraded to the ORM's schema."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from cerebro.records import RecordsDB, records_url
from cerebro.records.db import (HEAD, alembic_config, current_revision, head_revision, make_engine,
                                upgrade)
from cerebro.records.models import Base

TABLES = {"alembic_version", "commands", "epoch_metrics", "experiments", "trials", "visits"}


def test_fresh_database_is_upgraded_to_head(tmp_path):
    db = RecordsDB(str(tmp_path))
    assert set(db.tables()) == TABLES
    assert current_revision(db.engine) == head_revision() == "0003"
    assert (tmp_path / "cerebro.db").exists()


def test_migrated_schema_matches_the_orm_models(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    db = RecordsDB(str(tmp_path / "x.db"))
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_sqlite_is_in_wal_mode_with_foreign_keys(tmp_path):
    db = RecordsDB(str(tmp_path))
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with sqlite3.connect(tmp_path / "cerebro.db") as raw:  # WAL is a property of the file
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_downgrade_and_upgrade_again(tmp_path):
    from alembic import command

    db = RecordsDB(str(tmp_path))
    with db.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert set(db.tables()) == {"alembic_version"}
    assert current_revision(db.engine) is None
    upgrade(db.engine)
    assert set(db.tables()) == TABLES


def test_offline_sql_for_postgresql(capsys):
    from alembic import command

    command.upgrade(alembic_config(url="postgresql://u@h/db"), "head", sql=True)
    sql = capsys.readouterr().out
    assert "CREATE TABLE experiments" in sql and "JSON" in sql


def test_reopening_and_concurrent_opening_are_safe(tmp_path):
    errors: list[BaseException] = []

    def open_it():
        try:
            RecordsDB(str(tmp_path)).close()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert set(RecordsDB(str(tmp_path)).tables()) == TABLES


def test_records_url(tmp_path):
    from cerebro.storage import LocalStore

    store = LocalStore(str(tmp_path / "store"))
    assert records_url(store) == f"sqlite:///{tmp_path}/store/cerebro.db"
    assert records_url(str(tmp_path)) == f"sqlite:///{tmp_path}/cerebro.db"
    assert records_url(str(tmp_path / "a.db")) == f"sqlite:///{tmp_path}/a.db"
    assert records_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert records_url(f"file://{tmp_path}") == f"sqlite:///{tmp_path}/cerebro.db"


def test_a_store_off_the_local_disk_needs_a_url():
    import pyarrow.fs as pafs

    from cerebro.storage import FilesystemStore

    with pytest.raises(ValueError, match="database URL"):
        records_url(FilesystemStore(pafs.LocalFileSystem(), "/tmp"))


def test_make_engine_creates_the_directory(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/deep/er/r.db")
    with engine.connect():
        pass
    assert (tmp_path / "deep" / "er" / "r.db").exists()


def test_upgrade_from_0001_keeps_rows_and_fills_in_the_best(tmp_path):
    from sqlalchemy import text

    engine = make_engine(f"sqlite:///{tmp_path}/old.db")
    upgrade(engine, "0001")
    now = "2025-01-01 00:00:00"
    with engine.begin() as c:
        c.execute(text("INSERT INTO experiments (id, name, kind, metric, status, config, stats, "
                       "error, created_at, updated_at) VALUES (1, 'old', 'tune', 'val_loss', "
                       f"'DONE', '{{}}', '{{}}', '', '{now}', '{now}')"))
        c.execute(text("INSERT INTO trials (id, experiment_id, model_id, hyperparameters, "
                       "status, error, epochs_planned, epochs_done, last_metrics, created_at, "
                       f"updated_at) VALUES (1, 1, 'm', '{{}}', 'DONE', '', 2, 2, '{{}}', "
                       f"'{now}', '{now}')"))
        for epoch, value in ((1, 0.4), (2, 0.6)):
            c.execute(text("INSERT INTO epoch_metrics (trial_id, epoch, name, value, "
                           f"recorded_at) VALUES (1, {epoch}, 'val_loss', {value}, '{now}')"))
        c.execute(text("INSERT INTO visits (experiment_id, trial_id, worker, kind, epoch, "
                       "start_s, end_s) VALUES (1, 1, 0, 'train', 1, 0.0, 1.0)"))
    db = RecordsDB(f"sqlite:///{tmp_path}/old.db")
    assert current_revision(db.engine) == head_revision()
    from cerebro.records import queries

    [t] = queries.list_trials(db, 1)
    assert (t["best_epoch"], t["best_value"]) == (1, 0.4)  # val_loss: min
    assert queries.get_experiment(db, 1)["direction"] == "min"
    assert queries.schedule(db, 1)[0]["status"] == "done"


def _schema(engine) -> dict:
    """Every table's columns (name, type, nullable, default), keys, indexes and uniques.

    Columns are compared by name, not position: a migration can only append a column."""
    from sqlalchemy import inspect

    insp = inspect(engine)
    out = {}
    for t in sorted(insp.get_table_names()):
        out[t] = {
            "columns": sorted((c["name"], str(c["type"]), c["nullable"], c.get("default"))
                              for c in insp.get_columns(t)),
            "pk": insp.get_pk_constraint(t)["constrained_columns"],
            "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"],
                           tuple(f["referred_columns"]), (f.get("options") or {}).get("ondelete"))
                          for f in insp.get_foreign_keys(t)),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in insp.get_indexes(t)),
            "uniques": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(t)),
        }
    return out


def test_a_fresh_database_is_created_without_migrations_and_matches_a_migrated_one(tmp_path):
    """A new database is made from the models and stamped at head (no migration chain); an
    old one upgraded through every migration ends with the very same schema."""
    from alembic import command

    assert HEAD == head_revision(), "db.HEAD must name the newest migration"
    fresh = RecordsDB(str(tmp_path / "fresh.db"))
    assert current_revision(fresh.engine) == head_revision()
    old = make_engine(records_url(str(tmp_path / "old.db")))
    with old.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")  # a database from the first release
    upgrade(old)
    assert current_revision(old) == head_revision()
    assert _schema(fresh.engine) == _schema(old)
    assert set(_schema(fresh.engine)) == TABLES
