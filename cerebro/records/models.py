"""The experiment-records schema (SQLAlchemy 2 ORM).

Tables:

* ``experiments`` — one row per search (one per project: a resumed search reopens its row),
  ``kind`` ``tune`` or ``nas``, with the objective that ranks its trials (``metric``,
  ``direction`` ``min``/``max``), its status, engine figures (``stats``) and timestamps.
* ``trials`` — one row per model the search trained: hyperparameters (JSON), status
  (``RUNNING``/``DONE``/``STOPPED``/``FAILED``), error, planned/done epochs, last metrics, the
  KerasTuner-style best (``best_value`` of the objective at ``best_epoch``, from 1), when its
  first visit started, busy time, peak worker memory, the store keys of its ``.keras`` spec
  and of its result state, its Keras model summary, and for a ``STOPPED`` trial why it was
  stopped early (``stop_reason``).
* ``epoch_metrics`` — one row per (trial, epoch, metric name); epochs are numbered from 1.
* ``visits`` — the model-hopper schedule: which trial ran on which worker (partition), kind
  ``train``/``eval``, which epoch (from 1), and when (seconds since the experiment began). A
  visit in flight has a start and no end (``status`` ``running``); a lost one ends ``lost``.

``rev`` columns carry the experiment's change counter: every write of the
:class:`~cerebro.records.recorder.Recorder` bumps ``experiments.rev`` and stamps the rows it
touches with it, so that a reader asks for "what changed since rev N" (the dashboard's JSON
deltas).
* ``commands`` — human-in-the-loop actions (``stop``/``resume``/``add``) a dashboard queued
  for a running search, and what became of them (``PENDING``/``APPLIED``/``REJECTED``).

A new database is created from these models and stamped with the newest revision; an
existing one is upgraded by the Alembic migrations in ``migrations/`` (this module is their
``target_metadata``). Columns a migration added with a server default keep it here, so that
both ways give the same schema.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from sqlalchemy import (JSON, BigInteger, DateTime, Float, ForeignKey, Index, Integer, String,
                        Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

PENDING, APPLIED, REJECTED = "PENDING", "APPLIED", "REJECTED"
ACTIONS = ("stop", "resume", "add")


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of the records schema."""

    type_annotation_map = {dict[str, Any]: JSON, dt.datetime: DateTime(timezone=True)}


class Experiment(Base):
    """One search."""

    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="tune")
    metric: Mapped[str] = mapped_column(String(200), default="val_loss")
    status: Mapped[str] = mapped_column(String(20), default="RUNNING")
    num_workers: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    budget: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[Optional[dt.datetime]] = mapped_column(nullable=True)
    direction: Mapped[Optional[str]] = mapped_column(String(4), nullable=True)
    rev: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Trial(Base):
    """One model of a search."""

    __tablename__ = "trials"
    __table_args__ = (UniqueConstraint("experiment_id", "model_id", name="uq_trials_model"),
                      Index("ix_trials_experiment_rev", "experiment_id", "rev"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"),
                                               index=True)
    model_id: Mapped[str] = mapped_column(String(200))
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="RUNNING")
    error: Mapped[str] = mapped_column(Text, default="")
    epochs_planned: Mapped[int] = mapped_column(Integer, default=0)
    epochs_done: Mapped[int] = mapped_column(Integer, default=0)
    last_metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[Optional[dt.datetime]] = mapped_column(nullable=True)
    started_at: Mapped[Optional[dt.datetime]] = mapped_column(nullable=True)
    best_epoch: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    best_value: Mapped[Optional[float]] = mapped_column(Float, nullable=True)
    compute_s: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    peak_rss_bytes: Mapped[Optional[int]] = mapped_column(BigInteger, nullable=True)
    spec_key: Mapped[Optional[str]] = mapped_column(String(1000), nullable=True)
    state_key: Mapped[Optional[str]] = mapped_column(String(1000), nullable=True)
    summary: Mapped[str] = mapped_column(Text, default="", server_default="")
    fail_reason: Mapped[Optional[str]] = mapped_column(String(20), nullable=True)
    stop_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    rev: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class EpochMetric(Base):
    """One metric of one trial at the end of one epoch."""

    __tablename__ = "epoch_metrics"
    __table_args__ = (UniqueConstraint("trial_id", "epoch", "name", name="uq_epoch_metric"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"), index=True)
    epoch: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    value: Mapped[Optional[float]] = mapped_column(Float, nullable=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    rev: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Visit(Base):
    """One sub-epoch of the schedule: a trial on a worker, training or evaluating."""

    __tablename__ = "visits"
    __table_args__ = (Index("ix_visits_experiment_start", "experiment_id", "start_s"),
                      Index("ix_visits_experiment_rev", "experiment_id", "rev"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"), index=True)
    worker: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))
    epoch: Mapped[int] = mapped_column(Integer)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[Optional[float]] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(10), default="done", server_default="done")
    deadline_s: Mapped[Optional[float]] = mapped_column(Float, nullable=True)
    peak_rss_bytes: Mapped[Optional[int]] = mapped_column(BigInteger, nullable=True)
    lost_reason: Mapped[Optional[str]] = mapped_column(String(20), nullable=True)
    error: Mapped[str] = mapped_column(Text, default="", server_default="")
    rev: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Command(Base):
    """A human-in-the-loop action for a running search."""

    __tablename__ = "commands"
    __table_args__ = (Index("ix_commands_pending", "experiment_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(20))
    model_id: Mapped[Optional[str]] = mapped_column(String(200), nullable=True)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    epochs: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default=PENDING)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    applied_at: Mapped[Optional[dt.datetime]] = mapped_column(nullable=True)
