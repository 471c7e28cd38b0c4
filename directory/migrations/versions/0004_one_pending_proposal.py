"""At most one pending proposal per entry, field and value: two crawls proposing the same change at
once (a scheduler and a maintainer's `nansen crawl`) made twins, and rejecting one left the other.

Twins already made are identical and undecided: the later ones are removed before the unique index.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.execute(
        "DELETE FROM proposals WHERE status = 'pending' AND id NOT IN ("
        "SELECT MIN(id) FROM proposals WHERE status = 'pending' GROUP BY entry_id, field, value_key)"
    )
    op.create_index(
        "uq_proposals_pending",
        "proposals",
        ["entry_id", "field", "value_key"],
        unique=True,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("uq_proposals_pending", table_name="proposals")
