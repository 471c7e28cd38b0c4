"""Proposals and health rules on both databases: nothing changes an entry until a maintainer accepts."""

from __future__ import annotations

import datetime as dt

import pytest

from directory import entries, health, proposals, watch
from directory.store import Store
from tests.conftest import Cli, entry_record, program_record

ME = entries.Actor("maintainer")


@pytest.fixture
def org(store: Store) -> Store:
    with store.session() as session:
        entries.add_entry(session, entry_record(website="https://old.example.org/"), ME)
        entries.add_entry(session, program_record(**{"program.official_url": "https://gov.example.org/visa"}), ME)
    return store


def check(store: Store, **kwargs: object) -> list[int]:
    with store.session() as session:
        return [p.id for p in health.record_check(session, "test-org", health.Check(**kwargs))]  # type: ignore[arg-type]


def website(store: Store) -> str | None:
    with store.session() as session:
        return entries.get_entry(session, "test-org").website


def test_a_permanent_move_is_proposed_never_applied_until_accepted(org: Store, cli: Cli) -> None:
    [proposal] = check(
        org,
        url="https://old.example.org/",
        final_url="https://new.example.net/",
        status_code=200,
        permanent_redirect="https://new.example.net/",
    )
    assert website(org) == "https://old.example.org/"
    assert (
        check(org, url="https://old.example.org/", status_code=200, permanent_redirect="https://new.example.net/") == []
    )  # already pending: not twice
    result = cli("review", "accept", str(proposal))
    assert result.exit_code == 0, result.output
    assert website(org) == "https://new.example.net/"
    with org.session() as session:
        last = entries.history(session, "test-org")[-1]
    assert (last.field, last.actor, last.origin) == ("website", "tester", f"review:crawler:site#{proposal}")
    assert cli("review", "accept", str(proposal)).exit_code == 1  # decided already


def test_same_host_redirects_and_known_values_are_not_proposed(org: Store) -> None:
    assert (
        check(
            org, url="https://old.example.org/", status_code=200, permanent_redirect="https://www.old.example.org/home"
        )
        == []
    )
    assert check(org, url="https://old.example.org/", status_code=200, feeds=("javascript:alert(1)",)) == []


def test_rejected_values_are_not_proposed_again(org: Store, cli: Cli) -> None:
    [proposal] = check(org, url="https://old.example.org/", status_code=200, feeds=("https://old.example.org/rss",))
    assert cli("review", "reject", str(proposal)).exit_code == 2  # a reason is required
    assert cli("review", "reject", str(proposal), "--reason", "it is a comments feed").exit_code == 0
    assert check(org, url="https://old.example.org/", status_code=200, feeds=("https://old.example.org/rss",)) == []
    rows = cli("review", "--status", "rejected", "--format", "json").output
    assert '"decision_reason": "it is a comments feed"' in rows


def test_inactive_needs_n_failures_over_m_days_and_429_is_unknown(org: Store) -> None:
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    failures = [
        check(
            org,
            url="https://old.example.org/",
            error="refused",
            error_kind="refused",
            checked_at=start + dt.timedelta(days=day),
        )
        for day in (0, 1, 2)
    ]
    assert failures == [[], [], []]  # three failures, but within two days
    assert check(org, url="https://old.example.org/", status_code=429, checked_at=start + dt.timedelta(days=6)) == []
    assert check(org, url="https://old.example.org/", status_code=403, checked_at=start + dt.timedelta(days=7)) == []
    [proposal] = check(org, url="https://old.example.org/", status_code=500, checked_at=start + dt.timedelta(days=8))
    with org.session() as session:
        [pending] = proposals.list_proposals(session)
        assert (pending.id, pending.field, pending.value) == (proposal, "status", "inactive")
        assert entries.get_entry(session, "test-org").status == "active"


def test_a_success_breaks_the_failure_streak(org: Store) -> None:
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    for day, code in ((0, 500), (3, 500), (5, 200), (8, 500), (10, 500)):
        assert (
            check(org, url="https://old.example.org/", status_code=code, checked_at=start + dt.timedelta(days=day))
            == []
        )


def test_accept_by_entry_and_field_and_page_changes_become_news(org: Store, cli: Cli) -> None:
    url = "https://gov.example.org/visa"
    with org.session() as session:
        assert (
            watch.record_page(session, "test-program", url, "Rules: apply at the embassy.", confirmed=False)
            == "baseline"
        )
        assert watch.record_page(session, "test-program", url, "Rules: apply online.", confirmed=False) == "unconfirmed"
        assert (
            watch.record_page(session, "test-program", url, "Rules: apply at the embassy.", confirmed=False) == "same"
        )
        assert watch.record_page(session, "test-program", url, "Rules: apply online.", confirmed=True) == "proposed"
        assert (
            watch.record_page(session, "test-program", url, "Rules: apply at the embassy.", confirmed=False) == "known"
        )
    listing = cli("review").output
    assert "page-change" in listing and "+Rules: apply online." in listing
    assert cli("review", "accept", "--entry", "test-program", "--field", "page").exit_code == 0
    from publishing.updates import collect

    with org.session() as session:
        latest = collect(session)[0]
    assert latest.kind == "page-change"
    assert latest.title["en"] == "Test humanitarian visa: the official page changed"
    assert "+ Rules: apply online." in latest.text["ru"] and "- Rules: apply at the embassy." in latest.text["en"]


def test_normalize_ignores_whitespace_and_patterns() -> None:
    text = "  Rules\n\n  apply   here \nUpdated: 2026-11-23 10:00:01 "
    assert watch.normalize(text, r"Updated: [\d\- :]+") == "Rules\napply here"
