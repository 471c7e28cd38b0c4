"""What the crawlers see, kept apart from what is published: link checks, proposals, posts, feed
states and page snapshots; and the per-entry settings of the page watch.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Moment = sa.DateTime(timezone=True)


def _entry_id() -> sa.Column:
    return sa.Column("entry_id", sa.Integer, sa.ForeignKey("entries.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("watch_url", sa.String(2000)))
        batch.add_column(sa.Column("watch_selector", sa.String(500)))
        batch.add_column(sa.Column("watch_ignore", sa.String(500)))
    op.create_table(
        "link_checks",
        sa.Column("id", sa.Integer, primary_key=True),
        _entry_id(),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("final_url", sa.String(2000)),
        sa.Column("status_code", sa.Integer),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error", sa.String(300)),
        sa.Column("latency_ms", sa.Integer),
        sa.Column("details", sa.JSON),
        sa.Column("checked_at", Moment, nullable=False),
    )
    op.create_index("ix_link_checks_entry", "link_checks", ["entry_id", "checked_at"])
    op.create_table(
        "proposals",
        sa.Column("id", sa.Integer, primary_key=True),
        _entry_id(),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("operation", sa.String(8), nullable=False),
        sa.Column("value", sa.JSON),
        sa.Column("value_key", sa.String(64), nullable=False),
        sa.Column("current", sa.JSON),
        sa.Column("evidence", sa.JSON),
        sa.Column("origin", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("decided_at", Moment),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("decision_reason", sa.Text),
    )
    op.create_index("ix_proposals_lookup", "proposals", ["entry_id", "field", "value_key", "status"])
    op.create_index("ix_proposals_status", "proposals", ["status", "id"])
    op.create_table(
        "posts",
        sa.Column("id", sa.Integer, primary_key=True),
        _entry_id(),
        sa.Column("feed_url", sa.String(2000), nullable=False),
        sa.Column("guid", sa.String(64), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("link", sa.String(2000)),
        sa.Column("published_at", Moment),
        sa.Column("summary", sa.Text),
        sa.Column("language", sa.String(8)),
        sa.Column("fetched_at", Moment, nullable=False),
        sa.UniqueConstraint("entry_id", "guid", name="uq_posts_entry_guid"),
    )
    op.create_index("ix_posts_time", "posts", ["fetched_at"])
    op.create_table(
        "feed_states",
        sa.Column("id", sa.Integer, primary_key=True),
        _entry_id(),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("etag", sa.String(300)),
        sa.Column("last_modified", sa.String(100)),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.String(300)),
        sa.Column("fetched_at", Moment),
        sa.UniqueConstraint("entry_id", "url", name="uq_feed_states_entry_url"),
    )
    op.create_table(
        "page_snapshots",
        sa.Column("id", sa.Integer, primary_key=True),
        _entry_id(),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("fetched_at", Moment, nullable=False),
    )
    op.create_index("ix_page_snapshots_entry_url", "page_snapshots", ["entry_id", "url", "id"])


def downgrade() -> None:
    for table in ("page_snapshots", "feed_states", "posts", "proposals", "link_checks"):
        op.drop_table(table)
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("watch_ignore")
        batch.drop_column("watch_selector")
        batch.drop_column("watch_url")
