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
charging no attempt, or, past `max_wait` in a run, gives the row back and records until when the
channel must wait, which later runs respect. What the answer says decides the rest:
- a 400 about the message itself (too long, HTML that does not parse, empty) fails that row alone;
- any other refusal (401 token, 403 rights, 404 URL or token, a 400 about the chat or the bot's
  rights, a group that became a supergroup) gives the row back and stops that channel, naming what
  to change: nothing is lost while the configuration is wrong;
- a 5xx, or an answer that is not the API's JSON, charges an attempt and stops the channel until the
  next run (`failed` after `retry_attempts`); no connection at all charges nothing, so an outage
  never fails a post. A timeout is charged like a 5xx: it may come after Telegram took the message,
  so the next run posts it again (the same rare duplicate as a kill in that window), at most
  `retry_attempts` times.
An update that says nothing in a channel's language (a change to the other language's text) is
`skipped` there; a page-change post says that the official page changed and links to it, without the
crawled diff (Telegram's apps would make its addresses and @names clickable).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    AiogramError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.utils.formatting import Bold, Text, TextLink
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from directory.models import utcnow
from directory.store import holder
from publishing.feeds import item_notices, item_title
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
    updates_after,
    wait,
    waiting_until,
)
from publishing.updates import Update

MESSAGE_LIMIT = 4096  # characters of a message's text after entities are parsed (Bot API, sendMessage)


# --------------------------------------------------------------------------- what a post says


def message(update: Update, lang: str, settings: TelegramSettings) -> Text:
    """The post: the title (bold, linking to the entry's page), then what a reader must know first
    (a paused or closed program, the entry's warnings) and the update's text, as the feeds word them
    (a page change without its crawled diff). Shortened with "…" to Telegram's `MESSAGE_LIMIT`."""
    title = item_title(update, lang)[: MESSAGE_LIMIT // 2]  # the directory keeps control characters out
    text = update.text[lang]
    if update.kind == "page-change":
        text = text.split("\n", 1)[0]  # the page's address, from the curated data
    body = "\n".join([*item_notices(update, lang), text] if text else item_notices(update, lang))
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
            channel.waiting = waiting_until(open_session, lang)
            if channel.waiting is None:
                await _post_channel(client, open_session, settings, updates, channel, me)
    finally:
        await client.session.close()
    return report


def _open_updates(session: Session, settings: TelegramSettings) -> Sequence[Update]:
    """The updates the open rows name (read once per run)."""
    first = session.scalar(
        select(func.min(ChannelPost.revision)).where(
            ChannelPost.language.in_(list(settings.channels)), ChannelPost.status.in_((*OPEN, "sending"))
        )
    )
    if first is None:
        return []
    return updates_after(session, first - 1)


async def _post_channel(
    client: Bot,
    open_session: OpenSession,
    settings: TelegramSettings,
    updates: Mapping[str, Update],
    channel: ChannelReport,
    me: str,
) -> None:
    last_post = 0.0
    for row_id, status, claimed_by in todo(open_session, channel.language):
        if not claim(open_session, row_id, status, claimed_by, me):
            continue  # another poster has it, or it is done
        with open_session() as session:
            row = session.get(ChannelPost, row_id)
            assert row is not None
            update_id, attempts = row.update_id, row.attempts
        untouched = "retry" if attempts else "pending"
        found = updates.get(update_id)
        if found is None or not found.told_in(channel.language):
            reason = "the update no longer exists" if found is None else "nothing changed in this language"
            record(open_session, row_id, me, status="skipped", last_error=reason)
            channel.skipped += 1
            continue
        pause = settings.interval - (time.monotonic() - last_post)
        if last_post and pause > 0:
            await asyncio.sleep(pause)
        try:
            outcome = await _send(client, settings, channel, message(found, channel.language, settings).as_html())
        except BaseException:  # a bug or a signal: the row goes back as it was, for the next run
            record(open_session, row_id, me, status=untouched)
            raise
        last_post = time.monotonic()
        if isinstance(outcome, int):
            done = {"status": "sent", "message_id": outcome, "sent_at": utcnow(), "attempts": attempts + 1}
            done["last_error"] = None
            record(open_session, row_id, me, chat=channel.chat, **done)
            channel.sent += 1
            continue
        kind, detail = outcome
        detail = settings.redact(detail)
        if kind == "message":
            record(open_session, row_id, me, status="failed", attempts=attempts + 1, last_error=detail[:500])
            channel.failed += 1
            continue
        if kind == "wait":
            record(open_session, row_id, me, status=untouched)
            channel.waiting = wait(open_session, channel.language, float(detail))
            return
        if kind in ("channel", "network"):  # nothing is decided about this update: give it back untouched
            record(open_session, row_id, me, status=untouched, last_error=detail[:500])
            channel.stopped = detail if kind == "channel" else f"{detail}; the next run resumes"
            return
        # "server": Telegram answered with a failure of its own; charge an attempt, resume in a later run
        final = attempts + 1 >= settings.retry_attempts
        after = "failed" if final else "retry"
        record(open_session, row_id, me, status=after, attempts=attempts + 1, last_error=detail[:500])
        if final:
            channel.failed += 1
        else:
            channel.retry += 1
        channel.stopped = f"{detail}; the next run resumes"
        return


_TIMEOUT = "Request timeout error"  # aiogram's words when the answer did not come in time
# 400 answers about the message itself; any other 400 is about the chat or the bot's rights.
_MESSAGE_FAULTS = ("message is too long", "can't parse entities", "message text is empty", "text must be non-empty")


async def _send(client: Bot, settings: TelegramSettings, channel: ChannelReport, text: str) -> int | tuple[str, str]:
    """Telegram's message_id, or (kind, words) for a failure: message (this post is refused), wait
    (words: the seconds to wait), channel (configuration), network (no answer) or server."""
    while True:
        try:
            sent = await client.send_message(chat_id=channel.chat, text=text)
        except TelegramRetryAfter as exc:
            seconds = max(1, exc.retry_after)  # a proxy's zero or negative value must not spin
            if channel.waited + seconds > settings.max_wait:
                return "wait", str(seconds)
            channel.waited += seconds
            await asyncio.sleep(seconds)
            continue
        except TelegramUnauthorizedError as exc:
            return "channel", f"Telegram does not know this bot token ({exc.message}): set NANSEN_TELEGRAM_TOKEN"
        except TelegramNotFound as exc:
            return "channel", f"Telegram answered {exc.message}: check NANSEN_TELEGRAM_API_URL and the token"
        except TelegramMigrateToChat as exc:
            return (
                "channel",
                f"{channel.chat} is now the supergroup {exc.migrate_to_chat_id}: set the channel to that id",
            )
        except TelegramBadRequest as exc:
            if any(fault in exc.message.lower() for fault in _MESSAGE_FAULTS):
                return "message", f"Telegram refused the message: {exc.message}"
            return "channel", _refusal(exc, channel.chat)
        except TelegramForbiddenError as exc:
            return "channel", _refusal(exc, channel.chat)
        except TelegramNetworkError as exc:
            if exc.message == _TIMEOUT:  # the request may have reached Telegram: bounded like a 5xx
                return "server", f"Telegram did not answer within {settings.timeout:g} s"
            return "network", f"Telegram could not be reached: {exc.message}"
        except TelegramServerError as exc:
            return "server", f"Telegram failed: {exc.message}"
        except TelegramAPIError as exc:  # an answer aiogram has no class for
            if "too many requests" in exc.message.lower() and channel.waited + 1 <= settings.max_wait:
                channel.waited += 1  # a 429 whose retry_after is 0 or missing: a second, as for -1
                await asyncio.sleep(1)
                continue
            return "server", f"Telegram answered: {exc.message}"
        except AiogramError as exc:  # not the API's JSON: a proxy's error page, an empty or cut body
            return "server", f"Telegram's answer could not be read: {str(exc).splitlines()[0][:200]}"
        if sent is None or not isinstance(getattr(sent, "message_id", None), int):
            return "server", "Telegram answered without the message it posted"
        return sent.message_id


def _refusal(exc: TelegramAPIError, chat: str) -> str:
    return (
        f"Telegram refused to post to {chat} ({exc.message}): check the channel name and that the bot is an "
        "administrator of the channel allowed to post messages"
    )
