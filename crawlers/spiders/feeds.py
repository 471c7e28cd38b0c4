"""The organizations' own feeds: conditional fetches, every format feedparser reads, broken ones too."""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Sequence
from email.message import Message
from typing import Any, ClassVar

import chardet
import feedparser
import scrapy

from crawlers import clean
from crawlers.failures import classify
from crawlers.items import FeedItem
from crawlers.safety import Network, parse_networks
from directory.posts import NewPost

ITEM_LIMIT = 200


class FeedsSpider(scrapy.Spider):
    name = "feeds"
    handle_httpstatus_list: ClassVar[list[int]] = [304, *range(400, 600)]

    def __init__(self, targets: list[dict[str, Any]] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.targets = targets or []

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for target in self.targets:
            headers = {}
            if target.get("etag"):
                headers["If-None-Match"] = target["etag"]
            if target.get("last_modified"):
                headers["If-Modified-Since"] = target["last_modified"]
            yield scrapy.Request(
                target["url"],
                headers=headers,
                callback=self.parse,
                errback=self.failed,
                dont_filter=True,
                meta={"slug": target["slug"], "feed": target["url"], "language": target.get("language")},
            )

    def parse(self, response: Any) -> Any:
        meta = response.meta
        self.crawler.stats.inc_value(f"nansen/status/{response.status}")
        if response.status == 304:
            yield FeedItem(meta["slug"], meta["feed"], 304)
            return
        if response.status >= 400:
            self.crawler.stats.inc_value(f"nansen/errors/http-{response.status}")
            yield FeedItem(meta["slug"], meta["feed"], response.status, error=f"HTTP {response.status}")
            return
        allowed = parse_networks(self.crawler.settings.get("NANSEN_ALLOW_NETWORKS"))
        try:
            posts = parse_feed(
                response.body, _header(response, "Content-Type"), response.url, meta.get("language"), allowed
            )
        except Exception as exc:  # a document no parser can read: the entry's failure, the crawl goes on
            self.logger.error("unreadable feed %s", response.url, exc_info=True)
            self.crawler.stats.inc_value("nansen/errors/unreadable-feed")
            yield FeedItem(meta["slug"], meta["feed"], 200, error=f"unreadable feed: {type(exc).__name__}: {exc}")
            return
        self.crawler.stats.inc_value("nansen/feed_items", len(posts))
        yield FeedItem(
            meta["slug"],
            meta["feed"],
            200,
            etag=_header(response, "ETag"),
            last_modified=_header(response, "Last-Modified"),
            posts=posts,
        )

    def failed(self, failure: Any) -> Any:
        kind, message = classify(failure)
        self.crawler.stats.inc_value(f"nansen/errors/{kind}")
        request = failure.request
        yield FeedItem(request.meta["slug"], request.meta["feed"], None, error=message)


def _header(response: Any, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1")[:300] if value else None


def parse_feed(
    body: bytes, content_type: str | None, url: str, fallback_language: str | None, allowed: Sequence[Network] = ()
) -> list[NewPost]:
    """Every good item of an RSS 0.9x/1.0/2.0, Atom or JSON Feed document (at most `ITEM_LIMIT`).

    A bad item costs only itself: one that cannot be read is skipped, a date that cannot be read
    leaves its item undated. Links to non-public addresses outside `allowed` are dropped. A document
    that is no feed at all (empty, HTML, invalid JSON, bytes) raises UnreadableFeed: the entry's feed
    URL needs a maintainer, and the crawl says so.
    """
    document = _json_text(body)
    if document is not None:
        return _json_feed(document, url, fallback_language, allowed)

    parsed = feedparser.parse(
        body, response_headers={"content-type": _charset_checked(body, content_type), "content-location": url}
    )
    if not parsed.get("version") and not parsed.entries:
        reason = parsed.get("bozo_exception") or "no RSS, Atom or JSON Feed document"
        raise UnreadableFeed(f"not a feed: {str(reason)[:200]}")
    language = _language(parsed.feed.get("language")) or fallback_language
    typed = str(parsed.get("version", "")).startswith("atom")
    return _each(parsed.entries[:ITEM_LIMIT], lambda item: _feedparser_post(item, url, language, typed, allowed))


# Charsets in which any bytes decode, so a lie (a server default) is never caught by a decoding error.
_PERMISSIVE = frozenset({"latin-1", "iso8859-1", "cp1252", "iso8859-15"})
# What a lie usually hides in this directory's feeds: UTF-8 or a Cyrillic encoding.
_LIKELY = frozenset({"utf-8", "cp1251", "koi8-r", "koi8-u", "iso8859-5", "cp866", "mac-cyrillic"})


def _charset_checked(body: bytes, content_type: str | None) -> str:
    """The Content-Type to believe: a permissive single-byte charset (`_PERMISSIVE`) on a non-ASCII body
    is replaced by chardet's guess when that is UTF-8 or Cyrillic (its confidence for right Cyrillic
    guesses is under 0.5, so it is not asked for); a Western feed that is what it says stays so."""
    header = Message()
    header["content-type"] = content_type or "application/xml"
    declared = header.get_param("charset")
    if not isinstance(declared, str) or body.isascii():
        return header["content-type"]
    permissive = _codec(declared) in _PERMISSIVE
    guess = (chardet.detect(body).get("encoding") or "") if permissive else ""
    if _codec(guess) in _LIKELY:
        header.set_param("charset", guess)
    return header["content-type"]


def _codec(name: str) -> str | None:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _each(items: Sequence[Any], read: Callable[[Any], NewPost | None]) -> list[NewPost]:
    posts = []
    for item in items:
        try:
            post = read(item)
        except Exception:  # whatever one hostile item does, the others are kept
            post = None
        if post is not None:
            posts.append(post)
    return posts


def _feedparser_post(
    item: Any, base: str, language: str | None, typed: bool, allowed: Sequence[Network]
) -> NewPost | None:
    """An RSS or Atom item. Atom declares what each text is (`type="text"` by default, RFC 4287 §3.1);
    RSS does not, and its titles and descriptions carry escaped HTML by convention, so they are HTML."""
    title = _text_or_html(typed, item.get("title_detail"), item.get("title"), clean.words, clean.plain)
    link = clean.public_url(item.get("link"), base, allowed)
    identity = item.get("id") or link or title
    if not identity or not (title or link):
        return None
    summary = _text_or_html(typed, item.get("summary_detail"), item.get("summary"), clean.text_html, clean.summary_html)
    return NewPost(
        guid=_guid(identity),
        title=title or link or "",
        link=link,
        published_at=_time(dict.get(item, "published_parsed") or dict.get(item, "updated_parsed")),
        summary=summary or None,
        language=language,
    )


def _text_or_html(
    typed: bool, detail: Any, value: Any, as_text: Callable[[Any], str], as_html: Callable[[Any], str]
) -> str:
    """A feed field read as what the feed declares it to be: text only when declared so (`typed`)."""
    if not value:
        return ""
    kind = detail.get("type") if isinstance(detail, dict) else None
    return as_text(value) if typed and kind == "text/plain" else as_html(value)


class UnreadableFeed(ValueError):
    """The document is no feed any parser here reads; the message says why."""


_UNICODE_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
                 (codecs.BOM_UTF16_BE, "utf-16"), (codecs.BOM_UTF8, "utf-8-sig"))  # fmt: skip


def _json_text(body: bytes) -> str | None:
    """The body as text when it is JSON (its first character, after any byte-order mark and white
    space, is "{"), else None. JSON is UTF-8 (RFC 8259 §8.1); a BOM says otherwise, and is dropped."""
    encoding = next((name for bom, name in _UNICODE_BOMS if body.startswith(bom)), "utf-8")
    head = body[:64].decode(encoding, errors="ignore").lstrip("\ufeff \t\r\n")
    return body.decode(encoding, errors="replace").lstrip("\ufeff") if head[:1] == "{" else None


def _json_feed(text: str, url: str, fallback_language: str | None, allowed: Sequence[Network]) -> list[NewPost]:
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise UnreadableFeed(f"not JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("items"), list):
        raise UnreadableFeed("JSON, but not a JSON Feed: no list of items")
    language = _language(document.get("language")) or fallback_language
    return _each(document["items"][:ITEM_LIMIT], lambda item: _json_post(item, url, language, allowed))


def _json_post(item: Any, base: str, language: str | None, allowed: Sequence[Network]) -> NewPost | None:
    """A JSON Feed 1.1 item: `title`, `summary` and `content_text` are plain text, `content_html` HTML."""
    if not isinstance(item, dict) or not item.get("id"):
        return None

    def string(key: str) -> str | None:  # a value of the wrong type is no value
        value = item.get(key)
        return value if isinstance(value, str) and value else None

    link = clean.public_url(string("url"), base, allowed)
    title = clean.words(string("title"))
    if not (title or link):
        return None
    if string("content_html"):
        summary = clean.summary_html(string("content_html"))
    else:
        summary = clean.text_html(string("summary") or string("content_text"))
    return NewPost(
        guid=_guid(str(item["id"])),
        title=title or link or "",
        link=link,
        published_at=_iso(string("date_published") or string("date_modified")),
        summary=summary or None,
        language=language,
    )


def _guid(identity: str) -> str:
    return hashlib.sha256(identity.encode("utf-8", errors="replace")).hexdigest()


def _time(parsed: Any) -> dt.datetime | None:
    try:
        if not parsed:
            return None
        year, month, day, hour, minute, second = tuple(parsed)[:6]
        return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _iso(value: Any) -> dt.datetime | None:
    """An RFC 3339 date as UTC, or None when it is none (the year 1 in UTC+5 is before the year 1 in UTC)."""
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    try:
        return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    except OverflowError:  # the first or last day there is, in a zone that moves it out of range
        return None if moment.year == 1 else dt.datetime.max.replace(tzinfo=dt.UTC)


def _language(value: Any) -> str | None:
    text = clean.plain(value, 16).lower()[:2]
    return text if len(text) == 2 and text.isalpha() else None
