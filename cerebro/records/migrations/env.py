"""Alembic environment: runs the records migrations on the connection it is handed.

``cerebro.records.db.upgrade`` passes an open SQLAlchemy connection in
``config.attributes["connection"]``; a plain ``sqlalchemy.url`` main option works too, so
the ``alembic`` command line can drive it (``script_location = cerebro.records:migrations``).
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine

from cerebro.records.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Any) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Writes the SQL of the migrations instead of running it (``alembic upgrade --sql``)."""
    context.configure(url=config.get_main_option("sqlalchemy.url"),
                      target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Runs the migrations on the given connection, or on a new engine for the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
