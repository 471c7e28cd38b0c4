"""PostgreSQL search goes through its GIN index, and migration 0006 moves existing documents in line.

The planner does not count TOAST: with documents out of line a sequential scan looked nearly free and
was chosen over the index (see directory/migrations/versions/0006_search_documents_in_line.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from directory import entries, search
from directory.store import Store, upgrade
from tests.benchmarks.test_directory_bench import OLD_PG_SEARCH, QUERIES, bench_records

BENCH = entries.Actor("bench", "bench")


@pytest.fixture
def at_0005(database_url: str) -> Iterator[Store]:
    """The directory's schema as it was before documents moved in line."""
    db = Store(database_url, create=True)
    upgrade(db.engine, "0005")
    yield db
    db.close()


def create(store: Store, count: int) -> None:
    """`count` entries as the benchmark makes them, created in batches (`entries.create_all`)."""
    records = bench_records(count)
    for batch in iter(lambda: list(itertools.islice(records, 500)), []):
        with store.session() as session:
            entries.create_all(session, [(entries.plan_against(None, r), BENCH) for r in batch], None)


def plan(store: Store, query: str) -> str:
    with store.session() as session:
        rows = session.execute(text(f"EXPLAIN {search.PG_SEARCH}"), {"q": query.replace("ё", "е"), "limit": 20})
        return "\n".join(row[0] for row in rows)


def every_match(store: Store, statement: str, query: str) -> list[tuple[int, float]]:
    """(entry id, rank) of every match of `query`, best first, as `statement` gives them."""
    with store.session() as session:
        rows = session.execute(text(statement), {"q": query.replace("ё", "е"), "limit": 1_000_000})
        return [(entry_id, rank) for entry_id, rank in rows]


def ranked(store: Store, query: str) -> list[search.Hit]:
    with store.session() as session:
        return search.search_ids(session, query, limit=20)


def documents(store: Store) -> dict[int, str]:
    with store.session() as session:
        return {
            entry_id: document
            for entry_id, document in session.execute(text("SELECT entry_id, document::text FROM entry_search"))
        }


def heap_and_documents_bytes(store: Store) -> tuple[int, int]:
    """(the table's own pages, the documents' sizes added up), in bytes."""
    with store.session() as session:
        row = session.execute(
            text("SELECT pg_relation_size('entry_search'), sum(pg_column_size(document)) FROM entry_search")
        ).one()
    return int(row[0]), int(row[1])


def storage_options(store: Store) -> tuple[list[str] | None, list[str] | None]:
    """The table's and its GIN index's storage parameters (None: PostgreSQL's defaults)."""
    with store.session() as session:
        options = dict(
            session.execute(
                text(
                    "SELECT relname, reloptions FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
                    "AND relname IN ('entry_search', 'ix_entry_search_document')"
                )
            ).all()
        )
    return options["entry_search"], options["ix_entry_search_document"]


@pytest.mark.only_on("postgresql")  # its planner: SQLite searches its FTS5 table
def test_search_uses_the_gin_index_at_a_realistic_size(store: Store) -> None:
    """3,000 entries: before 0006 the planner chose a sequential scan for every one of these queries."""
    create(store, 3000)
    with store.session() as session:
        session.execute(text("ANALYZE entry_search"))
    for query in [*QUERIES, "Latvia Латвии", '"political prisoners"', "visa -residence", "visa or Riga"]:
        assert "Bitmap Index Scan on ix_entry_search_document" in plan(store, query), query
        matches = every_match(store, search.PG_SEARCH, query)
        assert matches, query
        assert matches == every_match(store, OLD_PG_SEARCH, query), query


@pytest.mark.only_on("postgresql")  # its storage: SQLite searches its FTS5 table
def test_migration_moves_existing_documents_in_line_and_keeps_results(at_0005: Store) -> None:
    create(at_0005, 300)
    heap, docs = heap_and_documents_bytes(at_0005)
    assert heap < docs / 2  # out of line, in TOAST
    written = documents(at_0005)
    found = {query: ranked(at_0005, query) for query in QUERIES}

    upgrade(at_0005.engine, "0006")
    assert storage_options(at_0005) == (["toast_tuple_target=8160"], ["fastupdate=off"])
    heap, docs = heap_and_documents_bytes(at_0005)
    assert heap >= docs  # the backfill: every document now in the table's own pages
    assert documents(at_0005) == written
    assert {query: ranked(at_0005, query) for query in QUERIES} == found

    from alembic import command

    from directory.store import _alembic_config

    with at_0005.engine.begin() as connection:
        command.downgrade(_alembic_config(connection), "0005")
    assert storage_options(at_0005) == (None, None)
    assert {query: ranked(at_0005, query) for query in QUERIES} == found
    upgrade(at_0005.engine, "0006")
    assert {query: ranked(at_0005, query) for query in QUERIES} == found
