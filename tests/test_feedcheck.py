"""The feed checks of tests/feedcheck.py: real feedgen feeds pass, and each broken variant is caught."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path

import feedparser
import pytest
from feedgen.feed import FeedGenerator

from tests.feedcheck import (
    assert_valid_feed,
    atom_problems,
    feed_kind,
    feed_problems,
    html_active_markup,
    jsonfeed_problems,
    rfc822_problem,
    rfc3339_problem,
    rss_problems,
)

SITE = "https://nansen.example.org"
FEED_TITLE = "Изменения в справочнике <script>alert(1)</script>"
ENTRY_TITLES = ["Ковчег — помощь в Ереване <script>x</script>", "Фонд «Свободная Беларусь» & друзья"]


def build_feed(suffix: str) -> FeedGenerator:
    """A feed as the project will build it: Russian text, markup-like titles, two entries.

    feedgen shares links between its Atom and RSS output, so each format needs its own rel="self" link.
    """
    fg = FeedGenerator()
    fg.id(f"{SITE}/feeds/changes")
    fg.title(FEED_TITLE)
    fg.author({"name": "Справочник Nansen", "email": "editors@nansen.example.org"})
    fg.link(href=f"{SITE}/feeds/changes.{suffix}", rel="self", type=f"application/{suffix}+xml")
    fg.link(href=f"{SITE}/", rel="alternate")  # last, so feedgen uses it for the RSS <link>
    fg.description("Что изменилось в справочнике организаций")
    fg.language("ru")
    fg.updated(dt.datetime(2025, 3, 2, 12, 0, tzinfo=dt.UTC))
    for number, title in enumerate(ENTRY_TITLES, start=1):
        fe = fg.add_entry(order="append")
        url = f"{SITE}/org/{number}"
        fe.id(url)
        fe.guid(url, permalink=True)
        fe.title(title)
        fe.link(href=url)
        fe.description("Краткое описание &amp; <b>важное</b>")
        fe.content("<p>Адрес: ул. Абовяна, 1</p>", type="html")
        fe.updated(dt.datetime(2025, 3, number, 9, 30, tzinfo=dt.UTC))
        fe.published(dt.datetime(2025, 3, number, 9, 0, tzinfo=dt.UTC))
    return fg


@pytest.fixture(scope="module")
def atom() -> str:
    return build_feed("atom").atom_str(pretty=True).decode()


@pytest.fixture(scope="module")
def rss() -> str:
    return build_feed("rss").rss_str(pretty=True).decode()


def json_feed() -> dict:
    return {
        "version": "https://jsonfeed.org/version/1.1",
        "title": FEED_TITLE,
        "home_page_url": f"{SITE}/",
        "feed_url": f"{SITE}/feeds/changes.json",
        "language": "ru",
        "authors": [{"name": "Справочник Nansen"}],
        "items": [
            {
                "id": f"{SITE}/org/{number}",
                "url": f"{SITE}/org/{number}",
                "title": title,
                "content_html": "<p>Адрес: ул. Абовяна, 1</p>",
                "date_published": f"2025-03-0{number}T09:00:00Z",
                "tags": ["Армения"],
            }
            for number, title in enumerate(ENTRY_TITLES, start=1)
        ],
    }


def dumps(feed: dict) -> bytes:
    return json.dumps(feed, ensure_ascii=False).encode()


def sub(pattern: str, replacement: str, text: str, count: int = 1) -> str:
    """Replace `pattern` (a regex) in `text`, failing loudly when the feed no longer has it."""
    changed, done = re.subn(pattern, replacement, text, count=count, flags=re.DOTALL)
    assert done, f"{pattern!r} not found in the feed"
    return changed


# ------------------------------------------------------------------------------------------ valid


def test_the_feedgen_atom_feed_is_valid_and_reads_back_as_text(atom: str, tmp_path: Path) -> None:
    assert atom_problems(atom.encode()) == []
    for name in ("changes.atom", "changes.xml"):
        (tmp_path / name).write_text(atom, encoding="utf-8")
        assert_valid_feed(tmp_path / name)
    parsed = feedparser.parse(atom.encode())
    assert parsed.feed.title == FEED_TITLE
    assert [entry.title for entry in parsed.entries] == ENTRY_TITLES


def test_the_feedgen_rss_feed_is_valid_and_reads_back_as_text(rss: str, tmp_path: Path) -> None:
    assert rss_problems(rss.encode()) == []
    for name in ("changes.rss", "changes.xml"):
        (tmp_path / name).write_text(rss, encoding="utf-8")
        assert_valid_feed(tmp_path / name)
    parsed = feedparser.parse(rss.encode())
    assert parsed.feed.title == FEED_TITLE
    assert [entry.title for entry in parsed.entries] == ENTRY_TITLES


def test_a_json_feed_is_valid(tmp_path: Path) -> None:
    assert jsonfeed_problems(dumps(json_feed())) == []
    (tmp_path / "changes.json").write_bytes(dumps(json_feed()))
    assert_valid_feed(tmp_path / "changes.json")


def test_spec_allowed_variants_pass(atom: str, rss: str) -> None:
    # Authors only on entries; an xhtml title; a non-URL guid that says isPermaLink="false".
    no_feed_author = sub(r"\n  <author>.*?</author>", "", atom)
    with_entry_authors = no_feed_author.replace("<entry>", "<entry><author><name>Редакция</name></author>")
    assert atom_problems(with_entry_authors.encode()) == []
    xhtml_title = sub(
        r"<title>[^<]*</title>",
        '<title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">Изменения <b>за март</b></div></title>',
        atom,
    )
    assert atom_problems(xhtml_title.encode()) == []
    opaque_guid = sub(r'<guid isPermaLink="true">[^<]*</guid>', '<guid isPermaLink="false">org-1-v3</guid>', rss)
    assert rss_problems(opaque_guid.encode()) == []


# ----------------------------------------------------------------------------------------- broken

ATOM_BREAKS: list[tuple[str, Callable[[str], str], str]] = [
    ("not XML", lambda f: f.replace("</feed>", ""), "not well-formed XML"),
    ("RSS namespace", lambda f: f.replace('xmlns="http://www.w3.org/2005/Atom"', ""), "expected <feed> in the Atom"),
    ("no feed id", lambda f: sub(r"\n  <id>[^<]*</id>", "", f), "feed: atom:id is missing"),
    ("two titles", lambda f: sub(r"(<title>[^<]*</title>)", r"\1\1", f), "atom:title appears 2 times"),
    ("no feed updated", lambda f: sub(r"\n  <updated>[^<]*</updated>", "", f), "feed: atom:updated is missing"),
    ("no self link", lambda f: sub(r'<link [^>]*rel="self"[^>]*/>', "", f), 'no atom:link rel="self"'),
    (
        "the RSS feed's self link",
        lambda f: f.replace("application/atom+xml", "application/rss+xml"),
        'should be "application/atom+xml"',
    ),
    ("relative id", lambda f: sub(r"<id>[^<]*</id>", "<id>/feeds/changes</id>", f), "is not an absolute IRI"),
    (
        "date with a space",
        lambda f: sub(r"<updated>[^<]*</updated>", "<updated>2025-03-02 12:00:00Z</updated>", f),
        "is not an RFC 3339 date-time",
    ),
    (
        "impossible date",
        lambda f: sub(r"<published>[^<]*</published>", "<published>2025-02-30T12:00:00Z</published>", f),
        "is not a real date-time",
    ),
    (
        "duplicate entry id",
        lambda f: f.replace("<id>https://nansen.example.org/org/2</id>", "<id>https://nansen.example.org/org/1</id>"),
        "entries 1, 2 share the atom:id",
    ),
    ("no author", lambda f: sub(r"\n  <author>.*?</author>", "", f), "has no atom:author, and neither does the feed"),
    ("nameless author", lambda f: sub(r"<name>[^<]*</name>", "", f), "must have exactly one atom:name"),
    (
        "entry without link or content",
        lambda f: sub(r'<content type="html">[^<]*</content>\s*<link [^>]*/>', "", f),
        'has neither atom:content nor an atom:link rel="alternate"',
    ),
    (
        "unknown text type",
        lambda f: sub(r"<title>", '<title type="markdown">', f),
        'must be "text", "html" or "xhtml"',
    ),
    (
        "element in a text title",
        lambda f: sub(r"<title>([^<]*)</title>", r"<title>\1<b>!</b></title>", f),
        "must hold escaped text, not the element",
    ),
    (
        "xhtml without div",
        lambda f: sub(r"<title>[^<]*</title>", '<title type="xhtml">Изменения</title>', f),
        "must hold exactly one xhtml:div",
    ),
    (
        "script in html content",
        lambda f: sub(r"&lt;p&gt;", "&lt;script&gt;alert(1)&lt;/script&gt;&lt;p onclick='x()'&gt;", f),
        "HTML holds active markup: <script>, onclick= handler on <p>",
    ),
    (
        "content src without summary",
        lambda f: sub(r'<content type="html">[^<]*</content>', '<content type="text/html" src="/org/1.html"/>', f),
        "atom:content has a src attribute, so atom:summary is required",
    ),
    ("unknown atom element", lambda f: sub(r"<entry>", "<entry><pubDate>x</pubDate>", f), "atom:pubDate is not an"),
    ("link without href", lambda f: sub(r'<link href="[^"]*"/>', "<link/>", f), "has no href"),
]


@pytest.mark.parametrize(
    ("change", "expected"), [(c, e) for _, c, e in ATOM_BREAKS], ids=[n for n, _, _ in ATOM_BREAKS]
)
def test_atom_problems_are_caught(atom: str, change: Callable[[str], str], expected: str) -> None:
    problems = atom_problems(change(atom).encode())
    assert any(expected in problem for problem in problems), problems


RSS_BREAKS: list[tuple[str, Callable[[str], str], str]] = [
    ("not XML", lambda f: f.replace("</channel>", ""), "not well-formed XML"),
    ("wrong version", lambda f: f.replace('version="2.0"', 'version="0.91"'), "version is '0.91', expected \"2.0\""),
    ("Atom root", lambda f: f.replace("<rss ", "<feed ").replace("</rss>", "</feed>"), "expected <rss>"),
    ("no description", lambda f: sub(r"\n    <description>[^<]*</description>", "", f), "required <description>"),
    ("no channel link", lambda f: sub(r"\n    <link>[^<]*</link>", "", f), "required <link> is missing"),
    ("no self link", lambda f: sub(r"<atom:link [^>]*/>", "", f), 'no atom:link rel="self"'),
    (
        "the Atom feed's self link",
        lambda f: f.replace("application/rss+xml", "application/atom+xml"),
        'should be "application/rss+xml"',
    ),
    (
        "link is the feed itself",
        lambda f: sub(r"<link>[^<]*</link>", f"<link>{SITE}/feeds/changes.rss</link>", f),
        "is the feed's own URL",
    ),
    (
        "ISO date",
        lambda f: sub(r"<pubDate>[^<]*</pubDate>", "<pubDate>2025-03-01T09:00:00Z</pubDate>", f),
        "is not an RFC 822 date",
    ),
    (
        "2-digit year",
        lambda f: sub(
            r"<lastBuildDate>[^<]*</lastBuildDate>", "<lastBuildDate>Sun, 02 Mar 25 12:00:00 GMT</lastBuildDate>", f
        ),
        "must have a 4-digit year",
    ),
    (
        "wrong weekday",
        lambda f: sub(r"<pubDate>[^<]*</pubDate>", "<pubDate>Mon, 01 Mar 2025 09:00:00 +0000</pubDate>", f),
        "names the wrong day of the week (it was a Sat)",
    ),
    (
        "duplicate guid",
        lambda f: f.replace(f'<guid isPermaLink="true">{SITE}/org/2<', f'<guid isPermaLink="true">{SITE}/org/1<'),
        "items 1, 2 share the guid",
    ),
    (
        "relative permalink guid",
        lambda f: sub(r'<guid isPermaLink="true">[^<]*</guid>', '<guid isPermaLink="true">/org/1</guid>', f),
        'is not an absolute http(s) URL, but isPermaLink="true"',
    ),
    (
        "non-URL guid without isPermaLink",
        lambda f: sub(r'<guid isPermaLink="true">[^<]*</guid>', "<guid>org-1</guid>", f),
        "isPermaLink is absent, so true",
    ),
    ("isPermaLink yes", lambda f: sub(r'isPermaLink="true"', 'isPermaLink="yes"', f), 'expected "true" or "false"'),
    (
        "item without title or description",
        lambda f: sub(r"<title>[^<]*</title>(\s*<link>[^<]*</link>\s*)<description>[^<]*</description>", r"\1", f, 3),
        "needs a non-empty <title> or <description>",
    ),
    ("typo element", lambda f: sub(r"<pubDate>", "<pubdate>", f).replace("</pubDate>", "</pubdate>", 1), "<pubdate>"),
    ("two item links", lambda f: sub(r"(<link>[^<]*/org/1</link>)", r"\1\1", f), "<link> appears 2 times"),
    (
        "script in description",
        lambda f: sub(r"(<item>.*?<description>)", r"\1&lt;script src=x&gt;&lt;/script&gt;", f),
        "HTML holds active markup: <script>",
    ),
    (
        "javascript link in content",
        lambda f: sub(r"&lt;p&gt;", "&lt;a href=' javascript:alert(1)'&gt;x&lt;/a&gt;", f),
        "'javascript:alert(1)' URL on <a>",
    ),
    ("relative item link", lambda f: sub(r"<link>[^<]*/org/1</link>", "<link>/org/1</link>", f), "'/org/1' is not an"),
    ("author without e-mail", lambda f: sub(r"<guid", "<author>Редакция</author><guid", f), "holds no e-mail address"),
]


@pytest.mark.parametrize(("change", "expected"), [(c, e) for _, c, e in RSS_BREAKS], ids=[n for n, _, _ in RSS_BREAKS])
def test_rss_problems_are_caught(rss: str, change: Callable[[str], str], expected: str) -> None:
    problems = rss_problems(change(rss).encode())
    assert any(expected in problem for problem in problems), problems


def _without(key: str) -> Callable[[dict], dict]:
    return lambda feed: {k: v for k, v in feed.items() if k != key}


def _item(**changes: object) -> Callable[[dict], dict]:
    def change(feed: dict) -> dict:
        item = {k: v for k, v in feed["items"][0].items() if changes.get(k, "") is not None}
        item.update({k: v for k, v in changes.items() if v is not None})
        return {**feed, "items": [item, *feed["items"][1:]]}

    return change


JSON_BREAKS: list[tuple[str, Callable[[dict], dict], str]] = [
    ("version 1.0", lambda f: {**f, "version": "https://jsonfeed.org/version/1"}, "expected 'https://jsonfeed.org"),
    ("no title", _without("title"), "title is missing"),
    ("no items", _without("items"), "items is missing or not a list"),
    ("no feed_url", _without("feed_url"), "feed_url, the feed's own URL, is missing"),
    ("relative feed_url", lambda f: {**f, "feed_url": "/feeds/changes.json"}, "feed_url '/feeds/changes.json' is not"),
    ("numeric id", _item(id=1), "id is missing or not a non-empty string (got 1)"),
    ("duplicate id", lambda f: {**f, "items": [f["items"][0]] * 2}, "items 1, 2 share the id"),
    ("no content", _item(content_html=None), "needs content_html or content_text"),
    ("bad date", _item(date_published="01.03.2025"), "date_published '01.03.2025' is not an RFC 3339"),
    ("typo key", _item(date_publised="2025-03-01T09:00:00Z"), "unknown key 'date_publised'"),
    ("script in content_html", _item(content_html="<script>alert(1)</script>"), "active markup: <script>"),
    ("tags not a list", _item(tags="Армения"), "tags must be a list of strings"),
    ("empty author", lambda f: {**f, "authors": [{}]}, "at least one of name, url, avatar"),
]


@pytest.mark.parametrize(
    ("change", "expected"), [(c, e) for _, c, e in JSON_BREAKS], ids=[n for n, _, _ in JSON_BREAKS]
)
def test_jsonfeed_problems_are_caught(change: Callable[[dict], dict], expected: str) -> None:
    problems = jsonfeed_problems(dumps(change(json_feed())))
    assert any(expected in problem for problem in problems), problems


def test_jsonfeed_rejects_non_json() -> None:
    assert jsonfeed_problems(b"<rss/>")[0].startswith("not valid JSON")
    assert jsonfeed_problems(b"[]") == ["top level is a JSON list, expected an object"]


# ------------------------------------------------------------------------------------ the helpers


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2025-03-01T09:00:00Z", True),
        ("2025-03-01T09:00:00.123456+03:00", True),
        ("2016-12-31T23:59:60Z", True),  # a leap second
        ("2025-03-01t09:00:00z", False),  # Atom wants uppercase T and Z
        ("2025-03-01T09:00:00", False),  # no offset
        ("2025-03-01", False),
        ("2025-13-01T09:00:00Z", False),
        ("2025-03-01T24:00:00Z", False),
        ("", False),
    ],
)
def test_rfc3339(value: str, ok: bool) -> None:
    assert (rfc3339_problem(value) is None) is ok


def test_rfc3339_lowercase_is_fine_outside_atom() -> None:
    assert rfc3339_problem("2025-03-01t09:00:00z", uppercase=False) is None


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("Sat, 01 Mar 2025 09:00:00 +0000", True),
        ("1 Mar 2025 09:00 GMT", True),
        ("Sat, 01 Mar 2025 09:00:00 EST", True),
        ("Sat, 01 Mar 25 09:00:00 +0000", False),
        ("Sat, 01 March 2025 09:00:00 +0000", False),
        ("Sat, 30 Feb 2025 09:00:00 +0000", False),
        ("Sat, 01 Mar 2025 25:00:00 +0000", False),
        ("Sat, 01 Mar 2025 09:00:00", False),
        ("Sat, 01 Mar 2025 09:00:00 MSK", False),
    ],
)
def test_rfc822(value: str, ok: bool) -> None:
    assert (rfc822_problem(value) is None) is ok


def test_html_active_markup() -> None:
    assert html_active_markup("<p>Привет &lt;script&gt; <a href='https://x.org/'>x</a></p>") == []
    assert html_active_markup("<img src=x onerror=alert(1)><iframe src='JaVaScRiPt:x'>") == [
        "onerror= handler on <img>",
        "<iframe>",
        "'JaVaScRiPt:x' URL on <iframe>",
    ]


def test_assert_valid_feed_lists_every_problem_and_feedparser_bozo(atom: str, tmp_path: Path) -> None:
    broken = sub(r"\n  <id>[^<]*</id>", "", atom).replace("</feed>", "")
    path = tmp_path / "broken.atom"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(AssertionError) as raised:
        assert_valid_feed(path)
    message = str(raised.value)
    assert "not well-formed XML" in message
    assert "feedparser: bozo" in message

    path.write_text(sub(r"\n  <id>[^<]*</id>", "", atom).replace("<title>", "<title type='md'>", 1), encoding="utf-8")
    with pytest.raises(AssertionError, match=r"2 feed problem\(s\)") as raised:
        assert_valid_feed(path)
    assert "atom:id is missing" in str(raised.value)
    assert "'md' must be" in str(raised.value)


def test_feed_kind(atom: str, rss: str) -> None:
    assert feed_kind(Path("a.xml"), atom.encode()) == "atom"
    assert feed_kind(Path("a.xml"), rss.encode()) == "rss"
    assert feed_kind(Path("a.json"), b"{}") == "jsonfeed"
    with pytest.raises(AssertionError, match="cannot tell the feed kind"):
        feed_kind(Path("a.txt"), b"")
    with pytest.raises(AssertionError, match="neither an Atom"):
        feed_kind(Path("a.xml"), b"<html/>")
    assert feed_problems(atom.encode(), "atom") == []
