"""Crawler parts that need no network: the address guard, sanitizing, feed parsing."""

from __future__ import annotations

import sys

import pytest

from crawlers import clean, safety
from crawlers.spiders.feeds import UnreadableFeed, parse_feed

LOOPBACK = safety.parse_networks("127.0.0.0/8")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://10.0.0.1/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://127.0.0.1:8000/", "loopback"),
        ("http://localhost/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://[fe80::1]/", "link-local"),
        ("http://0.0.0.0/", "private"),
        ("http://100.64.0.1/", "non-public"),
        ("ftp://example.org/", "not an http"),
    ],
)
def test_non_public_addresses_are_refused(url: str, reason: str) -> None:
    with pytest.raises(safety.BlockedAddress, match=reason):
        safety.check_url(url)


def test_allowed_networks_open_only_themselves() -> None:
    safety.check_url("http://127.0.0.5:8080/", LOOPBACK)
    with pytest.raises(safety.BlockedAddress, match="cloud metadata"):
        safety.check_url("http://169.254.169.254/", LOOPBACK)
    safety.check_url("http://93.184.215.14/")  # a public address needs no allowance


def test_bad_networks_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match=r"'127\.0\.0\.0/33' is not a network"):
        safety.parse_networks("127.0.0.0/8, 127.0.0.0/33")


def test_clean_makes_plain_text_and_safe_summaries() -> None:
    assert clean.plain("Пост <script>alert(1)</script> &amp; <b>жирный</b>") == "Пост & жирный"
    summary = clean.summary_html(
        '<p onclick="x()">Hi <a href="javascript:alert(1)">x</a> <a href="https://a.org">a</a>'
        "<img src=x onerror=alert(1)><script>bad()</script></p>"
    )
    assert (
        summary == '<p>Hi <a rel="noopener noreferrer nofollow">x</a> <a href="https://a.org" '
        'rel="noopener noreferrer nofollow">a</a></p>'
    )
    assert clean.http_url("javascript:alert(1)") is None
    assert clean.http_url("/p/1", "https://a.org/feed") == "https://a.org/p/1"


RSS = b"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title><language>ru</language>
<item><title>\xd0\x9f\xd0\xbe\xd1\x81\xd1\x82 &lt;script&gt;x&lt;/script&gt;</title><link>https://a.org/1</link>
<guid>1</guid><pubDate>not a date</pubDate></item>
<item><title>Second</title><link>javascript:alert(1)</link><guid>2</guid>
<pubDate>Mon, 23 Nov 2026 10:00:00 GMT</pubDate><description>&lt;b&gt;ok&lt;/b&gt;</description></item>
<item><description>no title, no link</description></item>
</channel></rss>"""


def test_feed_items_are_sanitized_and_bad_ones_skipped() -> None:
    posts = parse_feed(RSS, "application/rss+xml", "https://a.org/feed", None)
    assert [p.title for p in posts] == ["Пост", "Second"]  # RSS titles carry escaped HTML by convention
    assert posts[0].published_at is None and posts[0].language == "ru"
    assert posts[1].link is None and posts[1].summary == "<b>ok</b>"
    assert posts[1].published_at.isoformat() == "2026-11-23T10:00:00+00:00"
    assert len({p.guid for p in posts}) == 2
    assert parse_feed(RSS, None, "https://a.org/feed", None)[0].guid == posts[0].guid  # stable ids


def test_json_feed_and_garbage() -> None:
    body = (
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": [{"id": "a", '
        b'"url": "https://j.org/a", "title": "A", "content_text": "x", "date_published": "2026-11-01T10:00:00Z"}]}'
    )
    [post] = parse_feed(body, "application/feed+json", "https://j.org/feed.json", "en")
    assert (post.title, post.link, post.language) == ("A", "https://j.org/a", "en")
    with pytest.raises(UnreadableFeed, match="not JSON"):
        parse_feed(b"{not json", None, "https://j.org/f", None)
    with pytest.raises(UnreadableFeed, match="not a feed"):
        parse_feed(b"<html>not a feed</html>", "text/html", "https://j.org/f", None)


WATCHED_PAGE = (
    "<html><head><style>p {color: red}</style><script>var stamp = 1;</script></head><body>"
    "<nav>Menu</nav><main><h1>Humanitarian <b>visa</b></h1><p>Applications are <em>paused</em>.</p>"
    "<script>track()</script><ul><li>one</li><li>two</li></ul></main></body></html>"
)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        # Inline elements do not split words or lines; block elements start lines; scripts are not text.
        ("main", "Humanitarian visa\nApplications are paused.\n* one\n* two"),
        ("h1, p", "Humanitarian visa\nApplications are paused."),
    ],
)
def test_watched_text_is_laid_out_like_a_browser(selector: str, expected: str) -> None:
    from scrapy.http import HtmlResponse

    from crawlers.spiders.watch import main_text
    from directory.watch import normalize

    response = HtmlResponse("https://example.org/rules", body=WATCHED_PAGE.encode(), encoding="utf-8")
    assert normalize(main_text(response, selector)) == expected


def test_a_page_without_main_content_falls_back_to_its_visible_text() -> None:
    from scrapy.http import HtmlResponse

    from crawlers.spiders.watch import main_text

    body = b"<html><head><script>x()</script></head><body><div>Ex<span>ile</span></div><div>Press</div></body></html>"
    text = main_text(HtmlResponse("https://example.org/", body=body, encoding="utf-8"), None)
    assert text.split() == ["Exile", "Press"]


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("169.254.169.254", "169.254.169.254"),
        ("2852039166", "169.254.169.254"),  # one decimal number
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),  # hexadecimal parts
        ("0251.0376.0251.0376", "169.254.169.254"),  # octal parts
        ("169.254.43518", "169.254.169.254"),  # the last part fills the rest
        ("169.254.169.254.", "169.254.169.254"),  # a trailing dot
        ("[::ffff:169.254.169.254]", "169.254.169.254"),  # IPv4-mapped IPv6
        ("127.1", "127.0.0.1"),
        ("%31%30.0.0.1", "10.0.0.1"),  # percent-encoded, as browsers decode it
        ("\uff11\uff10.\uff10.\uff10.\uff11", "10.0.0.1"),  # full-width digits (UTS #46 maps them)
        ("10\u30020\u30020\u30021", "10.0.0.1"),  # ideographic full stops
        ("[2002:a00:1::]", "10.0.0.1"),  # 6to4
        ("[fe80::1%25eth0]", "fe80::1"),
        ("example.org", None),
        ("1.2.3.com", None),  # a name that ends in letters is a name
    ],
)
def test_every_spelling_of_an_ip_address_is_read_as_one(host: str, address: str | None) -> None:
    found = safety.ip_literal(host)
    assert (str(found) if found else None) == address


def test_links_to_non_public_addresses_are_dropped_unless_allowed() -> None:
    assert clean.public_url("http://2852039166/latest/meta-data/") is None
    assert clean.public_url("http://[::ffff:10.0.0.1]/x") is None
    assert clean.public_url("http://127.0.0.5:8080/feed") is None
    assert clean.public_url("http://127.0.0.5:8080/feed", allowed=LOOPBACK) == "http://127.0.0.5:8080/feed"
    assert clean.public_url("https://example.org/a") == "https://example.org/a"  # names are not resolved here
    assert clean.http_url("https://example.org/\x1b[2J") is None and clean.http_url("https://x.org/\u202e") is None
    assert clean.public_url("http://foo.localhost/") is None  # RFC 6761: this machine, no lookup
    assert clean.public_url("http://foo.localhost:8000/", allowed=LOOPBACK) == "http://foo.localhost:8000/"
    assert clean.http_url("http://user:pw@example.org/") is None
    assert clean.http_url("http://10.0.0.1\\@example.org/") is None  # a browser goes to 10.0.0.1
    long = "https://example.org/" + "a" * clean.URL_LIMIT
    assert clean.http_url(long) is None  # refused, not cut into another URL


def test_dates_from_outside_are_bounded() -> None:
    import datetime as dt

    from directory import untrusted

    fetched = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    assert untrusted.moment(dt.datetime(1, 1, 1, tzinfo=dt.UTC), fetched) is None
    assert untrusted.moment(dt.datetime(1970, 1, 1, tzinfo=dt.UTC), fetched) is None
    assert untrusted.moment(dt.datetime(2099, 1, 1, tzinfo=dt.UTC), fetched) == fetched
    assert untrusted.moment(fetched + dt.timedelta(minutes=10), fetched) == fetched + dt.timedelta(minutes=10)
    assert untrusted.moment(dt.datetime(2024, 5, 1, tzinfo=dt.UTC), fetched) == dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


def test_a_failure_names_every_entry_of_its_url_and_keeps_the_exception(capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import logging

    from crawlers.progress import FailureReporter

    reporter = FailureReporter([("https://a.org/feed", "one"), ("https://a.org/feed", "two"), ("https://b.org/", "b")])
    item = "FeedItem(slug='one', url='https://a.org/feed', posts=[" + "NewPost(lorem ipsum), " * 200 + "])"
    try:
        raise ValueError("duplicate key value violates unique constraint")
    except ValueError:
        record = logging.getLogger("scrapy.core.scraper").makeRecord(
            "scrapy.core.scraper", logging.ERROR, __file__, 1, "Error processing %s", (item,), sys.exc_info()
        )
    reporter.emit(record)
    event = json.loads(capsys.readouterr().out)
    assert event["entry"] == "one, two"
    assert event["error"].endswith(": ValueError: duplicate key value violates unique constraint")
