"""robots.txt kept between crawls for a day (RFC 9309 §2.4), through the real site spider against the
fixture web, on both databases: a second crawl within the day does not ask again and obeys the rules
it kept; past the day it asks again and obeys the new ones; a 5xx is never kept; nothing but robots.txt
is cached."""

from __future__ import annotations

import datetime as dt

from scrapy import Spider
from scrapy.http import Request, TextResponse
from scrapy.settings import Settings
from sqlalchemy import func, select

from crawlers.robots_cache import DatabaseRobotsStorage, RobotsOnlyPolicy, RobotsTxt
from crawlers.run import run_crawl
from directory.models import utcnow
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


def test_only_an_origins_own_robots_txt_is_cacheable() -> None:
    """A page that merely has the path /robots.txt (an entry's website with a query, a redirect to a
    2,100-character URL) is crawled afresh: a cached copy could hide its outage, and the URL would not
    fit the key column on PostgreSQL."""
    policy = RobotsOnlyPolicy(Settings())
    cacheable = {
        url: policy.should_cache_request(Request(url))
        for url in (
            "https://a.example/robots.txt",
            "http://127.0.0.8:8080/robots.txt",
            "https://a.example/robots.txt?lang=en",
            "https://a.example/robots.txt?q=" + "x" * 2100,
            "https://a.example/robots.txt;params",
            "https://a.example/static/robots.txt",
            "https://a.example/",
        )
    }
    assert [url for url, keep in cacheable.items() if keep] == [
        "https://a.example/robots.txt",
        "http://127.0.0.8:8080/robots.txt",
    ]


def storage(store: Store) -> DatabaseRobotsStorage:
    return DatabaseRobotsStorage(Settings({"NANSEN_DATABASE_URL": store.url}))


def test_a_crawl_keeps_every_answer_it_fetched_however_many(store: Store) -> None:
    """More answers than one PostgreSQL statement takes parameters (65,535, five a row) are all kept."""
    kept = storage(store)
    for n in range(14_000):
        url = f"https://site{n}.example/robots.txt"
        kept.store_response(Spider("site"), Request(url), TextResponse(url, body=b"User-agent: *\nAllow: /\n"))
    kept.close_spider(Spider("site"))
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(RobotsTxt)) == 14_000


def test_an_answer_dated_ahead_of_the_clock_is_not_trusted(store: Store) -> None:
    """A row from a clock that ran ahead is neither used nor kept; one a few minutes ahead (another
    crawl host's clock, a little off) still is."""
    now = utcnow()
    with store.session() as session:
        for name, moment in (("ahead", now + dt.timedelta(days=10)), ("close", now + dt.timedelta(minutes=2))):
            session.add(RobotsTxt(url=f"https://{name}.example/robots.txt", status=200, headers={}, body=b"",
                                  fetched_at=moment))  # fmt: skip
    kept = storage(store)
    kept.open_spider(Spider("site"))
    assert kept.retrieve_response(Spider("site"), Request("https://ahead.example/robots.txt")) is None
    assert kept.retrieve_response(Spider("site"), Request("https://close.example/robots.txt")) is not None
    kept.close_spider(Spider("site"))
    with store.session() as session:
        assert session.scalars(select(RobotsTxt.url)).all() == ["https://close.example/robots.txt"]
