"""Feeds in legacy encodings, undeclared or declared wrongly, read as their words through a real feeds crawl.

feedparser tries the declared encoding, then (RFC 3023) the XML declaration's, then what chardet guesses,
then utf-8, windows-1252 and iso-8859-2. Without chardet installed it skips the guess, and an undeclared
cp1251 feed decodes as windows-1252: `Ñóä â Ìîñêâå`. With it, every feed whose declaration fails to
decode is guessed right. A declaration that decodes without an error (iso-8859-1, windows-1252: every
byte is a character) is never caught by a decoding error, so on a non-ASCII body `parse_feed` asks chardet
and believes it instead when it sees UTF-8 or a Cyrillic encoding.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select

from crawlers.run import run_crawl
from directory import entries
from directory.models import Entry, Post
from directory.store import Store
from tests.conftest import entry_record
from tests.fixtures.web.sites_encoding import (
    CP1251_ITEMS,
    GB2312_ITEMS,
    KOI8R_ITEMS,
    SHIFT_JIS_ITEMS,
    WINDOWS1252_ITEMS,
)
from tests.fixtureweb import FixtureWeb
from tests.test_crawlers import options

ME = entries.Actor("maintainer")

GUESSED = {
    "feed-cp1251-undeclared": CP1251_ITEMS,
    "feed-cp1251-no-content-type": CP1251_ITEMS,
    "feed-cp1251-lying-declaration": CP1251_ITEMS,
    "feed-cp1251-lying-utf8": CP1251_ITEMS,
    "feed-koi8r-undeclared": KOI8R_ITEMS,
    "feed-koi8r-lying-utf8": KOI8R_ITEMS,
    "feed-shift-jis-undeclared": SHIFT_JIS_ITEMS,
    "feed-gb2312-undeclared": GB2312_ITEMS,
}
# Declared in an encoding that decodes any bytes: feedparser believes the header and never guesses.
LYING_SINGLE_BYTE = {
    "feed-cp1251-lying-latin1": CP1251_ITEMS,
    "feed-koi8r-lying-windows1252": KOI8R_ITEMS,
    "feed-utf8-lying-latin1": CP1251_ITEMS,
    "feed-windows1252-honest": WINDOWS1252_ITEMS,  # a Western feed telling the truth is believed
}


def crawl_titles(store: Store, fixture_web: FixtureWeb, sites: Collection[str]) -> dict[str, list[str]]:
    """One entry per site with its feed, one feeds crawl, and the stored titles of each, oldest item first."""
    with store.session() as session:
        for site in sites:
            entries.add_entry(session, entry_record(site, feeds=[fixture_web.url(site, "/feed.xml")]), ME)
    summary = run_crawl("feeds", options(store))
    assert summary.returncode == 0, summary.stats.get("stderr")
    with store.session() as session:
        rows = session.execute(select(Entry.slug, Post.title).join(Entry).order_by(Entry.slug, Post.published_at))
        titles: dict[str, list[str]] = {site: [] for site in sites}
        for slug, title in rows:
            titles[slug].append(title)
    return titles


def test_undeclared_and_failing_declarations_are_guessed(store: Store, fixture_web: FixtureWeb) -> None:
    titles = crawl_titles(store, fixture_web, GUESSED)
    assert titles == {site: [title for title, _ in items] for site, items in GUESSED.items()}


def test_descriptions_are_read_in_the_same_encoding(store: Store, fixture_web: FixtureWeb) -> None:
    crawl_titles(store, fixture_web, ["feed-koi8r-undeclared"])
    with store.session() as session:
        summaries = list(session.scalars(select(Post.summary).order_by(Post.published_at)))
    assert [s.removeprefix("<p>").removesuffix("</p>") for s in summaries if s] == [d for _, d in KOI8R_ITEMS]


def test_a_lying_single_byte_charset_is_not_believed(store: Store, fixture_web: FixtureWeb) -> None:
    titles = crawl_titles(store, fixture_web, LYING_SINGLE_BYTE)
    assert titles == {site: [title for title, _ in items] for site, items in LYING_SINGLE_BYTE.items()}
