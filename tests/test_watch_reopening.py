"""A programme that pauses and reopens: open (A) → paused (B, accepted) → open again (A) is proposed.

The flip rule silences a page that goes back to a recent version, as A/B tests do; but once a maintainer
has accepted B, the versions before it are reviewed history, and A coming back is the news people wait for.
"""

from __future__ import annotations

from sqlalchemy import select

from crawlers.run import CrawlOptions, run_crawl
from directory import entries, proposals, watch
from directory.models import Entry
from directory.store import Store
from tests.conftest import Cli, program_record
from tests.fixtures.web.sites_watch import (
    REOPENING_OPEN,
    REOPENING_PAUSED,
    REOPENING_RULE_OPEN,
    REOPENING_RULE_PAUSED,
)
from tests.fixtureweb import FixtureWeb

ME = entries.Actor("maintainer")
FAST = {"DOWNLOAD_TIMEOUT": 2, "DOWNLOAD_MAXSIZE": 1024 * 1024, "RETRY_ENABLED": False}
SITE = "program-reopening"


def options(store: Store) -> CrawlOptions:
    return CrawlOptions(store.url, "https://nansen.example.org/contact", ("127.0.0.0/8",), polite=False, overrides=FAST)


def add_program(store: Store, fixture_web: FixtureWeb) -> None:
    with store.session() as session:
        record = program_record(
            "reopening", **{"program.official_url": fixture_web.url(SITE), "watch.selector": "#status"}
        )
        entries.add_entry(session, record, ME)


def pending(store: Store) -> list[dict[str, str]]:
    with store.session() as session:
        return [p.value for p in proposals.list_proposals(session, field=proposals.PAGE_FIELD)]


def test_a_reopening_after_an_accepted_pause_is_proposed(store: Store, fixture_web: FixtureWeb, cli: Cli) -> None:
    add_program(store, fixture_web)
    assert run_crawl("watch", options(store)).proposals == 0  # baseline: open
    fixture_web.set_page(SITE, "/", REOPENING_PAUSED)
    assert run_crawl("watch", options(store)).proposals == 1
    [paused] = pending(store)
    accepted = cli("review", "accept", "--entry", "reopening", "--field", proposals.PAGE_FIELD)
    assert accepted.exit_code == 0, accepted.output

    fixture_web.set_page(SITE, "/", REOPENING_OPEN)
    before = fixture_web.hits(SITE, "/")
    summary = run_crawl("watch", options(store))
    assert summary.proposals == 1
    assert summary.stats.get("nansen/watch/second_fetches") == 1 and fixture_web.hits(SITE, "/") == before + 2
    [reopened] = pending(store)
    assert reopened["old_hash"] == paused["hash"] and reopened["hash"] == paused["old_hash"]
    diff = reopened["diff"].splitlines()
    assert f"+{REOPENING_RULE_OPEN}" in diff and f"-{REOPENING_RULE_PAUSED}" in diff

    assert run_crawl("watch", options(store)).proposals == 0  # still open: nothing new
    assert len(pending(store)) == 1


def test_without_an_accepted_change_going_back_stays_silent(store: Store, fixture_web: FixtureWeb) -> None:
    add_program(store, fixture_web)
    run_crawl("watch", options(store))
    fixture_web.set_page(SITE, "/", REOPENING_PAUSED)
    assert run_crawl("watch", options(store)).proposals == 1  # pending, not accepted
    fixture_web.set_page(SITE, "/", REOPENING_OPEN)
    summary = run_crawl("watch", options(store))
    assert summary.proposals == 0 and summary.stats.get("nansen/watch/known") == 1
    assert "nansen/watch/second_fetches" not in summary.stats  # a known version needs no confirmation
    assert [value["hash"] for value in pending(store)] == [watch.text_hash(_text(REOPENING_PAUSED))]


def _text(html: str) -> str:
    """What the watch reads from a fixture page with the `#status` selector."""
    from scrapy.http import HtmlResponse

    from crawlers.spiders.watch import main_text

    return watch.normalize(main_text(HtmlResponse("http://example.org/", body=html, encoding="utf-8"), "#status"))


def test_the_history_starts_at_the_accepted_version(store: Store) -> None:
    url, other = "https://gov.example.org/relocation", "https://gov.example.org/other"
    open_, paused = "Applications are open.", "Applications are paused."
    with store.session() as session:
        entries.add_entry(session, program_record("reopening"), ME)
    with store.session() as session:
        entry_id = session.scalar(select(Entry.id).where(Entry.slug == "reopening"))
        assert entry_id is not None
        for page in (url, other):
            assert watch.record_page(session, "reopening", page, open_, confirmed=False) == "baseline"
            assert watch.record_page(session, "reopening", page, paused, confirmed=True) == "proposed"
            assert watch.record_page(session, "reopening", page, open_, confirmed=False) == "known"
        [first, _] = proposals.list_proposals(session, field=proposals.PAGE_FIELD)
        assert first.value["url"] == url
        proposals.accept(session, [first.id], "maintainer")

        hashes = [snapshot.hash for snapshot in watch.history(session, entry_id, url)]
        assert hashes == [watch.text_hash(paused)]  # the open version before it no longer counts
        assert watch.record_page(session, "reopening", url, open_, confirmed=False) == "unconfirmed"
        assert watch.record_page(session, "reopening", url, open_, confirmed=True) == "proposed"
        assert watch.record_page(session, "reopening", url, paused, confirmed=False) == "known"  # pending: flip rule
        assert len(watch.history(session, entry_id, url)) == 2
        # An accepted change of one page cuts the history of that page only.
        assert watch.record_page(session, "reopening", other, open_, confirmed=False) == "known"
        assert len(watch.history(session, entry_id, other)) == 2
