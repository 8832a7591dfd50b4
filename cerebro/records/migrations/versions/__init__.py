"""Alembic revisions of the records schema, oldest first."""
