"""Trials keep their KerasTuner-style best, memory, store keys and summary; visits in flight.

Adds ``experiments.direction``; ``trials.started_at/best_epoch/best_value/compute_s/
peak_rss_bytes/spec_key/state_key/summary/fail_reason``; ``visits.status/deadline_s/
peak_rss_bytes/lost_reason/error`` (``end_s`` becomes nullable: a visit in flight has none);
and the change counter ``rev`` on experiments, trials, epoch metrics and visits, with indexes
for "what changed since" reads. Existing rows get ``rev`` 0 and ``status`` ``done``; their
best is filled in from their epoch metrics.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _rev() -> sa.Column[Any]:
    return sa.Column("rev", sa.Integer(), nullable=False, server_default="0")


def upgrade() -> None:
    with op.batch_alter_table("experiments") as b:
        b.add_column(sa.Column("direction", sa.String(4), nullable=True))
        b.add_column(_rev())
    with op.batch_alter_table("trials") as b:
        b.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        b.add_column(sa.Column("best_epoch", sa.Integer(), nullable=True))
        b.add_column(sa.Column("best_value", sa.Float(), nullable=True))
        b.add_column(sa.Column("compute_s", sa.Float(), nullable=False, server_default="0"))
        b.add_column(sa.Column("peak_rss_bytes", sa.BigInteger(), nullable=True))
        b.add_column(sa.Column("spec_key", sa.String(1000), nullable=True))
        b.add_column(sa.Column("state_key", sa.String(1000), nullable=True))
        b.add_column(sa.Column("summary", sa.Text(), nullable=False, server_default=""))
        b.add_column(sa.Column("fail_reason", sa.String(20), nullable=True))
        b.add_column(_rev())
        b.create_index("ix_trials_experiment_rev", ["experiment_id", "rev"])
    with op.batch_alter_table("epoch_metrics") as b:
        b.add_column(_rev())
    with op.batch_alter_table("visits") as b:
        b.alter_column("end_s", existing_type=sa.Float(), nullable=True)
        b.add_column(sa.Column("status", sa.String(10), nullable=False, server_default="done"))
        b.add_column(sa.Column("deadline_s", sa.Float(), nullable=True))
        b.add_column(sa.Column("peak_rss_bytes", sa.BigInteger(), nullable=True))
        b.add_column(sa.Column("lost_reason", sa.String(20), nullable=True))
        b.add_column(sa.Column("error", sa.Text(), nullable=False, server_default=""))
        b.add_column(_rev())
        b.create_index("ix_visits_experiment_rev", ["experiment_id", "rev"])
    if not op.get_context().as_sql:  # offline (``--sql``) mode has no rows to read
        _fill_best()


def _fill_best() -> None:
    """Old trials: best value and epoch of the experiment's metric, by its direction."""
    from cerebro.metrics import is_maximized

    conn = op.get_bind()
    exps = conn.execute(sa.text("SELECT id, metric FROM experiments")).fetchall()
    for eid, metric in exps:
        direction = "max" if is_maximized(metric) else "min"
        conn.execute(sa.text("UPDATE experiments SET direction = :d WHERE id = :e"),
                     {"d": direction, "e": eid})
        rows = conn.execute(sa.text(
            "SELECT t.id, m.epoch, m.value FROM trials t JOIN epoch_metrics m ON m.trial_id = t.id "
            "WHERE t.experiment_id = :e AND m.name = :n AND m.value IS NOT NULL "
            "ORDER BY t.id, m.epoch"), {"e": eid, "n": metric}).fetchall()
        best: dict[int, tuple[int, float]] = {}
        for tid, epoch, value in rows:
            old = best.get(tid)
            if old is None or (value > old[1] if direction == "max" else value < old[1]):
                best[tid] = (epoch, value)
        for tid, (epoch, value) in best.items():
            conn.execute(sa.text("UPDATE trials SET best_epoch = :ep, best_value = :v "
                                 "WHERE id = :t"), {"ep": epoch, "v": value, "t": tid})


def downgrade() -> None:
    with op.batch_alter_table("visits") as b:
        b.drop_index("ix_visits_experiment_rev")
        for col in ("rev", "error", "lost_reason", "peak_rss_bytes", "deadline_s", "status"):
            b.drop_column(col)
    op.execute("DELETE FROM visits WHERE end_s IS NULL")
    with op.batch_alter_table("visits") as b:
        b.alter_column("end_s", existing_type=sa.Float(), nullable=False)
    with op.batch_alter_table("epoch_metrics") as b:
        b.drop_column("rev")
    with op.batch_alter_table("trials") as b:
        b.drop_index("ix_trials_experiment_rev")
        for col in ("rev", "fail_reason", "summary", "state_key", "spec_key", "peak_rss_bytes",
                    "compute_s", "best_value", "best_epoch", "started_at"):
            b.drop_column(col)
    with op.batch_alter_table("experiments") as b:
        b.drop_column("rev")
        b.drop_column("direction")
