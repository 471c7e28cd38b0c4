"""robots.txt kept between crawls for a day (RFC 9309 §2.4), through the real site spider against the
fixture web, on both databases: a second crawl within the day does not ask again and obeys the rules
it kept; past the day it asks again and obeys the new ones; a 5xx is never kept; nothing but robots.txt
is cached."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from crawlers.robots_cache import RobotsTxt
from crawlers.run import run_crawl
from directory.store import Store
from tests.fixtureweb import FixtureWeb
from tests.test_robots_rfc9309 import add, checks_by_site, options

TEXT = "text/plain"


def crawl(store: Store) -> None:
    summary = run_crawl("site", options(store))
    assert summary.returncode == 0, summary.stats.get("stderr")


def test_robots_txt_is_asked_once_a_day_and_its_rules_kept(store: Store, fixture_web: FixtureWeb) -> None:
    add(store, fixture_web, "minimal", "good-org")
    fixture_web.set_page("minimal", "/robots.txt", "User-agent: *\nDisallow: /\n", TEXT)
    crawl(store)
    fixture_web.set_page("minimal", "/robots.txt", "User-agent: *\nAllow: /\n", TEXT)  # changed meanwhile
    crawl(store)
    assert fixture_web.hits("minimal", "/robots.txt") == 1 and fixture_web.hits("good-org", "/robots.txt") == 1
    assert fixture_web.hits("minimal", "/") == 0  # the kept rules still say no
    assert fixture_web.hits("good-org", "/") == 2  # pages are never cached: each crawl reads them
    assert [c.error for c in checks_by_site(store)["minimal"]] == ["disallowed by robots.txt"] * 2

    with store.session() as session:  # a day later
        for row in session.scalars(select(RobotsTxt)):
            row.fetched_at -= dt.timedelta(hours=24)
    crawl(store)
    assert fixture_web.hits("minimal", "/robots.txt") == 2 and fixture_web.hits("minimal", "/") == 1
    assert checks_by_site(store)["minimal"][-1].outcome == "ok"
    with store.session() as session:
        kept = {row.url: row for row in session.scalars(select(RobotsTxt))}
    assert set(kept) == {fixture_web.url("minimal", "/robots.txt"), fixture_web.url("good-org", "/robots.txt")}
    assert kept[fixture_web.url("minimal", "/robots.txt")].body == b"User-agent: *\nAllow: /\n"


def test_a_5xx_robots_txt_is_never_kept(store: Store, fixture_web: FixtureWeb) -> None:
    add(store, fixture_web, "robots-503")
    crawl(store)
    crawl(store)
    assert fixture_web.hits("robots-503", "/robots.txt") == 4  # each crawl: once, and Scrapy's one retry
    with store.session() as session:
        assert session.scalars(select(RobotsTxt)).all() == []
