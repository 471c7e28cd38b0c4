"""The real spiders against the fixture web on loopback, in child processes, on both databases."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from sqlalchemy import func, select

from crawlers.run import CrawlOptions, run_crawl
from directory import entries, proposals
from directory.models import LinkCheck, PageSnapshot, Post, Proposal
from directory.store import Store
from tests.conftest import Cli, any_alive, children_of, command_of, entry_record, program_record
from tests.fixtures.web.sites import HUGE_FEED_ITEMS, PROGRAM_RULE_V2, PROGRAM_V2
from tests.fixtureweb import FixtureWeb

ME = entries.Actor("maintainer")
FAST = {"DOWNLOAD_TIMEOUT": 2, "DOWNLOAD_MAXSIZE": 1024 * 1024, "RETRY_ENABLED": False}


def options(store: Store, **overrides: Any) -> CrawlOptions:
    return CrawlOptions(
        store.url, "https://nansen.example.org/contact", ("127.0.0.0/8",), polite=False, overrides={**FAST, **overrides}
    )


def add(store: Store, slug: str, **fields: Any) -> None:
    with store.session() as session:
        entries.add_entry(session, entry_record(slug, **fields), ME)


def latest_checks(store: Store) -> dict[str, LinkCheck]:
    with store.session() as session:
        checks = session.scalars(select(LinkCheck).order_by(LinkCheck.id))
        return {entries_slug(session, c.entry_id): c for c in checks}


def entries_slug(session: Any, entry_id: int) -> str:
    from directory.models import Entry

    return session.get(Entry, entry_id).slug


SITES = {
    "good-org": ("ok", 200, None),
    "redirect-chain": ("ok", 200, None),
    "moved-permanently": ("ok", 200, None),
    "moved-308": ("ok", 200, None),
    "not-found": ("dead", 404, None),
    "server-error": ("dead", 500, None),
    "gone": ("dead", 410, None),
    "forbidden": ("unknown", 403, None),
    "rate-limited": ("unknown", 429, None),
    "slow": ("dead", None, "timeout"),
    "refused": ("dead", None, "refused"),
    "robots-disallow": ("unknown", None, "robots"),
    "oversized": ("unknown", None, "too-large"),
    "redirect-metadata": ("unknown", None, "blocked"),
    "redirect-private": ("unknown", None, "blocked"),
    "hostile-page": ("ok", 200, None),
    "cp1251-page": ("ok", 200, None),
    "jsonld-only": ("ok", 200, None),
}


def test_site_crawl_classifies_every_site_and_proposes_only(store: Store, fixture_web: FixtureWeb) -> None:
    for site in SITES:
        add(store, site, website=fixture_web.url(site))
    summary = run_crawl("site", options(store))
    assert summary.returncode == 0, summary.stats.get("stderr")
    assert summary.targets == len(SITES)
    checks = latest_checks(store)
    assert {s: (checks[s].outcome, checks[s].status_code) for s in SITES} == {
        s: (outcome, code) for s, (outcome, code, _) in SITES.items()
    }
    kinds = [kind for _, _, kind in SITES.values() if kind]
    assert {kind: summary.errors[kind] for kind in kinds} == {kind: kinds.count(kind) for kind in kinds}
    assert summary.errors["timeout"] == 1 and summary.errors["refused"] == 1 and summary.errors["blocked"] == 2
    assert (
        "169.254.169.254" in checks["redirect-metadata"].error and "cloud metadata" in checks["redirect-metadata"].error
    )
    assert fixture_web.hits("robots-disallow", "/") == 0
    good = checks["good-org"].details
    assert good["language"] == "ru" and good["og_title"] and good["logo"].startswith("http")
    assert any("t.me" in url for url in good["same_as"])
    assert good["contact_links"] and good["donation_links"]
    hostile = checks["hostile-page"].details
    # A <title> holds text, not markup (HTML's RCDATA): its words are kept as a browser's tab shows them,
    # and escaped wherever they are shown. No link is anything but http(s).
    assert hostile["title"] == "Фонд <script>alert(1)</script><b>«Ловушка»</b>"
    links = [hostile["og_image"], hostile["logo"], *hostile["same_as"], *hostile["contact_links"]]
    assert "javascript:" not in json.dumps([*links, *hostile["donation_links"]])
    assert checks["redirect-chain"].final_url.endswith("/final")
    agent = fixture_web.requests("good-org")[0].headers["User-Agent"]
    assert agent == "NansenBot/0.1 (+https://nansen.example.org/contact)"


def test_a_permanent_move_changes_nothing_until_accepted(store: Store, fixture_web: FixtureWeb, cli: Cli) -> None:
    add(store, "moved", website=fixture_web.url("moved-permanently"))
    add(store, "moved-same-host", website=fixture_web.url("moved-308"))
    run_crawl("site", options(store))
    with store.session() as session:
        pending = proposals.list_proposals(session)
        assert [(p.entry.slug, p.field, p.value) for p in pending if p.field == "website"] == [
            ("moved", "website", fixture_web.url("moved-target"))
        ]
        assert entries.get_entry(session, "moved").website == fixture_web.url("moved-permanently")
        website_proposal = next(p.id for p in pending if p.field == "website")
    assert cli("review", "accept", str(website_proposal)).exit_code == 0
    with store.session() as session:
        assert entries.get_entry(session, "moved").website == fixture_web.url("moved-target")
    run_crawl("site", options(store))  # the new address answers directly: nothing more to propose
    with store.session() as session:
        assert session.scalar(select(func.count(Proposal.id)).where(Proposal.field == "website")) == 1


FEEDS = {
    "feed-rss091": "/feed.xml",
    "feed-rss10": "/feed.rdf",
    "feed-rss20": "/feed.xml",
    "feed-atom10": "/feed.atom",
    "feed-jsonfeed": "/feed.json",
    "feed-hostile": "/feed.xml",
    "feed-bad-dates": "/feed.xml",
    "feed-broken-encoding": "/feed.xml",
    "feed-conditional": "/feed.xml",
}


def post_counts(store: Store) -> dict[str, int]:
    with store.session() as session:
        rows = session.execute(select(Post.entry_id, func.count(Post.id)).group_by(Post.entry_id))
        return {entries_slug(session, entry_id): count for entry_id, count in rows}


def test_feeds_in_every_format_then_304s_store_nothing_new(store: Store, fixture_web: FixtureWeb) -> None:
    for site, path in FEEDS.items():
        add(store, site, feeds=[fixture_web.url(site, path)])
    first = run_crawl("feeds", options(store))
    assert first.returncode == 0, first.stats.get("stderr")
    counts = post_counts(store)
    for site in ("feed-rss091", "feed-rss10", "feed-rss20", "feed-atom10", "feed-jsonfeed"):
        assert counts[site] == 3, site
    assert counts["feed-broken-encoding"] >= 2  # the good items survive the bad one
    assert counts["feed-bad-dates"] == 4
    with store.session() as session:
        titles = list(session.scalars(select(Post.title)))
        summaries = " ".join(s or "" for s in session.scalars(select(Post.summary)))
        assert any("ё" in t or "а" in t for t in titles)
        assert not any("<" in t for t in titles)
        assert "<script" not in summaries and "onerror" not in summaries and "javascript:" not in summaries
    second = run_crawl("feeds", options(store))
    assert second.posts == 0 and post_counts(store) == counts
    assert second.stats.get("nansen/status/304", 0) >= 1
    conditional = [r for r in fixture_web.requests("feed-conditional") if r.path.startswith("/feed")]
    assert "If-None-Match" in conditional[-1].headers and "If-None-Match" not in conditional[0].headers
    fixture_web.set_page(
        "feed-conditional", "/feed.xml", fixture_web_feed_with_new_item(fixture_web), content_type="application/rss+xml"
    )
    third = run_crawl("feeds", options(store))
    assert third.posts == 1


def fixture_web_feed_with_new_item(web: FixtureWeb) -> str:
    base = web.base("feed-conditional")
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>C</title>'
        f"<link>{base}/</link><description>d</description>"
        f"<item><title>Новый пост</title><link>{base}/new</link><guid>{base}/new</guid></item>"
        "</channel></rss>"
    )


def test_a_killed_crawl_keeps_its_posts_and_the_next_run_completes(store: Store, fixture_web: FixtureWeb) -> None:
    add(store, "huge", feeds=[fixture_web.url("huge-feed", "/feed.xml")])
    for site in ("feed-rss20", "feed-atom10"):
        add(store, site, feeds=[fixture_web.url(site, FEEDS[site])])
    add(store, "slow-feed", feeds=[fixture_web.url("slow", "/feed.xml")])
    fixture_web.set_delay("slow", 30)
    opts = options(store, DOWNLOAD_TIMEOUT=60)
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crawlers.child",
            "feeds",
            "--options",
            json.dumps(
                opts.__dict__ | {"allow_networks": list(opts.allow_networks), "overrides": dict(opts.overrides)}
            ),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while sum(post_counts(store).values()) < HUGE_FEED_ITEMS + 6 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert child.poll() is None, "the crawl should still be waiting for the slow feed"
    helpers = children_of(child.pid)  # the writer process and multiprocessing's resource tracker
    assert helpers
    child.kill()
    child.wait()
    assert not any_alive(helpers), "a process of the killed crawl outlived it"
    stored = post_counts(store)
    assert stored["huge"] == HUGE_FEED_ITEMS
    fixture_web.set_delay("slow", 0)
    again = run_crawl("feeds", options(store))
    assert again.returncode == 0
    assert post_counts(store)["huge"] == HUGE_FEED_ITEMS  # nothing twice
    with store.session() as session:
        guids = list(session.scalars(select(Post.guid)))
    assert len(guids) == len(set(guids))


def test_a_crawl_killed_from_outside_is_reported_as_such_and_leaves_no_process(
    store: Store, fixture_web: FixtureWeb
) -> None:
    """SIGKILL to the crawl's process while its writer process runs: `run_crawl` returns at once with
    the signal as the reason, and nothing of the crawl is left running."""
    add(store, "feed-rss20", feeds=[fixture_web.url("feed-rss20", FEEDS["feed-rss20"])])
    add(store, "slow-feed", feeds=[fixture_web.url("slow", "/feed.xml")])
    fixture_web.set_delay("slow", 30)
    killed: list[int] = []

    def kill_once_writing() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for crawl in (pid for pid in children_of(os.getpid()) if b"crawlers.child" in command_of(pid)):
                if helpers := children_of(crawl):  # the writer process has started: an item was written
                    killed.extend([crawl, *helpers])
                    os.kill(crawl, signal.SIGKILL)
                    return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_once_writing, daemon=True)
    killer.start()
    summaries: list[Any] = []
    crawl = threading.Thread(
        target=lambda: summaries.append(run_crawl("feeds", options(store, DOWNLOAD_TIMEOUT=60))), daemon=True
    )
    crawl.start()
    killer.join()
    crawl.join(20)
    assert not crawl.is_alive(), "run_crawl still waits for a crawl that was killed"
    [summary] = summaries
    assert summary.returncode == -signal.SIGKILL
    assert [f.error for f in summary.failures] == ["the crawl process failed: killed by SIGKILL"]
    assert not any_alive(killed)


def test_watch_proposes_a_confirmed_change_but_not_rerenders_or_flips(
    store: Store, fixture_web: FixtureWeb, cli: Cli
) -> None:
    with store.session() as session:
        entries.add_entry(
            session,
            program_record(
                "rules", **{"program.official_url": fixture_web.url("program-page"), "watch.selector": "#rules"}
            ),
            ME,
        )
        entries.add_entry(
            session, program_record("ticking", **{"program.official_url": fixture_web.url("timestamp-only")}), ME
        )
        entries.add_entry(
            session, program_record("flipping", **{"program.official_url": fixture_web.url("flip-flop")}), ME
        )
    for _ in range(3):
        assert run_crawl("watch", options(store)).returncode == 0
    with store.session() as session:
        assert proposals.list_proposals(session) == []
    fixture_web.set_page("program-page", "/", PROGRAM_V2)
    summary = run_crawl("watch", options(store))
    assert summary.proposals == 1 and summary.stats.get("nansen/watch/second_fetches", 0) >= 1
    with store.session() as session:
        [change] = proposals.list_proposals(session)
        assert change.entry.slug == "rules" and change.kind == "page-change"
        assert PROGRAM_RULE_V2.split()[0] in change.value["diff"]
        snapshots = session.scalar(select(func.count(PageSnapshot.id)).where(PageSnapshot.entry_id == change.entry_id))
        assert snapshots == 2
    listing = cli("review").output
    assert "page-change" in listing
    assert run_crawl("watch", options(store)).proposals == 0  # the same new text is not proposed twice


def test_crawl_twice_in_one_process_and_the_cli(store: Store, fixture_web: FixtureWeb, cli: Cli) -> None:
    add(store, "good", website=fixture_web.url("good-org"), feeds=[fixture_web.url("good-org", "/feed.rss")])
    first = run_crawl("site", options(store))
    second = run_crawl("site", options(store))
    assert first.returncode == second.returncode == 0
    assert first.pages >= 1 and second.pages >= 1
    env = {"NANSEN_CRAWL_ALLOW_NETWORKS": "127.0.0.0/8", "NANSEN_CRAWL_POLITE": "0"}
    result = cli("crawl", "site", "feeds", "--entry", "good", env=env)
    assert result.exit_code == 0, result.output
    assert "site: 1 targets" in result.output and "feeds: 1 targets" in result.output
    assert cli("crawl", "bogus", env=env).exit_code == 2


def test_without_an_allowance_loopback_is_refused(store: Store, fixture_web: FixtureWeb) -> None:
    add(store, "good", website=fixture_web.url("good-org"))
    summary = run_crawl("site", CrawlOptions(store.url, "https://nansen.example.org/", polite=False, overrides=FAST))
    assert summary.errors["blocked"] == 1
    assert fixture_web.hits("good-org", "/") == 0 and fixture_web.hits("good-org", "/robots.txt") == 0


def test_retry_after_is_honoured_before_asking_again(store: Store, fixture_web: FixtureWeb) -> None:
    add(store, "busy", website=fixture_web.url("rate-limited"))
    add(store, "fine", website=fixture_web.url("minimal"))
    first = run_crawl("site", options(store))
    assert (first.targets, fixture_web.hits("rate-limited", "/")) == (2, 1)
    second = run_crawl("site", options(store))
    assert second.targets == 1  # Retry-After: 120 has not passed yet
    assert fixture_web.hits("rate-limited", "/") == 1 and fixture_web.hits("minimal", "/") == 2
    assert latest_checks(store)["busy"].outcome == "unknown"
