"""The fixture web does what the crawler tests rely on: each site's behaviour, checked over real HTTP.

The client is `http.client`, which never follows redirects and never turns a status into an exception, so
each test sees exactly what a crawler's first request would.
"""

from __future__ import annotations

import difflib
import gzip
import http.client
import json
import re
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import feedparser
import lxml.html
import pytest

from tests.fixtures.web.sites import (
    FLIP_A,
    FLIP_B,
    HUGE_FEED_ITEMS,
    METADATA_URL,
    OVERSIZED_BYTES,
    PRIVATE_URL,
    PROGRAM_RULE_V1,
    PROGRAM_RULE_V2,
    PROGRAM_V1,
    PROGRAM_V2,
    SITES,
    SLOW_DELAY,
)

if TYPE_CHECKING:
    from tests.fixtureweb import FixtureWeb


CYRILLIC = re.compile("[А-Яа-яЁё]")


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    @property
    def location(self) -> str | None:
        return self.headers.get("Location")


def fetch(url: str, *, method: str = "GET", headers: dict[str, str] | None = None, timeout: float = 3) -> Answer:
    """One request, no redirects followed, any status returned."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def test_every_site_is_its_own_host_on_one_port(fixture_web: FixtureWeb) -> None:
    hosts = [fixture_web.host(site) for site in SITES]
    assert len(SITES) >= 32
    assert len(set(hosts)) == len(hosts)
    assert all(re.fullmatch(r"127\.0\.0\.\d+", host) and host != "127.0.0.1" for host in hosts)
    for site in SITES:
        parts = urlsplit(fixture_web.url(site, "/feed.xml"))
        assert (parts.hostname, parts.port, parts.path) == (fixture_web.host(site), fixture_web.port, "/feed.xml")
    with pytest.raises(KeyError, match="no fixture site"):
        fixture_web.url("no-such-site")


def test_robots_txt_allows_all_unless_the_site_says_otherwise(fixture_web: FixtureWeb) -> None:
    for site in SITES:
        if site == "refused":
            continue
        answer = fetch(fixture_web.url(site, "/robots.txt"))
        if SITES[site].robots is None:  # robots.txt is a page like any other: declared, or the fallback
            declared = SITES[site].pages.get("/robots.txt") or SITES[site].fallback
            assert answer.status == (declared.status if declared else 404), site
        elif site == "robots-disallow":
            assert (answer.status, answer.text) == (200, "User-agent: *\nDisallow: /\n")
        else:
            assert (answer.status, answer.text) == (200, "User-agent: *\nAllow: /\n"), site
        assert fixture_web.hits(site, "/robots.txt") == 1


def test_good_org_has_all_the_metadata(fixture_web: FixtureWeb) -> None:
    answer = fetch(fixture_web.url("good-org"))
    doc = lxml.html.fromstring(answer.body)
    base = fixture_web.base("good-org")

    assert doc.get("lang") == "ru"
    assert "Северный ветер" in doc.findtext(".//title")
    assert doc.xpath("//meta[@name='description']/@content")
    og = {meta.get("property"): meta.get("content") for meta in doc.xpath("//meta[starts-with(@property, 'og:')]")}
    assert {"og:title", "og:description", "og:image", "og:site_name"} <= og.keys()
    assert og["og:image"] == f"{base}/static/og-northwind.png"

    (ld,) = doc.xpath("//script[@type='application/ld+json']/text()")
    org = json.loads(ld)
    assert org["@type"] == "Organization"
    assert (org["url"], org["email"]) == (f"{base}/", "info@northwind.example")
    assert org["logo"].startswith(base) and org["name"]
    assert any("t.me/" in link for link in org["sameAs"]) and any("youtube.com/" in link for link in org["sameAs"])

    hrefs = doc.xpath("//a/@href")
    assert {"/contact", "/donate"} <= set(hrefs)
    assert any(href.startswith("mailto:") for href in hrefs)
    for path in ("/contact", "/donate"):
        assert fetch(fixture_web.url("good-org", path)).status == 200

    alternates = {link.get("type"): link.get("href") for link in doc.xpath("//link[@rel='alternate']")}
    assert alternates.keys() == {"application/rss+xml", "application/atom+xml"}
    for feed_type, href in alternates.items():
        feed = fetch(fixture_web.url("good-org", href))
        assert feed.status == 200 and feed.headers["Content-Type"].startswith(feed_type)
        parsed = feedparser.parse(feed.body)
        assert not parsed.bozo and len(parsed.entries) == 3
        assert all(entry.link.startswith(f"{base}/news/") for entry in parsed.entries)


@pytest.mark.parametrize(
    ("site", "json_ld", "opengraph", "title"),
    [("jsonld-only", True, False, True), ("opengraph-only", False, True, True), ("minimal", False, False, False)],
)
def test_partial_metadata_sites(
    fixture_web: FixtureWeb, site: str, json_ld: bool, opengraph: bool, title: bool
) -> None:
    doc = lxml.html.fromstring(fetch(fixture_web.url(site)).body)
    assert bool(doc.xpath("//script[@type='application/ld+json']")) is json_ld
    assert bool(doc.xpath("//meta[starts-with(@property, 'og:')]")) is opengraph
    assert bool(doc.xpath("//title")) is title
    if site == "minimal":
        assert not doc.xpath("//meta | //link")


@pytest.mark.parametrize(
    ("site", "path", "content_type", "version"),
    [
        ("feed-rss091", "/feed.xml", "application/rss+xml", "rss091u"),
        ("feed-rss10", "/feed.rdf", "application/rdf+xml", "rss10"),
        ("feed-rss20", "/feed.xml", "application/rss+xml", "rss20"),
        ("feed-atom10", "/feed.atom", "application/atom+xml", "atom10"),
        ("feed-jsonfeed", "/feed.json", "application/feed+json", "json11"),
    ],
)
def test_feeds_in_every_format(fixture_web: FixtureWeb, site: str, path: str, content_type: str, version: str) -> None:
    answer = fetch(fixture_web.url(site, path))
    assert answer.status == 200 and answer.headers["Content-Type"].startswith(content_type)
    if version == "json11":  # feedparser 6.0 does not read JSON Feed yet
        feed = json.loads(answer.body)
        assert feed["version"] == "https://jsonfeed.org/version/1.1"
        assert feed["feed_url"] == fixture_web.url(site, path)
        titles, links = [item["title"] for item in feed["items"]], [item["url"] for item in feed["items"]]
    else:
        parsed = feedparser.parse(answer.body)
        assert (parsed.version, parsed.bozo) == (version, False)
        titles, links = [entry.title for entry in parsed.entries], [entry.link for entry in parsed.entries]
    assert len(titles) == 3 and all(CYRILLIC.search(title) for title in titles)
    assert all(link.startswith(fixture_web.base(site) + "/") for link in links)

    home = lxml.html.fromstring(fetch(fixture_web.url(site)).body)
    (link,) = home.xpath("//link[@rel='alternate']")
    assert (link.get("type"), link.get("href")) == (content_type.replace("rdf", "rss"), path)


def test_hostile_feed_carries_active_markup(fixture_web: FixtureWeb) -> None:
    answer = fetch(fixture_web.url("feed-hostile", "/feed.xml"))
    parsed = feedparser.parse(answer.body, sanitize_html=False)
    assert not parsed.bozo and len(parsed.entries) == 3
    assert "<script>alert(1)</script>" in parsed.entries[0].title
    assert 'onerror="alert(2)"' in parsed.entries[1].description
    assert "<b>" in parsed.entries[2].title and parsed.entries[2].link == "javascript:alert(6)"


def test_bad_dates_are_bad(fixture_web: FixtureWeb) -> None:
    xml = fetch(fixture_web.url("feed-bad-dates", "/feed.xml")).text
    items = re.findall(r"<item>.*?</item>", xml, re.S)
    dates = [re.search(r"<pubDate>(.*?)</pubDate>", item) for item in items]
    assert len(items) == 4 and dates[1] is None
    for match in (dates[0], dates[2]):
        assert match is not None
        with pytest.raises((ValueError, TypeError)):
            parsedate_to_datetime(match.group(1))
    assert dates[3] is not None and parsedate_to_datetime(dates[3].group(1)).year == 2025


def test_broken_encoding_spoils_one_item_only(fixture_web: FixtureWeb) -> None:
    answer = fetch(fixture_web.url("feed-broken-encoding", "/feed.xml"))
    assert b'encoding="utf-8"' in answer.body
    with pytest.raises(UnicodeDecodeError):
        answer.body.decode("utf-8")
    items = re.findall(rb"<item>.*?</item>", answer.body, re.S)
    assert len(items) == 3
    assert "UTF-8" in items[0].decode("utf-8") and "UTF-8" in items[2].decode("utf-8")
    with pytest.raises(UnicodeDecodeError):
        items[1].decode("utf-8")
    assert "windows-1251" in items[1].decode("cp1251")


def test_conditional_get_answers_304_until_the_feed_changes(fixture_web: FixtureWeb) -> None:
    url = fixture_web.url("feed-conditional", "/feed.xml")
    first = fetch(url)
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert first.status == 200 and etag and last_modified

    by_etag = fetch(url, headers={"If-None-Match": etag})
    assert (by_etag.status, by_etag.body, by_etag.headers["ETag"]) == (304, b"", etag)
    assert fetch(url, headers={"If-Modified-Since": last_modified}).status == 304
    assert fetch(url, headers={"If-None-Match": '"something-else"', "If-Modified-Since": last_modified}).status == 200
    assert fixture_web.requests("feed-conditional")[1].headers["if-none-match"] == etag

    new_feed = first.text.replace(
        "<item>", "<item><title>Четвёртая запись</title><guid>conditional-4</guid></item><item>", 1
    )
    fixture_web.set_page("feed-conditional", "/feed.xml", new_feed, "application/rss+xml; charset=utf-8")
    changed = fetch(url, headers={"If-None-Match": etag})
    assert changed.status == 200 and "Четвёртая запись" in changed.text
    assert changed.headers["ETag"] != etag
    assert parsedate_to_datetime(changed.headers["Last-Modified"]) > parsedate_to_datetime(last_modified)
    assert fetch(url, headers={"If-Modified-Since": last_modified}).status == 200
    assert fetch(url, headers={"If-None-Match": changed.headers["ETag"]}).status == 304


def test_redirects(fixture_web: FixtureWeb) -> None:
    chain = [fetch(fixture_web.url("redirect-chain", path)) for path in ("/", "/step2", "/final")]
    assert [(a.status, a.location) for a in chain] == [(302, "/step2"), (302, "/final"), (200, None)]

    moved = fetch(fixture_web.url("moved-permanently"))
    assert (moved.status, moved.location) == (301, fixture_web.url("moved-target", "/"))
    assert urlsplit(moved.location).hostname != fixture_web.host("moved-permanently")
    assert fetch(moved.location).status == 200
    deep = fetch(fixture_web.url("moved-permanently", "/news/1?page=2"))
    assert deep.location == fixture_web.url("moved-target", "/news/1?page=2")

    same_host = fetch(fixture_web.url("moved-308"))
    assert (same_host.status, same_host.location) == (308, "/new-home")
    assert fetch(fixture_web.url("moved-308", "/new-home")).status == 200

    assert fetch(fixture_web.url("trailing-slash-redirect", "/about")).location == "/about/"
    assert fetch(fixture_web.url("trailing-slash-redirect", "/about/")).status == 200
    assert [fetch(fixture_web.url("redirect-loop", p)).location for p in ("/", "/loop-a", "/loop-b")] == [
        "/loop-a",
        "/loop-b",
        "/loop-a",
    ]


def test_redirects_to_forbidden_addresses(fixture_web: FixtureWeb) -> None:
    assert fetch(fixture_web.url("redirect-metadata")).location == METADATA_URL
    assert fetch(fixture_web.url("redirect-private", "/any")).location == PRIVATE_URL
    assert fetch(fixture_web.url("redirect-private")).status == 302


@pytest.mark.parametrize(
    ("site", "status"),
    [("not-found", 404), ("server-error", 500), ("gone", 410), ("forbidden", 403), ("rate-limited", 429)],
)
def test_error_statuses(fixture_web: FixtureWeb, site: str, status: int) -> None:
    for path in ("/", "/about", "/feed.xml"):
        answer = fetch(fixture_web.url(site, path))
        assert answer.status == status and answer.body
    if site == "rate-limited":
        assert answer.headers["Retry-After"] == "120"


def test_slow_site_outlasts_a_one_second_timeout(fixture_web: FixtureWeb) -> None:
    assert fetch(fixture_web.url("slow", "/robots.txt"), timeout=1).status == 200
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        fetch(fixture_web.url("slow"), timeout=1)
    assert time.monotonic() - started > 0.9  # the timeout, not an early error; no upper bound on a shared machine

    fixture_web.set_delay("slow", 0.05)
    assert fetch(fixture_web.url("slow"), timeout=1).status == 200
    fixture_web.reset()
    assert fixture_web.hits("slow", "/") == 0


def test_stop_returns_promptly_while_a_slow_answer_waits(fixture_web: FixtureWeb) -> None:
    url = fixture_web.url("slow")
    outcome: list[object] = []

    def client() -> None:
        try:
            outcome.append(fetch(url, timeout=10))
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=client)
    thread.start()
    deadline = time.monotonic() + 2
    while not fixture_web.hits("slow", "/") and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    fixture_web.stop()
    assert time.monotonic() - started < SLOW_DELAY / 2  # it did not wait for the 5-second answer
    thread.join(timeout=2)
    assert not thread.is_alive() and isinstance(outcome[0], http.client.RemoteDisconnected | ConnectionError)
    with pytest.raises(ConnectionRefusedError):
        fetch(url, timeout=1)


def test_refused_site_refuses(fixture_web: FixtureWeb) -> None:
    with pytest.raises(ConnectionRefusedError):
        fetch(fixture_web.url("refused"), timeout=1)


def test_robots_disallow_site_still_has_a_home_page(fixture_web: FixtureWeb) -> None:
    assert fetch(fixture_web.url("robots-disallow")).status == 200


def test_oversized_page_is_three_mebibytes(fixture_web: FixtureWeb) -> None:
    answer = fetch(fixture_web.url("oversized"))
    assert int(answer.headers["Content-Length"]) == len(answer.body) == OVERSIZED_BYTES == 3 * 1024 * 1024
    head = fetch(fixture_web.url("oversized"), method="HEAD")
    assert (head.headers["Content-Length"], head.body) == (str(OVERSIZED_BYTES), b"")


def test_timestamp_only_changes_only_the_clock_and_counter(fixture_web: FixtureWeb) -> None:
    first, second = (fetch(fixture_web.url("timestamp-only")).text for _ in range(2))
    assert first != second
    assert re.search(r"Last updated: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", first)
    assert "Просмотров: 1 " in first and "Просмотров: 2 " in second
    rules = [lxml.html.fromstring(page).xpath("string(//div[@id='rules'])") for page in (first, second)]
    assert rules[0] == rules[1] and "круглый год" in rules[0]


def test_program_page_switches_from_v1_to_v2(fixture_web: FixtureWeb) -> None:
    changed = [line for line in difflib.ndiff(PROGRAM_V1.splitlines(), PROGRAM_V2.splitlines()) if line[0] in "+-"]
    assert changed == [f"-         <li>{PROGRAM_RULE_V1}</li>", f"+         <li>{PROGRAM_RULE_V2}</li>"]

    url = fixture_web.url("program-page")
    assert fetch(url).text == PROGRAM_V1
    fixture_web.set_page("program-page", "/", PROGRAM_V2)
    v2 = fetch(url)
    assert v2.text == PROGRAM_V2 and v2.headers["Content-Type"] == "text/html; charset=utf-8"
    assert fixture_web.hits("program-page", "/") == 2
    fixture_web.reset()
    assert fetch(url).text == PROGRAM_V1


def test_flip_flop_alternates(fixture_web: FixtureWeb) -> None:
    pages = [fetch(fixture_web.url("flip-flop")).text for _ in range(4)]
    assert [FLIP_A in page for page in pages] == [True, False, True, False]
    assert [FLIP_B in page for page in pages] == [False, True, False, True]


def test_cp1251_page_says_so_only_in_its_meta(fixture_web: FixtureWeb) -> None:
    answer = fetch(fixture_web.url("cp1251-page"))
    assert answer.headers["Content-Type"] == "text/html"
    assert b'<meta charset="windows-1251">' in answer.body
    with pytest.raises(UnicodeDecodeError):
        answer.body.decode("utf-8")
    assert "французских булок" in answer.body.decode("cp1251")


def test_hostile_page_carries_active_markup(fixture_web: FixtureWeb) -> None:
    doc = lxml.html.fromstring(fetch(fixture_web.url("hostile-page")).body)
    assert "<script>alert(1)</script>" in doc.findtext(".//title")
    assert "<script>" in doc.xpath("string(//meta[@property='og:title']/@content)")
    org = json.loads(doc.xpath("//script[@type='application/ld+json']/text()")[0])
    assert "javascript:alert(8)" in org["sameAs"]


def test_small_oddities(fixture_web: FixtureWeb) -> None:
    plain = fetch(fixture_web.url("gzip"))
    packed = fetch(fixture_web.url("gzip"), headers={"Accept-Encoding": "gzip, deflate"})
    assert "Content-Encoding" not in plain.headers and packed.headers["Content-Encoding"] == "gzip"
    assert int(packed.headers["Content-Length"]) == len(packed.body) < len(plain.body)
    assert gzip.decompress(packed.body) == plain.body

    assert "Content-Type" not in fetch(fixture_web.url("no-content-type")).headers

    huge = feedparser.parse(fetch(fixture_web.url("huge-feed", "/feed.xml")).body)
    assert len(huge.entries) == HUGE_FEED_ITEMS and not huge.bozo

    home = lxml.html.fromstring(fetch(fixture_web.url("html-with-rss-only")).body)
    assert [link.get("type") for link in home.xpath("//link")] == ["application/rss+xml"]
    assert len(feedparser.parse(fetch(fixture_web.url("html-with-rss-only", "/rss")).body).entries) == 3


def test_hits_and_requests_are_recorded(fixture_web: FixtureWeb) -> None:
    fetch(fixture_web.url("minimal", "/?a=1"), headers={"User-Agent": "nansen-test"})
    fetch(fixture_web.url("minimal", "/?a=2"), method="HEAD")
    fetch(fixture_web.url("minimal", "/robots.txt"))
    assert (fixture_web.hits("minimal", "/"), fixture_web.hits("minimal", "/robots.txt")) == (2, 1)
    assert fixture_web.hits("minimal", "/never") == 0 and fixture_web.hits("good-org", "/") == 0
    recorded = fixture_web.requests("minimal")
    assert [(r.method, r.path) for r in recorded] == [("GET", "/?a=1"), ("HEAD", "/?a=2"), ("GET", "/robots.txt")]
    assert recorded[0].headers["user-agent"] == recorded[0].headers["USER-AGENT"] == "nansen-test"
    assert (
        "User-Agent" in recorded[0].headers
        and recorded[0].headers["Host"] == f"{fixture_web.host('minimal')}:{fixture_web.port}"
    )
