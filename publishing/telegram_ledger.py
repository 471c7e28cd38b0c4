"""Telegram's settings and the ledger of posts: which update went to which channel, exactly once.

Apart from the client (publishing/telegram.py) because aiogram takes seconds to import: commands and
jobs that only read settings or the ledger do not load it.

Which updates: a channel starts after the directory's latest revision when a poster first sees it
(`ChannelStart`), so configuring a channel posts what happens from then on, not the whole history.
Each later run adds a ledger row per new update × channel (`ChannelPost`, `pending`); a poster claims
a row (one conditional UPDATE from `pending` or `retry` to `sending`, committed on its own) before
its API call, so two posters never both send it, and records the outcome right after the answer.
A row left `sending` by a holder that is gone is taken over (at once when the holder was a process on
this machine, after `CLAIM_LEASE` otherwise).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from directory.errors import DomainError
from directory.models import Revision, utcnow
from directory.store import claim_row, holder_is_gone, insert_new
from publishing.feeds import entry_page
from publishing.i18n import LANGUAGES
from publishing.models import OPEN, ChannelPost, ChannelStart
from publishing.updates import collect

CLAIM_LEASE = dt.timedelta(minutes=15)  # a poster on another machine that holds a row longer is presumed dead
_CHAT = re.compile(r"^(@[A-Za-z][A-Za-z0-9_]{3,31}|-?\d{1,20})$")  # @channelusername or a numeric chat id

OpenSession = Callable[[], AbstractContextManager[Session]]


class TelegramError(DomainError):
    """A Telegram setting is missing or wrong."""


@dataclass(frozen=True)
class TelegramSettings:
    """Where and how to post. `channels` maps a language ("ru", "en") to a chat: `@channelusername` or
    a numeric id (`-100…`); the bot must be an administrator of each channel allowed to post."""

    token: str
    channels: Mapping[str, str]
    site_url: str  # the entry links: <site_url>/<lang>/entries/<slug>.html
    api_url: str = "https://api.telegram.org"  # or a local Bot API server (tdlib/telegram-bot-api)
    interval: float = 3.0  # seconds between two posts to one channel (about 20 a minute, as Telegram asks)
    max_wait: float = 300.0  # the longest 429 `retry_after` (seconds) waited for within a run
    retry_attempts: int = 5  # 5xx or network failures of one row, across runs, before it is `failed`
    timeout: float = 30.0  # seconds for one API request

    def __post_init__(self) -> None:
        number, colon, secret = self.token.partition(":")
        if not (colon and number.isdigit() and secret) or any(c.isspace() for c in self.token):
            raise TelegramError(
                "the Telegram bot token is not a token (expected <digits>:<letters>, as @BotFather gives it)"
            ) from None
        for lang, chat in self.channels.items():
            if lang not in LANGUAGES:
                raise TelegramError(f"Telegram channel for {lang!r}: the languages are {', '.join(LANGUAGES)}")
            if not _CHAT.match(chat):
                raise TelegramError(
                    f"Telegram channel {chat!r} ({lang}): "
                    "expected @channelusername or a numeric chat id like -1001234567890"
                )
        if not self.api_url.startswith(("http://", "https://")):
            raise TelegramError(f"Telegram API URL {self.api_url!r}: expected http(s)://host[:port]")

    def entry_url(self, lang: str, slug: str) -> str:
        return f"{self.site_url.rstrip('/')}/{entry_page(lang, slug)}"


@dataclass
class ChannelReport:
    """What one run did for one channel; `stopped` holds why it ended early (None when it did not)."""

    chat: str
    language: str
    sent: int = 0
    failed: int = 0
    retry: int = 0
    skipped: int = 0
    waited: float = 0.0  # seconds spent honouring 429 retry_after
    stopped: str | None = None


@dataclass
class PostReport:
    channels: list[ChannelReport] = field(default_factory=list)

    @property
    def stopped(self) -> list[str]:
        return [f"{c.chat}: {c.stopped}" for c in self.channels if c.stopped]

    def counts(self) -> dict[str, Any]:
        return {
            c.chat: {"sent": c.sent, "failed": c.failed, "retry": c.retry, "skipped": c.skipped}
            | ({"waited_s": round(c.waited, 1)} if c.waited else {})
            for c in self.channels
        }


def _revision(update_id: str) -> int:
    return int(update_id.rsplit("-", 1)[1])


def prepare(session: Session, settings: TelegramSettings) -> dict[str, int]:
    """Start each configured channel not seen before (after the latest revision) and add a `pending`
    row per update after its start; returns the rows added per chat. Race-free: rows another poster
    added meanwhile are left as they are."""
    latest = session.scalar(select(func.max(Revision.id))) or 0
    starts: dict[str, int] = {}
    for lang, chat in settings.channels.items():
        start = [{"chat": chat, "language": lang, "after_revision": latest, "created_at": utcnow()}]
        insert_new(session, ChannelStart, start, ("chat",))  # another poster may have started it first
        starts[chat] = session.scalars(select(ChannelStart.after_revision).where(ChannelStart.chat == chat)).one()
    added: dict[str, int] = {}
    earliest = min(starts.values(), default=latest)
    if earliest >= latest:
        return added
    since = session.scalar(select(Revision.created_at).where(Revision.id > earliest).order_by(Revision.id).limit(1))
    updates = collect(session, since=since - dt.timedelta(seconds=1) if since else None)
    for lang, chat in settings.channels.items():
        known = set(session.scalars(select(ChannelPost.update_id).where(ChannelPost.chat == chat)))
        now = utcnow()
        rows = [
            {
                "update_id": u.id,
                "revision": _revision(u.id),
                "chat": chat,
                "language": lang,
                "status": "pending",
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
            for u in updates
            if _revision(u.id) > starts[chat] and u.id not in known
        ]
        added[chat] = insert_new(session, ChannelPost, rows, ("update_id", "chat"))
    return added


def prepare_retrying(open_session: OpenSession, settings: TelegramSettings) -> None:
    """`prepare` in its own transaction; again a moment later when SQLite's write lock is taken."""
    for attempt in range(1, 6):
        try:
            with open_session() as session:
                prepare(session, settings)
            return
        except OperationalError:
            if attempt == 5:
                raise
            time.sleep(0.05 * attempt)


def todo(open_session: OpenSession, chat: str) -> list[tuple[int, str, str | None]]:
    """(row id, status, holder) of the rows to post, oldest update first; a `sending` row only when its
    holder is gone or its lease ran out."""
    with open_session() as session:
        rows = session.execute(
            select(ChannelPost.id, ChannelPost.status, ChannelPost.claimed_by, ChannelPost.claimed_at)
            .where(ChannelPost.chat == chat, ChannelPost.status.in_((*OPEN, "sending")))
            .order_by(ChannelPost.revision, ChannelPost.id)
        ).all()
    now = utcnow()
    return [
        (row.id, row.status, row.claimed_by)
        for row in rows
        if row.status in OPEN or holder_is_gone(row.claimed_by) or (row.claimed_at or now) < now - CLAIM_LEASE
    ]


def claim(open_session: OpenSession, row_id: int, status: str, claimed_by: str | None, me: str) -> bool:
    """Take the row for this process (`directory.store.claim_row`); False when another poster was first."""
    with open_session() as session:
        return claim_row(session, ChannelPost, row_id, status, claimed_by, me)


def record(open_session: OpenSession, row_id: int, me: str, **values: Any) -> None:
    """Write the outcome of a claimed row (and give up the claim)."""
    with open_session() as session:
        session.execute(
            update(ChannelPost)
            .where(ChannelPost.id == row_id, ChannelPost.claimed_by == me)
            .values(claimed_by=None, claimed_at=None, updated_at=utcnow(), **values)
        )


def status(session: Session) -> list[tuple[str, str, int]]:
    """(chat, status, rows) for every channel the ledger knows."""
    return [
        (chat, state, rows)
        for chat, state, rows in session.execute(
            select(ChannelPost.chat, ChannelPost.status, func.count(ChannelPost.id))
            .group_by(ChannelPost.chat, ChannelPost.status)
            .order_by(ChannelPost.chat, ChannelPost.status)
        )
    ]
