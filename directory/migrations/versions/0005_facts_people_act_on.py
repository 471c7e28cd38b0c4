"""Facts people act on: designations and warnings per entry, a program's state note and next call,
and state dates to the precision a source gives (`2025-07` rather than an invented `2025-07-01`).

`program_state_since` becomes text (YYYY-MM-DD, YYYY-MM or YYYY); existing dates keep their value.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON_LIST = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("designations", JSON_LIST, nullable=False, server_default=sa.text("'[]'")))
        batch.add_column(sa.Column("warnings", JSON_LIST, nullable=False, server_default=sa.text("'[]'")))
        batch.add_column(sa.Column("state_note_en", sa.Text(), nullable=True))
        batch.add_column(sa.Column("state_note_ru", sa.Text(), nullable=True))
        batch.add_column(sa.Column("next_call_opens", sa.String(10), nullable=True))
        batch.add_column(sa.Column("next_call_closes", sa.String(10), nullable=True))
        batch.alter_column(
            "program_state_since",
            existing_type=sa.Date(),
            type_=sa.String(10),
            postgresql_using="to_char(program_state_since, 'YYYY-MM-DD')",
        )


def downgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.alter_column(
            "program_state_since",
            existing_type=sa.String(10),
            type_=sa.Date(),
            postgresql_using=(
                "to_date(program_state_since || substr('-01-01', 1, 10 - length(program_state_since)), 'YYYY-MM-DD')"
            ),
        )
        for column in (
            "next_call_closes",
            "next_call_opens",
            "state_note_ru",
            "state_note_en",
            "warnings",
            "designations",
        ):
            batch.drop_column(column)
