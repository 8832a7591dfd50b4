"""Alembic migration environment of the records database (run by ``cerebro.records.db``)."""
