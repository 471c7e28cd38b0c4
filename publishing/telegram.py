"""Telegram: each update posted to one channel per language, exactly once, at Telegram's pace.

Through aiogram (a maintained Bot API client): messages are built with its formatting module, whose
HTML output escapes every piece of text (`<`, `>`, `&` in a name stay text), and sent with
`parse_mode=HTML`. The title links to the entry's page in the channel's language; link previews are
off, so a post is the text the maintainers accepted and nothing Telegram fetched.

Which updates, and exactly-once: publishing/telegram_ledger.py, the same discipline as the
newsletter's ledger. The one window no ledger closes: the API answered and the process died before
the outcome was committed; the row is then taken over and posted again, a rare duplicate rather than
a missed warning.

Telegram's limits (Bot API FAQ, "My bot is hitting limits"): about 20 messages a minute to one group
or channel, so posts to a channel are spaced by `interval` (3 s); a 429 answer carries
`parameters.retry_after` (seconds): the poster waits that long and sends the same message again,
charging no attempt, or, past `max_wait`, gives the row back and stops for this run. A 5xx or a
network failure charges an attempt and stops the channel's run (the server is in trouble: the next
run resumes); a row still failing after `retry_attempts` is `failed`. A 400 about the message itself
(e.g. too long) fails that row and the run goes on; a refusal of the channel or of the bot (401, 403,
404, "chat not found") gives the row back and stops the channel's run, naming what to change.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.utils.formatting import Bold, Text, TextLink
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from directory.models import Revision, utcnow
from directory.store import holder
from publishing.feeds import item_text, item_title
from publishing.models import OPEN, ChannelPost
from publishing.telegram_ledger import (
    ChannelReport,
    OpenSession,
    PostReport,
    TelegramSettings,
    claim,
    prepare_retrying,
    record,
    todo,
)
from publishing.updates import Update, collect

MESSAGE_LIMIT = 4096  # characters of a message's text after entities are parsed (Bot API, sendMessage)


# --------------------------------------------------------------------------- what a post says


def message(update: Update, lang: str, settings: TelegramSettings) -> Text:
    """The post: the title (bold, linking to the entry's page), then what a reader must know first
    (a paused or closed program, the entry's warnings) and the update's text, as the feeds word them.
    Shortened with "…" to Telegram's `MESSAGE_LIMIT`."""
    title = item_title(update, lang)  # the directory keeps control characters out of every text field
    body = item_text(update, lang)
    room = MESSAGE_LIMIT - len(title) - 2
    if len(body) > room:
        body = body[: max(room - 1, 0)].rstrip() + "…"
    parts: list[Any] = [Bold(TextLink(title, url=settings.entry_url(lang, update.entry.slug)))]
    if body:
        parts += ["\n\n", body]
    return Text(*parts)


# --------------------------------------------------------------------------- posting


def bot(settings: TelegramSettings) -> Bot:
    """An aiogram Bot speaking to `settings.api_url`; HTML parse mode, link previews off."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.api_url), timeout=settings.timeout)
    defaults = DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True)
    return Bot(settings.token, session=session, default=defaults)


def post(open_session: OpenSession, settings: TelegramSettings) -> PostReport:
    """Add the rows of new updates, then post every open row, channel by channel, oldest first.

    Safe to run in several processes at once and again after any crash (see the module docstring).
    `open_session` is a unit-of-work factory (`Store.session`). A channel whose run stopped early has
    `stopped` set in its report, in words that name what to change; the other channels go on.
    """
    prepare_retrying(open_session, settings)
    return asyncio.run(_post_all(open_session, settings))


async def _post_all(open_session: OpenSession, settings: TelegramSettings) -> PostReport:
    report = PostReport()
    me = holder()
    with open_session() as session:
        updates = {u.id: u for u in _open_updates(session, settings)}
    client = bot(settings)
    try:
        for lang, chat in settings.channels.items():
            channel = ChannelReport(chat, lang)
            report.channels.append(channel)
            await _post_channel(client, open_session, settings, updates, channel, me)
    finally:
        await client.session.close()
    return report


def _open_updates(session: Session, settings: TelegramSettings) -> Sequence[Update]:
    """The updates the open rows name (read once per run)."""
    first = session.scalar(
        select(func.min(ChannelPost.revision)).where(
            ChannelPost.chat.in_(settings.channels.values()), ChannelPost.status.in_((*OPEN, "sending"))
        )
    )
    if first is None:
        return []
    since = session.scalar(select(Revision.created_at).where(Revision.id == first))
    return collect(session, since=since - dt.timedelta(seconds=1) if since else None)


async def _post_channel(
    client: Bot,
    open_session: OpenSession,
    settings: TelegramSettings,
    updates: Mapping[str, Update],
    channel: ChannelReport,
    me: str,
) -> None:
    last_post = 0.0
    for row_id, status, claimed_by in todo(open_session, channel.chat):
        if not claim(open_session, row_id, status, claimed_by, me):
            continue  # another poster has it, or it is done
        with open_session() as session:
            row = session.get(ChannelPost, row_id)
            assert row is not None
            update_id, attempts = row.update_id, row.attempts
        found = updates.get(update_id)
        if found is None:
            record(open_session, row_id, me, status="skipped", last_error="the update no longer exists")
            channel.skipped += 1
            continue
        text = message(found, channel.language, settings).as_html()
        pause = settings.interval - (time.monotonic() - last_post)
        if last_post and pause > 0:
            await asyncio.sleep(pause)
        outcome = await _send(client, settings, channel, text)
        last_post = time.monotonic()
        if isinstance(outcome, int):
            record(open_session, row_id, me, status="sent", message_id=outcome, sent_at=utcnow(), attempts=attempts + 1)
            channel.sent += 1
            continue
        kind, detail = outcome
        if kind in ("wait", "channel"):  # nothing is decided about this update: give it back untouched
            record(open_session, row_id, me, status="retry" if attempts else "pending")
            channel.stopped = detail
            return
        if kind == "message":
            record(open_session, row_id, me, status="failed", attempts=attempts + 1, last_error=detail[:500])
            channel.failed += 1
            continue
        # "server": the API or the network failed; charge an attempt and resume in a later run
        final = attempts + 1 >= settings.retry_attempts
        record(
            open_session,
            row_id,
            me,
            status="failed" if final else "retry",
            attempts=attempts + 1,
            last_error=detail[:500],
        )
        if final:
            channel.failed += 1
        else:
            channel.retry += 1
        channel.stopped = f"{detail}; the next run resumes"
        return


async def _send(client: Bot, settings: TelegramSettings, channel: ChannelReport, text: str) -> int | tuple[str, str]:
    """Telegram's message_id, or (kind, words) for a failure: wait, channel, message or server."""
    while True:
        try:
            sent = await client.send_message(chat_id=channel.chat, text=text)
            return sent.message_id
        except TelegramRetryAfter as exc:
            if channel.waited + exc.retry_after > settings.max_wait:
                return "wait", f"Telegram asks to wait {exc.retry_after} s (more than {settings.max_wait:g} s in all)"
            channel.waited += exc.retry_after
            await asyncio.sleep(exc.retry_after)
        except (TelegramUnauthorizedError, TelegramForbiddenError, TelegramNotFound) as exc:
            return "channel", _refusal(exc, channel.chat)
        except TelegramBadRequest as exc:
            if "chat not found" in exc.message.lower():
                return "channel", _refusal(exc, channel.chat)
            return "message", f"Telegram refused the message: {exc.message}"
        except (TelegramServerError, TelegramNetworkError) as exc:
            return "server", f"Telegram failed: {exc.message}"
        except TelegramAPIError as exc:  # an answer aiogram has no class for: treat as the server's trouble
            return "server", f"Telegram answered: {exc.message}"


def _refusal(exc: TelegramAPIError, chat: str) -> str:
    if isinstance(exc, TelegramUnauthorizedError):
        return f"Telegram does not know this bot token ({exc.message}): set NANSEN_TELEGRAM_TOKEN from @BotFather"
    return (
        f"Telegram refused to post to {chat} ({exc.message}): check the channel name and that the bot is an "
        "administrator of the channel allowed to post messages"
    )
