"""The robots.txt answers crawls keep between runs, for a day (RFC 9309 §2.4).

Revision ID: c0001
Revises:
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "c0001"
down_revision = None
branch_labels = ("crawlers",)
depends_on = "0003"

Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "robots_txt",
        sa.Column("url", sa.String(2000), primary_key=True),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("fetched_at", Moment, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("robots_txt")
