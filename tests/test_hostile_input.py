"""Crawled input never stops, corrupts or disguises anything: each case is the smallest input that once
did, served by the fixture web (`tests/fixtures/web/sites_text.py`) and crawled by the real crawler."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from xml.etree import ElementTree as ET

import feedparser
import pytest
from sqlalchemy import select

from crawlers.run import run_crawl
from directory import entries, posts
from directory.models import Entry, FeedState, LinkCheck, Post, Proposal
from directory.store import Store
from pipeline import jobs
from pipeline.config import load
from tests.conftest import Cli
from tests.fixtures.web.sites_text import CONTROL_TITLES, LONG_SUMMARY, NOT_FEEDS, PRIVATE_LINKS
from tests.fixtureweb import FixtureWeb
from tests.test_crawlers import add, options

ATOM = "{http://www.w3.org/2005/Atom}"


def crawl_feed(store: Store, web: FixtureWeb, site: str, path: str) -> dict[str, Post]:
    add(store, site, feeds=[web.url(site, path)])
    summary = run_crawl("feeds", options(store), entry=site)
    assert summary.ok and not summary.errors, (summary.errors, summary.failures)
    with store.session() as session:
        found = session.scalars(select(Post).join(Entry).where(Entry.slug == site).order_by(Post.id))
        return {post.title: post for post in found}


def parse_every_file(root: Path) -> int:
    """Every XML file (feeds, OPML) parses as XML, every JSON file as JSON; returns how many were read."""
    read = 0
    for path in root.rglob("*"):
        if path.suffix in (".atom", ".rss", ".opml"):
            ET.parse(path)
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        else:
            continue
        read += 1
    return read


def test_control_characters_cost_nothing_and_publish_goes_on(
    store: Store, fixture_web: FixtureWeb, cli: Cli, tmp_path: Path
) -> None:
    stored = crawl_feed(store, fixture_web, "feed-control-chars", "/feed.xml")
    assert sorted(stored) == sorted(CONTROL_TITLES)
    result = cli("publish", "--output", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert parse_every_file(tmp_path) > 50
    atom = ET.parse(tmp_path / "ru/feeds/organizations.atom").getroot()
    assert sorted(e.findtext(f"{ATOM}title") for e in atom.iter(f"{ATOM}entry")) == sorted(CONTROL_TITLES)


def test_a_row_stored_before_the_rules_is_left_out_and_named(
    store: Store, fixture_web: FixtureWeb, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A title holding ESC, written past the store's rules (as rows written before them were): publish
    leaves out that post only, says which, and the run record of a publish job keeps it."""
    crawl_feed(store, fixture_web, "feed-control-chars", "/feed.xml")
    with store.session() as session:
        post = session.scalars(select(Post).where(Post.title == "Обычная новость")).one()
        post.title, post_id = "Bad \x1b[2J title", post.id
    result = cli("publish", "--output", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert f"skipped post {post_id} (feed-control-chars): holds U+001B, which XML 1.0 does not allow" in result.output
    assert parse_every_file(tmp_path) > 50
    titles = [
        e.findtext(f"{ATOM}title") for e in ET.parse(tmp_path / "en/feeds/organizations.atom").iter(f"{ATOM}entry")
    ]
    assert len(titles) == 3 and "Bad" not in " ".join(titles)
    monkeypatch.setenv("NANSEN_PUBLIC_DIR", str(tmp_path))
    counts = jobs.publish(load(store.url), store)
    assert counts["rows_left_out"] == {
        f"post {post_id} (feed-control-chars)": "holds U+001B, which XML 1.0 does not allow"
    }


def test_each_json_feed_item_costs_only_itself(store: Store, fixture_web: FixtureWeb) -> None:
    stored = crawl_feed(store, fixture_web, "feed-json-hostile", "/feed.json")
    assert len(stored) == 5
    assert "Half a pair: \ufffd here" in stored  # the lone surrogate replaced, the item kept
    assert stored["Dated the year 1"].published_at is None  # implausibly early: undated
    for title in ("Dated 9999", "Dated 2099"):  # later than the fetch: the fetch time
        assert stored[title].published_at == stored[title].fetched_at
    text = stored["Use <col> and <script>alert(1)</script> in tables"]  # a text title keeps its words
    assert text.summary == "<p>Plain text with &lt;b&gt;no&lt;/b&gt; markup.</p><p>Second paragraph &amp; more.</p>"


def test_no_feed_is_updated_in_the_future(store: Store, fixture_web: FixtureWeb, tmp_path: Path) -> None:
    crawl_feed(store, fixture_web, "feed-json-hostile", "/feed.json")
    with store.session() as session:  # a row from before dates were bounded
        future = session.scalars(select(Post).where(Post.title == "Dated 2099")).one()
        future.published_at = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
    from publishing import site
    from publishing.feeds import FeedSettings

    with store.session() as session:
        site.build(session, site.SiteSettings(tmp_path, FeedSettings("https://n.example.org/", "n.example.org")))
    now = dt.datetime.now(dt.UTC)
    for path in tmp_path.rglob("*.atom"):
        updated = dt.datetime.fromisoformat(ET.parse(path).getroot().findtext(f"{ATOM}updated") or "")
        assert updated <= now, path
    document = json.loads((tmp_path / "en/feeds/organizations.json").read_text(encoding="utf-8"))
    assert all(dt.datetime.fromisoformat(i["date_published"]) <= now for i in document["items"])


def test_text_stays_text_and_summaries_end_whole(
    store: Store, fixture_web: FixtureWeb, cli: Cli, tmp_path: Path
) -> None:
    stored = crawl_feed(store, fixture_web, "feed-atom-text", "/feed.atom")
    [post] = stored.values()
    assert post.title == "Use <col> for columns & rows"
    summary = post.summary or ""
    assert len(summary) <= posts.SUMMARY_LIMIT < len(LONG_SUMMARY)
    assert summary.startswith("<p>Слово Слово") and summary.endswith("…</p>")
    assert "https://exa" not in summary and summary.count("<") == summary.count(">")
    crawl_feed(store, fixture_web, "feed-json-hostile", "/feed.json")
    assert cli("publish", "--output", str(tmp_path)).exit_code == 0
    page = (tmp_path / "en/entries/feed-atom-text.html").read_text(encoding="utf-8")
    assert "Use &lt;col&gt; for columns &amp; rows" in page
    for fmt in ("atom", "rss"):
        parsed = feedparser.parse((tmp_path / f"en/feeds/organizations.{fmt}").read_bytes())
        titles = {entry.title for entry in parsed.entries}
        # A title that is literally "<script>…" arrives as words in every format, never as markup.
        assert "Use <col> and <script>alert(1)</script> in tables" in titles or (
            fmt == "rss" and "Use &lt;col&gt; and &lt;script&gt;alert(1)&lt;/script&gt; in tables" in titles
        ), titles
    rss = (tmp_path / "en/feeds/organizations.rss").read_text(encoding="utf-8")
    assert "<script" not in rss and "&lt;script" not in rss.replace("&amp;lt;script", "")
    document = json.loads((tmp_path / "en/feeds/organizations.json").read_text(encoding="utf-8"))
    assert "Use <col> and <script>alert(1)</script> in tables" in {i["title"] for i in document["items"]}


def test_links_to_non_public_addresses_are_neither_stored_nor_proposed(store: Store, fixture_web: FixtureWeb) -> None:
    stored = crawl_feed(store, fixture_web, "feed-private-links", "/feed.xml")
    assert {title: post.link for title, post in stored.items()} == {
        **{f"Link {n}": None for n in range(len(PRIVATE_LINKS))},
        "Public": "https://example.org/news/1",
    }
    add(store, "home-private-links", website=fixture_web.url("home-private-links"))
    assert run_crawl("site", options(store), entry="home-private-links").ok
    with store.session() as session:
        proposed = [p.value for p in session.scalars(select(Proposal).where(Proposal.field == "feeds"))]
        [check] = session.scalars(select(LinkCheck))
    assert proposed == [fixture_web.url("home-private-links", "/feed.atom")]
    assert check.details["og_image"] is None and check.details["logo"] is None
    assert check.details["same_as"] == ["https://example.org/p"]


def test_an_unreadable_feed_fails_the_crawl_and_names_the_entry(
    store: Store, fixture_web: FixtureWeb, cli: Cli
) -> None:
    add(store, "unreadable", feeds=[fixture_web.url("feed-unreadable", "/feed.xml")])
    add(store, "readable", feeds=[fixture_web.url("feed-rss20", "/feed.xml")])
    result = cli("crawl", "feeds", env={"NANSEN_CRAWL_ALLOW_NETWORKS": "127.0.0.0/8", "NANSEN_CRAWL_POLITE": "false"})
    assert result.exit_code == 1, result.output
    assert "feeds crawl failed: unreadable: unreadable feed" in result.output
    with store.session() as session:
        state = session.scalars(select(FeedState).join(Entry).where(Entry.slug == "unreadable")).one()
        assert (state.last_error or "").startswith("unreadable feed: UnicodeError")
        assert len(list(session.scalars(select(Post).join(Entry).where(Entry.slug == "readable")))) == 3
    clean = cli(
        "crawl", "feeds", "--entry", "readable",
        env={"NANSEN_CRAWL_ALLOW_NETWORKS": "127.0.0.0/8", "NANSEN_CRAWL_POLITE": "false"},
    )  # fmt: skip
    assert clean.exit_code == 0, clean.output
    assert "errors none" in clean.output


def test_the_run_record_keeps_a_crawl_failure_and_the_good_posts_are_published(
    store: Store, fixture_web: FixtureWeb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(store, "unreadable", feeds=[fixture_web.url("feed-unreadable", "/feed.xml")])
    add(store, "readable", feeds=[fixture_web.url("feed-rss20", "/feed.xml")])
    monkeypatch.setenv("NANSEN_PUBLIC_DIR", str(tmp_path))
    monkeypatch.setenv("NANSEN_CRAWL_ALLOW_NETWORKS", "127.0.0.0/8")
    monkeypatch.setenv("NANSEN_CRAWL_POLITE", "false")
    assert jobs.execute("feeds", load(store.url)) == "failed"
    from pipeline import runs

    with store.session() as session:
        [run] = runs.recent(session, job="feeds")
        assert run.outcome == "failed" and "unreadable: unreadable feed" in (run.error or "")
        assert run.counts["posts"] == 3 and run.counts["files_written"] > 0
    assert len(feedparser.parse((tmp_path / "ru/feeds/organizations.atom").read_bytes()).entries) == 3


def test_storing_normalizes_whatever_a_caller_hands_in(store: Store) -> None:
    """The store's own rule, whoever calls it: XML-forbidden characters gone, NFC, surrogates replaced."""
    with store.session() as session:
        entries.add_entry(session, {**_record("direct")}, entries.Actor("maintainer"))
        posts.store_posts(
            session,
            "direct",
            "https://example.org/feed",
            [
                posts.NewPost("g", "e\u0301\x00\x1b\x9b\ud800", "https://example.org/x", None, "<p>\x01ok</p>", "ru"),
                posts.NewPost("h", "scripted", "javascript:alert(1)", None, None, "ru"),
            ],
        )
        first, second = session.scalars(select(Post).order_by(Post.guid))
        assert (first.title, first.link, first.summary) == ("é\ufffd", "https://example.org/x", "<p>ok</p>")
        assert second.link is None  # only a URL the directory's URL fields accept is republished


def _record(slug: str) -> dict[str, object]:
    from tests.conftest import entry_record

    return entry_record(slug)


def test_what_sites_answer_is_a_finding_not_a_failure_even_after_retries(store: Store, fixture_web: FixtureWeb) -> None:
    """A refused connection, a 500 and a 503 robots.txt are facts about the sites: Scrapy logs "Gave up
    retrying" at ERROR once its retries are spent, and that must not make the crawl a failed one."""
    add(store, "refused-feed", feeds=[fixture_web.url("refused", "/feed.xml")])
    add(store, "error-feed", feeds=[fixture_web.url("server-error", "/feed.xml")])
    add(store, "robots-503-feed", feeds=[fixture_web.url("robots-503", "/feed.xml")])
    summary = run_crawl("feeds", options(store, RETRY_ENABLED=True))
    assert summary.ok, summary.failures
    assert summary.errors["refused"] == 1 and summary.errors["http-500"] == 1 and "failed" not in summary.errors


def test_a_document_that_is_no_feed_fails_the_crawl_and_names_the_entry(store: Store, fixture_web: FixtureWeb) -> None:
    for path in NOT_FEEDS:
        add(
            store,
            f"not-a-feed{path.replace('/', '-').replace('.', '-')}",
            feeds=[fixture_web.url("feed-not-feeds", path)],
        )
    summary = run_crawl("feeds", options(store))
    assert not summary.ok and summary.errors["failed"] == len(NOT_FEEDS)
    assert sorted(f.entry or "" for f in summary.failures) == sorted(
        f"not-a-feed{path.replace('/', '-').replace('.', '-')}" for path in NOT_FEEDS
    )
    with store.session() as session:
        errors = [state.last_error or "" for state in session.scalars(select(FeedState))]
    assert len(errors) == len(NOT_FEEDS) and all(e.startswith("unreadable feed: UnreadableFeed") for e in errors)


def test_a_json_feed_behind_a_byte_order_mark_is_read(store: Store, fixture_web: FixtureWeb) -> None:
    stored = crawl_feed(store, fixture_web, "feed-json-bom", "/feed.json")
    assert sorted(stored) == ["Вторая новость", "Лента с BOM"]  # the item with no title and no link is skipped


def test_two_crawls_storing_the_same_posts_at_once_both_succeed(store: Store) -> None:
    """A second process storing the same feed's posts while the first has not committed: the second
    waits on the first's rows, then inserts none of them, instead of losing its transaction to the
    unique constraint (it read "not there yet" before the first committed)."""
    import threading
    import time

    items = [posts.NewPost(f"g{n}", f"Post {n}", f"https://example.org/{n}", None, None, "ru") for n in range(3)]
    with store.session() as session:
        entries.add_entry(session, _record("shared"), entries.Actor("maintainer"))
    second: dict[str, object] = {}

    def store_again() -> None:
        try:
            with store.session() as other:
                second["new"] = posts.store_posts(other, "shared", "https://example.org/feed", items)
        except Exception as exc:  # what the test is about: reported below, not lost in the thread
            second["error"] = exc

    with store.session() as first:
        assert posts.store_posts(first, "shared", "https://example.org/feed", items) == 3
        thread = threading.Thread(target=store_again)
        thread.start()
        time.sleep(1)  # ordering only: the second has read "not there" and waits on our uncommitted rows
    thread.join()
    assert second == {"new": 0}
    with store.session() as session:
        assert len(list(session.scalars(select(Post)))) == 3


def test_two_crawls_proposing_the_same_change_at_once_make_one_proposal(store: Store) -> None:
    """The same race for the review queue: the second process read "not pending yet" before the first
    committed, and once made a twin that stayed pending after its sibling was rejected."""
    import threading
    import time

    from directory import proposals

    with store.session() as session:
        entries.add_entry(session, _record("proposed"), entries.Actor("maintainer"))
    suggestion = proposals.Suggestion(
        "feed-found", "feeds", "https://example.org/feed.xml", {"seen": "feed link"}, operation="add"
    )
    second: dict[str, object] = {}

    def propose_again() -> None:
        try:
            with store.session() as other:
                made = proposals.propose(other, entries.get_entry(other, "proposed"), suggestion, "crawler:site")
                second["made"] = made is not None
        except Exception as exc:  # what the test is about: reported below, not lost in the thread
            second["error"] = exc

    with store.session() as first:
        assert proposals.propose(first, entries.get_entry(first, "proposed"), suggestion, "crawler:site")
        thread = threading.Thread(target=propose_again)
        thread.start()
        time.sleep(1)  # ordering only: the second has found nothing pending and waits on our row
    thread.join()
    assert second == {"made": False}
    with store.session() as session:
        assert len(proposals.list_proposals(session, slug="proposed")) == 1
