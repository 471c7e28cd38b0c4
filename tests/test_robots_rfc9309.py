"""robots.txt as RFC 9309 §2.3.1 reads it, through the real site spider against the fixture web.

4xx robots.txt: allow all. 5xx (after the one retry) or unreachable: complete disallow, and the check
says why. A 5xx robots.txt is `unknown` (it proves nothing about the site), an unreachable one keeps its
network kind so the dead-site rule still sees a host that does not answer.
"""

from __future__ import annotations

import datetime as dt

from scrapy.exceptions import IgnoreRequest
from sqlalchemy import select
from twisted.internet.error import DNSLookupError, TCPTimedOutError
from twisted.python.failure import Failure

from crawlers.failures import classify
from crawlers.robots import RobotsServerError, RobotsUnreachable
from crawlers.run import CrawlOptions, run_crawl
from directory import entries, proposals
from directory.models import Entry, LinkCheck
from directory.store import Store
from tests.conftest import entry_record
from tests.fixtureweb import FixtureWeb

ME = entries.Actor("maintainer")
# Retries on, as in production (RETRY_TIMES 1): a 5xx robots.txt is asked twice before it counts.
FAST = {"DOWNLOAD_TIMEOUT": 2, "DOWNLOAD_MAXSIZE": 1024 * 1024, "RETRY_ENABLED": True}
DISALLOW = "RFC 9309 §2.3.1.4 says assume complete disallow"


def options(store: Store) -> CrawlOptions:
    return CrawlOptions(store.url, "https://nansen.example.org/contact", ("127.0.0.0/8",), polite=False, overrides=FAST)


def add(store: Store, fixture_web: FixtureWeb, *sites: str) -> None:
    with store.session() as session:
        for site in sites:
            entries.add_entry(session, entry_record(site, website=fixture_web.url(site)), ME)


def checks_by_site(store: Store) -> dict[str, list[LinkCheck]]:
    """Every check, oldest first, by entry slug."""
    with store.session() as session:
        found: dict[str, list[LinkCheck]] = {}
        for check, slug in session.execute(select(LinkCheck, Entry.slug).join(Entry).order_by(LinkCheck.id)):
            found.setdefault(slug, []).append(check)
        return found


def test_a_5xx_robots_txt_refuses_the_site_and_a_4xx_one_allows_it(store: Store, fixture_web: FixtureWeb) -> None:
    sites = ("robots-503", "robots-500", "robots-404", "robots-401", "robots-403", "refused", "minimal")
    add(store, fixture_web, *sites)
    summary = run_crawl("site", options(store))
    assert summary.returncode == 0, summary.stats.get("stderr")

    for site, status in (("robots-503", 503), ("robots-500", 500)):
        assert fixture_web.hits(site, "/robots.txt") == 2  # Scrapy's one retry, then disallow
        assert fixture_web.hits(site, "/") == 0
        [check] = checks_by_site(store)[site]
        assert (check.outcome, check.status_code) == ("unknown", None)
        assert check.error == f"robots.txt answered HTTP {status}: {DISALLOW}"
    for site in ("robots-404", "robots-401", "robots-403", "minimal"):
        assert fixture_web.hits(site, "/robots.txt") == 1 and fixture_web.hits(site, "/") == 1
        [check] = checks_by_site(store)[site]
        assert (check.outcome, check.status_code) == ("ok", 200)

    [refused] = checks_by_site(store)["refused"]
    assert (refused.outcome, refused.status_code) == ("dead", None)
    assert refused.error is not None
    assert refused.error.startswith("robots.txt unreachable (") and refused.error.endswith(DISALLOW)

    assert summary.errors["robots"] == 2 and summary.errors["refused"] == 1
    stats = summary.stats
    assert stats["robotstxt/forbidden"] == 3  # 503, 500 and the unreachable one
    assert stats["robotstxt/response_status_count/503"] == stats["robotstxt/response_status_count/500"] == 1
    assert stats["robotstxt/response_status_count/404"] == 1 and stats["robotstxt/response_status_count/403"] == 1
    assert stats["robotstxt/request_count"] == len(sites)
    assert any(key.startswith("robotstxt/exception_count/") for key in stats)


def test_three_5xx_robots_checks_over_a_week_propose_nothing(store: Store, fixture_web: FixtureWeb) -> None:
    """The same three checks over eight days that propose a down site (the controls) leave a 5xx one alone."""
    add(store, fixture_web, "robots-503", "server-error", "refused")
    for _ in range(3):
        assert run_crawl("site", options(store)).returncode == 0
        with store.session() as session:  # every check so far four days older
            for check in session.scalars(select(LinkCheck)):
                check.checked_at -= dt.timedelta(days=4)
    checks = checks_by_site(store)
    assert [c.outcome for c in checks["robots-503"]] == ["unknown"] * 3
    assert [c.outcome for c in checks["refused"]] == ["dead"] * 3
    assert fixture_web.hits("robots-503", "/") == 0
    with store.session() as session:
        proposed = {(p.entry.slug, p.kind, p.value) for p in proposals.list_proposals(session)}
    assert proposed == {("server-error", "site-down", "inactive"), ("refused", "site-down", "inactive")}


def test_robots_refusals_are_classified_by_what_happened() -> None:
    served = RobotsServerError(503)
    assert isinstance(served, IgnoreRequest)
    assert classify(Failure(served)) == ("robots", f"robots.txt answered HTTP 503: {DISALLOW}")
    kind, message = classify(Failure(RobotsUnreachable(DNSLookupError("no such host"))))
    assert kind == "dns" and message.startswith("robots.txt unreachable (") and DISALLOW in message
    assert classify(Failure(RobotsUnreachable(TCPTimedOutError())))[0] == "timeout"
    assert classify(Failure(IgnoreRequest("Forbidden by robots.txt"))) == ("robots", "disallowed by robots.txt")
