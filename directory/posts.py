"""Posts from the organizations' own feeds, and the state that makes the next fetch conditional.

Each feed's items are written in one short transaction per feed: a crawl killed half-way keeps what
it stored, and the next run stores only what is missing (posts are unique per entry and guid).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory import entries, untrusted
from directory import fields as F
from directory.models import FeedState, Post, utcnow
from directory.store import insert_new

TITLE_LIMIT = 500
SUMMARY_LIMIT = 5000


@dataclass(frozen=True)
class NewPost:
    """A feed item as the crawler cleaned it: plain-text title, sanitized summary HTML."""

    guid: str
    title: str
    link: str | None
    published_at: dt.datetime | None
    summary: str | None
    language: str | None


def store_posts(session: Session, slug: str, feed_url: str, items: Sequence[NewPost]) -> int:
    """Insert the posts not stored yet; returns how many were new. Two crawls storing the same posts at
    once each insert what the other has not (`store.insert_new`), and neither fails.

    What a feed said is stored as `directory.untrusted` allows: its text without the characters XML
    forbids, in NFC, and its date only when plausible (`untrusted.moment`, against the time of storing).
    """
    entry = entries.get_entry(session, slug)
    known = set(
        session.scalars(select(Post.guid).where(Post.entry_id == entry.id, Post.guid.in_([i.guid for i in items])))
    )
    now = utcnow()
    rows: dict[str, dict[str, Any]] = {}
    for item in items:  # of two items with one guid, the first is kept, as a reader shows it
        if item.guid in known or item.guid in rows:
            continue
        rows[item.guid] = {
            "entry_id": entry.id,
            "feed_url": feed_url,
            "guid": item.guid,
            "title": untrusted.text(item.title)[:TITLE_LIMIT],
            "link": _http_link(item.link),
            "published_at": untrusted.moment(item.published_at, now),
            "summary": untrusted.text(item.summary or "")[:SUMMARY_LIMIT] or None,
            "language": untrusted.optional(item.language),
            "fetched_at": now,
        }
    return insert_new(session, Post, list(rows.values()), ("entry_id", "guid"))


def _http_link(value: str | None) -> str | None:
    """`value` when it is a URL the directory's own URL fields accept (absolute http(s), no white space,
    credentials or hidden characters, a valid host), else None: a link the site and feeds republish can
    never be `javascript:` or disguised, whoever stored it."""
    try:
        return F.FIELD_BY_KEY["website"].normalize(value)
    except ValueError:
        return None


def feed_state(session: Session, slug: str, url: str) -> FeedState | None:
    entry = entries.get_entry(session, slug)
    return session.scalar(select(FeedState).where(FeedState.entry_id == entry.id, FeedState.url == url))


def save_feed_state(
    session: Session,
    slug: str,
    url: str,
    *,
    status: int | None,
    etag: str | None = None,
    last_modified: str | None = None,
    error: str | None = None,
) -> FeedState:
    """Remember the validators of a successful fetch (a 304 keeps the previous ones)."""
    entry = entries.get_entry(session, slug)
    state = feed_state(session, slug, url)
    if state is None:
        state = FeedState(entry_id=entry.id, url=url)
        session.add(state)
    if status == 200:
        state.etag, state.last_modified = untrusted.optional(etag), untrusted.optional(last_modified)
    state.last_status, state.last_error, state.fetched_at = status, untrusted.optional(error), utcnow()
    session.flush()
    return state
