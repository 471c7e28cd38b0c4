"""Newsletter tables: subscribers, editions, deliveries, anonymous counts.

Revision ID: n0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "n0001"
down_revision = None
branch_labels = ("newsletter",)
depends_on = "0003"

Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("countries", sa.JSON, nullable=False),
        sa.Column("kinds", sa.JSON, nullable=False),
        sa.Column("topics", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("consent", sa.JSON),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("confirmed_at", Moment),
        sa.Column("unsubscribed_at", Moment),
        sa.Column("confirmation_sent_at", Moment),
    )
    op.create_table(
        "editions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("number", sa.Integer, nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("since", Moment),
        sa.Column("until", Moment, nullable=False),
        sa.Column("update_ids", sa.JSON, nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("approved_at", Moment),
        sa.Column("approved_by", sa.String(200)),
        sa.Column("sent_at", Moment),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("edition_id", sa.Integer, sa.ForeignKey("editions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("segment", sa.String(64), nullable=False),
        sa.Column("message_id", sa.String(300), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("updated_at", Moment, nullable=False),
        sa.UniqueConstraint("edition_id", "subscriber_id", name="uq_deliveries_edition_subscriber"),
    )
    op.create_index("ix_deliveries_status", "deliveries", ["edition_id", "status"])
    op.create_table(
        "newsletter_counts",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("newsletter_counts", "deliveries", "editions", "subscribers"):
        op.drop_table(table)
