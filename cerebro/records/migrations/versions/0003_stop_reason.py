"""Trials keep why they were stopped early (``trials.stop_reason``).

A trial the search ended before its last epoch (the early-stopping rule, a Keras callback,
a person on the dashboard) is ``STOPPED``; ``stop_reason`` says why. Existing rows get "".

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trials") as b:
        b.add_column(sa.Column("stop_reason", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("trials") as b:
        b.drop_column("stop_reason")
