"""The curation service on both databases: every change leaves a revision, nothing else changes."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text

from directory import entries
from directory.models import Entry, Revision
from directory.store import Store, current_revision, upgrade
from pipeline.config import MIGRATION_LOCATIONS
from tests.conftest import entry_record, program_record

ME = entries.Actor("maintainer")


def revisions(store: Store) -> list[Revision]:
    with store.session() as session:
        return list(session.scalars(select(Revision).order_by(Revision.id)))


def test_add_records_one_created_revision_with_the_whole_entry(store: Store) -> None:
    with store.session() as session:
        entry = entries.add_entry(session, entry_record(), ME, reason="seen at a meetup")
        assert entry.created_at.tzinfo is not None
    [rev] = revisions(store)
    assert (rev.field, rev.old, rev.actor, rev.reason, rev.origin) == (
        "created",
        None,
        "maintainer",
        "seen at a meetup",
        "cli",
    )
    assert rev.new["name"] == {"en": "Test Legal Aid", "ru": "Тестовая юридическая помощь"}
    assert rev.new["topics"] == ["legal-aid", "political-prisoners"]


def test_add_refuses_an_existing_slug(store: Store) -> None:
    with store.session() as session:
        entries.add_entry(session, entry_record(), ME)
    with pytest.raises(entries.InvalidEntry, match="exists already"), store.session() as session:
        entries.add_entry(session, entry_record(), ME)


def test_edit_records_one_revision_per_changed_field_and_none_for_no_change(store: Store) -> None:
    with store.session() as session:
        entries.add_entry(session, entry_record(), ME)
    with store.session() as session:
        change = entries.edit_entry(
            session,
            "test-org",
            {"website": "https://example.net", "languages": ["ru", "en"]},
            ME,
            reason="moved",
        )
    assert [(c.field, c.old, c.new) for c in change.changes] == [
        ("website", "https://example.org", "https://example.net")
    ]
    with store.session() as session:
        assert entries.edit_entry(session, "test-org", {"website": "https://example.net"}, ME).action == "unchanged"
    assert [(r.field, r.old, r.new, r.reason) for r in revisions(store)[1:]] == [
        ("website", "https://example.org", "https://example.net", "moved")
    ]


def test_a_minor_edit_is_history_marked_minor(store: Store) -> None:
    with store.session() as session:
        entries.add_entry(session, entry_record(), ME)
    with store.session() as session:
        entries.edit_entry(
            session, "test-org", {"summary.en": "Lawyers who defend political prisoners."}, ME, minor=True
        )
    assert [(r.field, r.minor) for r in revisions(store)] == [("created", False), ("summary.en", True)]


def test_updated_at_moves_and_stays_utc(store: Store) -> None:
    with store.session() as session:
        created = entries.add_entry(session, entry_record(), ME).updated_at
    with store.session() as session:
        entries.edit_entry(session, "test-org", {"status_note": "checking"}, ME)
    with store.session() as session:
        entry = entries.get_entry(session, "test-org")
        assert entry.updated_at > created
        assert entry.updated_at.utcoffset() == dt.timedelta(0)
        assert entry.created_at == created


def test_the_slug_cannot_change(store: Store) -> None:
    with store.session() as session:
        entries.add_entry(session, entry_record(), ME)
    with pytest.raises(entries.InvalidEntry, match="stable id"), store.session() as session:
        entries.edit_entry(session, "test-org", {"slug": "other"}, ME)


def test_a_refused_edit_changes_nothing(store: Store) -> None:
    with store.session() as session:
        entries.add_entry(session, entry_record(), ME)
    with pytest.raises(entries.InvalidEntry) as caught, store.session() as session:
        entries.edit_entry(session, "test-org", {"website": "https://ok.org", "host_countries": ["XX"]}, ME)
    assert [e.field for e in caught.value.errors] == ["host_countries"]
    with store.session() as session:
        assert entries.get_entry(session, "test-org").website == "https://example.org"
    assert len(revisions(store)) == 1


def test_verify_sets_who_and_when_and_keeps_the_note(store: Store) -> None:
    with store.session() as session:
        entries.add_entry(session, entry_record(), ME)
    with store.session() as session:
        entries.verify_entry(session, "test-org", ME, note="called them", source="https://example.org/about")
    with store.session() as session:
        entry = entries.get_entry(session, "test-org")
        assert entry.verified_by == "maintainer"
        assert entry.source == "https://example.org/about"
        assert dt.datetime.now(dt.UTC) - entry.verified_at < dt.timedelta(minutes=1)
    assert {r.field for r in revisions(store)[1:]} == {"verified_at", "verified_by", "source"}
    assert {r.reason for r in revisions(store)[1:]} == {"called them"}


def test_close_needs_a_reason_and_is_recorded(store: Store) -> None:
    with store.session() as session:
        entries.add_entry(session, entry_record(), ME)
    with pytest.raises(entries.InvalidEntry, match="needs a reason"), store.session() as session:
        entries.close_entry(session, "test-org", ME, reason="  ")
    with store.session() as session:
        entries.close_entry(session, "test-org", ME, reason="announced closure")
        history = entries.history(session, "test-org")
    assert [(r.field, r.old, r.new, r.reason) for r in history[1:]] == [
        ("status", "active", "closed", "announced closure")
    ]


def test_unknown_slug(store: Store) -> None:
    with pytest.raises(entries.EntryNotFound, match="no entry with slug 'ghost'"), store.session() as session:
        entries.history(session, "ghost")


def test_program_fields_belong_to_programs_only(store: Store) -> None:
    with store.session() as session:
        program = entries.add_entry(session, program_record(), ME)
        assert (program.program_state, program.program_state_since) == ("paused", "2025-08-01")
    with pytest.raises(entries.InvalidEntry, match="only a program"), store.session() as session:
        entries.add_entry(session, entry_record("ngo", **{"program.state": "open"}), ME)
    with pytest.raises(entries.InvalidEntry, match="exactly one host country"), store.session() as session:
        entries.edit_entry(session, "test-program", {"host_countries": ["DE", "PL"]}, ME)


@pytest.fixture
def populated(store: Store) -> Store:
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=400)).isoformat()
    fresh = dt.datetime.now(dt.UTC).isoformat()
    records = [
        entry_record("ngo-ge", verified_at=fresh, source="https://ngo-ge.example.org/about"),
        entry_record(
            "ngo-am",
            host_countries=["AM"],
            countries_served=["BY"],
            topics=["lgbt"],
            languages=["be"],
            verified_at=old,
            source="https://ngo-am.example.org/about",
        ),
        entry_record("media-lv", kind="media", host_countries=["LV"], topics=["journalism"], status="inactive"),
        program_record("program-de"),
        program_record("program-ge", host_countries=["GE"], **{"program.state": "open"}),
    ]
    with store.session() as session:
        for record in records:
            entries.add_entry(session, record, ME)
    return store


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (entries.Filters(), ["media-lv", "ngo-am", "ngo-ge", "program-de", "program-ge"]),
        (entries.Filters(kind="program"), ["program-de", "program-ge"]),
        (entries.Filters(country="GE"), ["ngo-ge", "program-ge"]),
        (entries.Filters(country="ge", kind="ngo"), ["ngo-ge"]),
        (entries.Filters(serves="BY"), ["ngo-am"]),
        (entries.Filters(topic="lgbt"), ["ngo-am"]),
        (entries.Filters(language="be"), ["ngo-am"]),
        (entries.Filters(status="inactive"), ["media-lv"]),
        (entries.Filters(program_state="paused"), ["program-de"]),
        (entries.Filters(stale_days=180), ["media-lv", "ngo-am", "program-de", "program-ge"]),
        (entries.Filters(stale_days=500), ["media-lv", "program-de", "program-ge"]),
    ],
)
def test_list_filters(populated: Store, filters: entries.Filters, expected: list[str]) -> None:
    with populated.session() as session:
        assert [e.slug for e in entries.list_entries(session, filters)] == expected


def test_stats(populated: Store) -> None:
    with populated.session() as session:
        data = entries.stats(session)
    assert data["entries"] == 5
    assert data["by_kind"] == {"media": 1, "ngo": 2, "program": 2}
    assert data["by_program_state"] == {"open": 1, "paused": 1}
    assert data["by_host_country"] == {"AM": 1, "DE": 1, "GE": 2, "LV": 1}
    assert data["never_verified"] == 3
    assert data["not_verified_in_180_days"] == 1
    assert data["revisions"] == 5


def test_migrations_upgrade_twice_and_downgrade(store: Store) -> None:
    upgrade(store.engine, locations=MIGRATION_LOCATIONS)
    assert current_revision(store.engine) == "0006, c0001, n0003, p0001, t0001"  # the packages' branches depend on 0003
    with store.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Entry)).scalar() == 0
        dialect = connection.dialect.name
    from alembic import command

    from directory.store import _alembic_config

    with store.engine.begin() as connection:
        command.downgrade(_alembic_config(connection, MIGRATION_LOCATIONS), "base")
    with store.engine.connect() as connection:
        table = "entry_search" if dialect == "postgresql" else "entry_fts"
        if dialect == "sqlite":
            gone = connection.execute(text("SELECT count(*) FROM sqlite_master WHERE name = :t"), {"t": table})
        else:
            gone = connection.execute(
                text("SELECT count(*) FROM pg_tables WHERE tablename = :t AND schemaname = current_schema()"),
                {"t": table},
            )
        assert gone.scalar() == 0
        assert connection.dialect.has_table(connection, "subscribers") is False
        assert connection.dialect.has_table(connection, "robots_txt") is False
    upgrade(store.engine)  # the directory alone: what a project without the newsletter would run
    assert current_revision(store.engine) == "0006"
    upgrade(store.engine, locations=MIGRATION_LOCATIONS)
    assert current_revision(store.engine) == "0006, c0001, n0003, p0001, t0001"
