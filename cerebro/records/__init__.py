"""Experiment records in a SQL database (SQLAlchemy 2, Alembic migrations).

A search writes its records live through a :class:`Recorder` hopper listener: the
experiment, its trials (hyperparameters, status, error, timestamps), every epoch's metrics
and the model-worker schedule. By default they go to ``<store root>/cerebro.db`` (SQLite in
WAL mode, so a dashboard can read while the search writes); any SQLAlchemy URL (PostgreSQL…)
works too. The ``commands`` table carries a dashboard's stop/resume/add actions back to the
running search.

Example:
    >>> from cerebro.records import RecordsDB, queries
    >>> db = RecordsDB("/path/to/store")            # doctest: +SKIP
    >>> queries.list_experiments(db)                # doctest: +SKIP
"""

from cerebro.records.db import RecordsDB, records_url
from cerebro.records.recorder import Recorder
from cerebro.records.wiring import SearchRecording, record_search

__all__ = ["RecordsDB", "Recorder", "SearchRecording", "record_search", "records_url"]
