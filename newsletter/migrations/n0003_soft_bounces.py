"""Soft bounces per subscriber: how many in a row, and for which edition the last one was counted.

Revision ID: n0003
Revises: n0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "n0003"
down_revision = "n0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers") as table:
        table.add_column(sa.Column("soft_bounces", sa.Integer(), nullable=False, server_default="0"))
        table.add_column(sa.Column("last_soft_edition", sa.Integer()))


def downgrade() -> None:
    with op.batch_alter_table("subscribers") as table:
        table.drop_column("last_soft_edition")
        table.drop_column("soft_bounces")
