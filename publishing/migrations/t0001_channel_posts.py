"""Telegram ledger: where each language's channel starts, and a row per update × language.

Revision ID: t0001
Revises:
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "t0001"
down_revision = None
branch_labels = ("publishing",)
depends_on = "0003"

Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "channel_starts",
        sa.Column("language", sa.String(2), primary_key=True),
        sa.Column("after_revision", sa.BigInteger, nullable=False),
        sa.Column("wait_until", Moment),
        sa.Column("created_at", Moment, nullable=False),
    )
    op.create_table(
        "channel_posts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("update_id", sa.String(64), nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("chat", sa.String(200)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("message_id", sa.BigInteger),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("updated_at", Moment, nullable=False),
        sa.Column("sent_at", Moment),
        sa.Column("claimed_by", sa.String(200)),
        sa.Column("claimed_at", Moment),
        sa.UniqueConstraint("update_id", "language", name="uq_channel_posts_update_language"),
    )
    op.create_index("ix_channel_posts_status", "channel_posts", ["language", "status"])


def downgrade() -> None:
    op.drop_table("channel_posts")
    op.drop_table("channel_starts")
