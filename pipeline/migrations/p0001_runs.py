"""Scheduler tables: a record of every job run, and the lock rows used on SQLite.

Revision ID: p0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "p0001"
down_revision = None
branch_labels = ("pipeline",)
depends_on = "0003"

Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("job", sa.String(32), nullable=False),
        sa.Column("slot", Moment),
        sa.Column("started_at", Moment, nullable=False),
        sa.Column("finished_at", Moment),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("counts", sa.JSON),
        sa.Column("error", sa.Text),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.UniqueConstraint("job", "slot", name="uq_runs_job_slot"),
    )
    op.create_index("ix_runs_started", "runs", ["started_at"])
    op.create_table(
        "job_locks",
        sa.Column("job", sa.String(32), primary_key=True),
        sa.Column("holder", sa.String(200)),
        sa.Column("expires_at", Moment),
    )


def downgrade() -> None:
    op.drop_table("job_locks")
    op.drop_table("runs")
