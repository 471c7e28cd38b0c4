"""Telegram's settings and the ledger of posts: which update went to which channel, exactly once.

Apart from the client (publishing/telegram.py) because aiogram takes seconds to import: commands and
jobs that only read settings or the ledger do not load it.

Which updates: a language's channel starts after the directory's latest revision when a poster
first sees it (`ChannelStart`), so configuring one posts what happens from then on, not the whole
history. Each later run adds a ledger row per new update × language (`ChannelPost`, `pending`); a
poster claims a row (one conditional UPDATE from `pending` or `retry` to `sending`, committed on its
own) before its API call, so two posters never both send it, and records the outcome, with the chat
it went to, right after the answer. A row left `sending` by a holder that is gone is taken over (at
once when the holder was a process on this machine, after `directory.store.CLAIM_LEASE` otherwise). Rows are keyed
by language, not by the chat's spelling: `@name` and `-100…` are one channel, and posts that waited
while a channel name was mistyped go to the corrected one.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import quote, urlsplit

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from directory.errors import DomainError
from directory.models import Revision, utcnow
from directory.store import claim_row, claimable, insert_new
from publishing.feeds import entry_page
from publishing.i18n import LANGUAGES
from publishing.models import OPEN, ChannelPost, ChannelStart
from publishing.updates import Update, collect

MAX_WAIT_REMEMBERED = 86_400.0  # seconds: a retry_after beyond a day is a proxy's mistake, not Telegram's
_CHAT = re.compile(r"^(@[A-Za-z][A-Za-z0-9_]{3,31}|-?[0-9]{1,20})$", re.ASCII)  # @channelusername or a numeric id
_TOKEN = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{1,200}$", re.ASCII)  # as @BotFather gives it

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
    retry_attempts: int = 5  # 5xx answers to one row, across runs, before it is `failed`
    timeout: float = 30.0  # seconds for one API request

    def __post_init__(self) -> None:
        if not _TOKEN.match(self.token):
            raise TelegramError(
                "the Telegram bot token is not a token (expected <digits>:<letters>, as @BotFather gives it)"
            )
        for lang, chat in self.channels.items():
            if lang not in LANGUAGES:
                raise TelegramError(f"Telegram channel for {lang!r}: the languages are {', '.join(LANGUAGES)}")
            if not _CHAT.match(chat):
                raise TelegramError(
                    f"Telegram channel {chat!r} ({lang}): "
                    "expected @channelusername or a numeric chat id like -1001234567890"
                )
        for name, url in (("Telegram API URL", self.api_url), ("site URL", self.site_url)):
            if problem := _url_problem(url):
                raise TelegramError(f"{name} {url!r}: {problem}")

    def entry_url(self, lang: str, slug: str) -> str:
        """The entry's page, with every character an HTML attribute or Telegram could misread
        percent-encoded (aiogram writes the URL into `href` as it is)."""
        return quote(f"{self.site_url.rstrip('/')}/{entry_page(lang, slug)}", safe=":/?#[]@!$()*+,;=%-._~")

    def redact(self, text: str) -> str:
        """`text` without the token, as it is or percent-encoded (aiogram's errors and some servers'
        answers quote the request URL, which holds it)."""
        for form in {self.token, quote(self.token, safe=""), quote(self.token)}:
            text = text.replace(form, "<token>")
        return text


def _url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "expected http(s)://host[:port]"
    try:
        parts.hostname.encode("idna")
    except UnicodeError:
        return f"{parts.hostname!r} is not a host name"
    return None


@dataclass
class ChannelReport:
    """What one run did for one language's channel; `stopped` holds why it ended early (None when it
    did not), `waiting` until when Telegram asked it to wait."""

    chat: str
    language: str
    sent: int = 0
    failed: int = 0
    retry: int = 0
    skipped: int = 0
    waited: float = 0.0  # seconds spent honouring 429 retry_after
    stopped: str | None = None
    waiting: dt.datetime | None = None


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
            | ({"waiting_until": c.waiting.isoformat(timespec="seconds")} if c.waiting else {})
            for c in self.channels
        }


# --------------------------------------------------------------------------- the ledger


def _revision(update_id: str) -> int:
    return int(update_id.rsplit("-", 1)[1])


def prepare(session: Session, settings: TelegramSettings) -> dict[str, int]:
    """Start each configured language's channel not seen before (after the latest revision) and add
    a `pending` row per update after its start; returns the rows added per language. Race-free: rows
    another poster added meanwhile are left as they are."""
    latest = session.scalar(select(func.max(Revision.id))) or 0
    starts: dict[str, int] = {}
    for lang in settings.channels:
        start = [{"language": lang, "after_revision": latest, "created_at": utcnow()}]
        insert_new(session, ChannelStart, start, ("language",))  # another poster may have started it first
        starts[lang] = session.scalars(select(ChannelStart.after_revision).where(ChannelStart.language == lang)).one()
    added: dict[str, int] = {}
    earliest = min(starts.values(), default=latest)
    if earliest >= latest:
        return added
    updates = updates_after(session, earliest)
    for lang in settings.channels:
        known = set(session.scalars(select(ChannelPost.update_id).where(ChannelPost.language == lang)))
        now = utcnow()
        rows = [
            {
                "update_id": u.id,
                "revision": _revision(u.id),
                "language": lang,
                "status": "pending",
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
            for u in updates
            if _revision(u.id) > starts[lang] and u.id not in known
        ]
        added[lang] = insert_new(session, ChannelPost, rows, ("update_id", "language"))
    return added


def updates_after(session: Session, revision: int) -> list[Update]:
    """The updates whose revisions come after `revision` (and a few just before: `collect` filters by
    time, and the ledger by revision, so nothing is missed)."""
    since = session.scalar(select(Revision.created_at).where(Revision.id > revision).order_by(Revision.id).limit(1))
    return collect(session, since=since - dt.timedelta(seconds=1) if since else None)


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


def todo(open_session: OpenSession, lang: str) -> list[tuple[int, str, str | None]]:
    """(row id, status, holder) of the rows to post, oldest update first; a `sending` row only when its
    holder is gone or its lease ran out."""
    with open_session() as session:
        rows = session.execute(
            select(ChannelPost.id, ChannelPost.status, ChannelPost.claimed_by, ChannelPost.claimed_at)
            .where(ChannelPost.language == lang, ChannelPost.status.in_((*OPEN, "sending")))
            .order_by(ChannelPost.revision, ChannelPost.id)
        ).all()
    return [
        (row.id, row.status, row.claimed_by)
        for row in rows
        if claimable(row.status in OPEN, row.claimed_by, row.claimed_at)
    ]


def waiting_until(open_session: OpenSession, lang: str) -> dt.datetime | None:
    """Until when Telegram asked this language's channel to wait (None when it did not, or it is over)."""
    with open_session() as session:
        until = session.scalar(select(ChannelStart.wait_until).where(ChannelStart.language == lang))
    return until if until is not None and until > utcnow() else None


def wait(open_session: OpenSession, lang: str, seconds: float) -> dt.datetime:
    """Remember Telegram's `retry_after` for later runs (and other posters); returns until when."""
    until = utcnow() + dt.timedelta(seconds=min(seconds, MAX_WAIT_REMEMBERED))
    with open_session() as session:
        session.execute(update(ChannelStart).where(ChannelStart.language == lang).values(wait_until=until))
    return until


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
    """(language, status, rows) for every language's channel the ledger knows."""
    return [
        (lang, state, rows)
        for lang, state, rows in session.execute(
            select(ChannelPost.language, ChannelPost.status, func.count(ChannelPost.id))
            .group_by(ChannelPost.language, ChannelPost.status)
            .order_by(ChannelPost.language, ChannelPost.status)
        )
    ]


def waits(session: Session) -> list[tuple[str, dt.datetime]]:
    """(language, until when) for each channel Telegram asked to wait that is still waiting."""
    now = utcnow()
    return [
        (lang, until)
        for lang, until in session.execute(select(ChannelStart.language, ChannelStart.wait_until))
        if until is not None and until > now
    ]


def failed(session: Session, limit: int = 50) -> list[ChannelPost]:
    """The failed rows, newest first, with Telegram's words in `last_error`."""
    return list(
        session.scalars(
            select(ChannelPost).where(ChannelPost.status == "failed").order_by(ChannelPost.id.desc()).limit(limit)
        )
    )


def retry_failed(session: Session, lang: str | None = None) -> int:
    """Give every failed row (of one language, or all) a new start: `pending`, no attempts; returns how many."""
    query = update(ChannelPost).where(ChannelPost.status == "failed")
    if lang is not None:
        query = query.where(ChannelPost.language == lang)
    result = session.execute(query.values(status="pending", attempts=0, updated_at=utcnow()))
    return cast(CursorResult[Any], result).rowcount
