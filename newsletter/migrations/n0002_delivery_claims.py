"""Delivery claims: the sender that holds a row while its SMTP transaction runs.

Revision ID: n0002
Revises: n0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "n0002"
down_revision = "n0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as table:
        table.add_column(sa.Column("claimed_by", sa.String(200)))
        table.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as table:
        table.drop_column("claimed_at")
        table.drop_column("claimed_by")
