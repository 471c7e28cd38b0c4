"""The organizations' own feeds: conditional fetches, every format feedparser reads, broken ones too."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import feedparser
import scrapy

from crawlers import clean
from crawlers.failures import classify
from crawlers.items import FeedItem
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
        posts = parse_feed(response.body, _header(response, "Content-Type"), response.url, meta.get("language"))
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


def parse_feed(body: bytes, content_type: str | None, url: str, fallback_language: str | None) -> list[NewPost]:
    """Every good item of an RSS 0.9x/1.0/2.0, Atom or JSON Feed document; bad items are skipped."""
    if body.lstrip()[:1] == b"{":
        return _json_feed(body, url, fallback_language)

    parsed = feedparser.parse(
        body, response_headers={"content-type": content_type or "application/xml", "content-location": url}
    )
    language = _language(parsed.feed.get("language")) or fallback_language
    posts = []
    for item in parsed.entries[:ITEM_LIMIT]:
        title = clean.plain(item.get("title"))
        link = clean.http_url(item.get("link"), url)
        identity = item.get("id") or link or title
        if not identity or not (title or link):
            continue
        posts.append(
            NewPost(
                guid=_guid(identity),
                title=title or link or "",
                link=link,
                published_at=_time(dict.get(item, "published_parsed") or dict.get(item, "updated_parsed")),
                summary=clean.summary_html(item.get("summary")) or None,
                language=language,
            )
        )
    return posts


def _json_feed(body: bytes, url: str, fallback_language: str | None) -> list[NewPost]:
    try:
        document = json.loads(body.decode("utf-8", errors="replace"))
    except ValueError:
        return []
    if not isinstance(document, dict) or not isinstance(document.get("items"), list):
        return []
    language = _language(document.get("language")) or fallback_language
    posts = []
    for item in document["items"][:ITEM_LIMIT]:
        if not isinstance(item, dict) or not item.get("id"):
            continue
        link = clean.http_url(item.get("url"), url)
        title = clean.plain(item.get("title")) or link or ""
        posts.append(
            NewPost(
                guid=_guid(str(item["id"])),
                title=title,
                link=link,
                published_at=_iso(item.get("date_published")),
                summary=clean.summary_html(item.get("content_html") or item.get("summary") or item.get("content_text"))
                or None,
                language=language,
            )
        )
    return posts


def _guid(identity: str) -> str:
    return hashlib.sha256(identity.encode("utf-8", errors="replace")).hexdigest()


def _time(parsed: Any) -> dt.datetime | None:
    try:
        if not parsed:
            return None
        year, month, day, hour, minute, second = tuple(parsed)[:6]
        return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
    except (TypeError, ValueError):
        return None


def _iso(value: Any) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _language(value: Any) -> str | None:
    text = clean.plain(value, 16).lower()[:2]
    return text if len(text) == 2 and text.isalpha() else None
