"""Opening the records database: where it lives, engine settings, Alembic upgrade on open.

A new (empty) database is created from the ORM models in one transaction and stamped with
the newest revision, without running the migration chain (nor importing Alembic); an existing
one is migrated, and one already at the newest revision is only read.
``tests/records/test_migrations.py`` checks that both give the same schema.

By default the records of a search live next to its data, in ``<store root>/cerebro.db``
(SQLite, for a store on the local filesystem). Any SQLAlchemy URL works too, e.g.
``postgresql+psycopg://user@host/db``.

SQLite is opened in WAL mode with a busy timeout so that a dashboard can read (and queue
commands) while the search writes; every write is one short transaction.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from typing import Any, Optional, Union

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from cerebro._logging import get_logger

log = get_logger("records")

DB_NAME = "cerebro.db"
MIGRATIONS = "cerebro.records:migrations"
HEAD = "0003"  # the newest migration's revision (a test checks it against Alembic's head)
VERSION_TABLE = "alembic_version"
BUSY_TIMEOUT_MS = 15_000
_UPGRADE_LOCK = threading.Lock()  # Alembic's context is process-global


def records_url(target: Union[str, os.PathLike[str], Any]) -> str:
    """The SQLAlchemy URL of the records for ``target``.

    Args:
        target: A ``cerebro.storage.Store`` (records in ``<root>/cerebro.db``), a URL
            (``sqlite:///…``, ``postgresql://…``), a directory (a store root) or a ``.db`` file.

    Returns:
        A SQLAlchemy URL.

    Raises:
        ValueError: For a store that is not on the local filesystem (SQLite needs a local
            file; give a URL instead).
    """
    from cerebro.storage.base import Store

    if isinstance(target, Store):
        from cerebro.storage.filesystem import LocalStore

        if not isinstance(target, LocalStore):
            raise ValueError(f"{target!r} is not on the local filesystem; records need a "
                             "database URL (e.g. postgresql://...) for it")
        return "sqlite:///" + target.fs_path(DB_NAME)
    text = os.fspath(target)
    if "://" in text:
        if text.startswith("file://"):
            return records_url(text[len("file://"):])
        return text
    path = os.path.abspath(os.path.expanduser(text))
    if os.path.isdir(path) or not path.endswith((".db", ".sqlite", ".sqlite3")):
        path = os.path.join(path, DB_NAME)
    return "sqlite:///" + path


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL mode, a busy timeout and foreign keys."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(connection: Any = None, url: Optional[str] = None) -> Any:
    """An Alembic ``Config`` for the package's migrations (no ``alembic.ini`` needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision of the records schema."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None  # the package ships its migrations
    return head


def current_revision(engine: Engine) -> Optional[str]:
    """The revision a database is at (``None`` for an empty one)."""
    with engine.connect() as conn:
        return _version(conn)


def _version(conn: Connection) -> Optional[str]:
    """What Alembic's version table holds, read with plain SQL (no Alembic import)."""
    if VERSION_TABLE not in inspect(conn).get_table_names():
        return None
    rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    return str(rows[0]) if rows else None


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Brings ``engine``'s schema to ``revision`` (a no-op when already there): a new
    database at ``head`` is created from the models, any other runs ``alembic upgrade``."""
    if revision == "head" and current_revision(engine) == HEAD:
        return
    with _UPGRADE_LOCK:
        _upgrade(engine, revision)


def _is_empty(conn: Connection) -> bool:
    """No table but (maybe) Alembic's own, empty version table: a new database."""
    return not set(inspect(conn).get_table_names()) - {VERSION_TABLE} and _version(conn) is None


def create_fresh(conn: Connection) -> None:
    """Creates the newest schema from the ORM models and stamps it with ``HEAD`` (the version
    table as Alembic makes it), in the caller's transaction."""
    from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table

    from cerebro.records.models import Base

    Base.metadata.create_all(conn)
    version = Table(VERSION_TABLE, MetaData(), Column("version_num", String(32), nullable=False),
                    PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"))
    version.create(conn, checkfirst=True)
    conn.execute(version.insert().values(version_num=HEAD))


def _upgrade(engine: Engine, revision: str) -> None:
    for attempt in range(3):
        try:
            with engine.begin() as conn:
                if revision == "head" and _is_empty(conn):
                    create_fresh(conn)
                else:
                    from alembic import command

                    command.upgrade(alembic_config(conn), revision)
            return
        except OperationalError:
            # Another process may be creating the same fresh database right now.
            if current_revision(engine) == HEAD:
                return
            if attempt == 2:
                raise
            time.sleep(0.2 * (attempt + 1))


class RecordsDB:
    """An open records database: engine, sessions, schema at the newest revision.

    Args:
        target: Anything :func:`records_url` accepts.
        migrate: Upgrade the schema to the newest revision on open (default).
    """

    def __init__(self, target: Union[str, os.PathLike[str], Any], migrate: bool = True) -> None:
        self.url = records_url(target)
        self.engine = make_engine(self.url)
        if migrate:
            upgrade(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self._sessions.begin() as s:
            yield s

    def tables(self) -> list[str]:
        """Names of the tables present (for checks and tests)."""
        return sorted(inspect(self.engine).get_table_names())

    def close(self) -> None:
        """Releases the engine's connections."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"RecordsDB({self.engine.url.render_as_string(hide_password=True)!r})"
