"""What spiders hand to the pipeline: the directory's own value types, plus which entry they concern."""

from __future__ import annotations

from dataclasses import dataclass, field

from directory.health import Check
from directory.posts import NewPost


@dataclass
class SiteItem:
    slug: str
    check: Check


@dataclass
class FeedItem:
    slug: str
    url: str
    status: int | None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    posts: list[NewPost] = field(default_factory=list)


@dataclass
class PageItem:
    slug: str
    url: str
    text: str
    confirmed: bool
