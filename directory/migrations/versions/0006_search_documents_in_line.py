"""Search documents kept in the table's own pages, so PostgreSQL's planner uses the GIN index.

A document (`directory/search.py`, ~2.4 kB with positions) is over PostgreSQL's 2 kB TOAST threshold,
so it was moved out of line: the heap of 10,000 entries was 512 kB and the documents 24 MB of TOAST the
planner does not count. A sequential scan looked nearly free and was chosen, then read every document
(42–60 ms). With `toast_tuple_target` at its maximum a document stays in line unless it is over ~8 kB,
the heap is as large as what a scan reads, and the planner picks the index (ranking then reads only the
matching rows' pages). `fastupdate` off keeps the index without a pending list of unindexed rows,
which the planner prices as a scan of that whole list, and which only VACUUM empties.

Existing documents are rewritten so that they move in line; the index is rebuilt without its pending
list. SQLite (FTS5) has no such thing: nothing to do there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

MAX_TOAST_TUPLE_TARGET = 8160  # bytes: PostgreSQL's upper limit, a block less its header


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE entry_search SET (toast_tuple_target = {MAX_TOAST_TUPLE_TARGET})")
    op.execute("ALTER INDEX ix_entry_search_document SET (fastupdate = off)")
    # `|| ''` makes a new value: an unchanged one would keep its pointer into TOAST.
    op.execute("UPDATE entry_search SET document = document || ''::tsvector")
    op.execute("REINDEX INDEX ix_entry_search_document")
    op.execute("ANALYZE entry_search")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER INDEX ix_entry_search_document RESET (fastupdate)")
    op.execute("ALTER TABLE entry_search RESET (toast_tuple_target)")
