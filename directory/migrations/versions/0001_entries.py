"""Entries, revisions and full-text search.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSONList = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "entries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("slug", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name_en", sa.String(300), nullable=False),
        sa.Column("name_ru", sa.String(300), nullable=False),
        sa.Column("summary_en", sa.Text, nullable=False),
        sa.Column("summary_ru", sa.Text, nullable=False),
        sa.Column("website", sa.String(2000)),
        sa.Column("other_domains", JSONList, nullable=False),
        sa.Column("feeds", JSONList, nullable=False),
        sa.Column("host_countries", JSONList, nullable=False),
        sa.Column("countries_served", JSONList, nullable=False),
        sa.Column("languages", JSONList, nullable=False),
        sa.Column("topics", JSONList, nullable=False),
        sa.Column("contact_email", sa.String(320)),
        sa.Column("contact_telegram", sa.String(200)),
        sa.Column("contact_other", JSONList, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_note", sa.Text),
        sa.Column("verified_at", Moment),
        sa.Column("verified_by", sa.String(200)),
        sa.Column("source", sa.Text),
        sa.Column("program_state", sa.String(16)),
        sa.Column("program_state_since", sa.Date),
        sa.Column("eligibility_en", sa.Text),
        sa.Column("eligibility_ru", sa.Text),
        sa.Column("official_url", sa.String(2000)),
        sa.Column("application_route_en", sa.Text),
        sa.Column("application_route_ru", sa.Text),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("updated_at", Moment, nullable=False),
        sa.CheckConstraint("kind IN ('media', 'ngo', 'program')", name="ck_entries_kind"),
        sa.CheckConstraint("status IN ('active', 'inactive', 'closed')", name="ck_entries_status"),
        sa.CheckConstraint(
            "program_state IS NULL OR program_state IN ('open', 'paused', 'closed', 'unknown')",
            name="ck_entries_program_state",
        ),
    )
    op.create_index("ix_entries_kind_status", "entries", ["kind", "status"])
    op.create_table(
        "revisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("entry_id", sa.Integer, sa.ForeignKey("entries.id", ondelete="CASCADE"), nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("old", sa.JSON),
        sa.Column("new", sa.JSON),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("origin", sa.String(300), nullable=False),
        sa.Column("created_at", Moment, nullable=False),
    )
    op.create_index("ix_revisions_entry_id", "revisions", ["entry_id", "id"])
    op.create_index("ix_revisions_created_at", "revisions", ["created_at"])

    if op.get_bind().dialect.name == "postgresql":
        op.create_table(
            "entry_search",
            sa.Column("entry_id", sa.Integer, sa.ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True),
            sa.Column("document", postgresql.TSVECTOR, nullable=False),
        )
        op.create_index("ix_entry_search_document", "entry_search", ["document"], postgresql_using="gin")
    else:
        # Stemmed text (see directory/search.py); rowid is the entry id.
        op.execute("CREATE VIRTUAL TABLE entry_fts USING fts5(names, summaries, tags, tokenize='unicode61')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_table("entry_search")
    else:
        op.execute("DROP TABLE entry_fts")
    op.drop_table("revisions")
    op.drop_table("entries")
