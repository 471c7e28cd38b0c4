"""Editions and exactly-once delivery, with any number of senders on one database.

An edition collects the updates published since the previous one. Subscribers with the same
language and preferences form a segment, and each segment's digest is rendered once; only the
per-subscriber links are filled in per message. A delivery row per edition × subscriber is the
ledger. Before its SMTP transaction a sender claims the row (one conditional UPDATE from `pending`
or `retry` to `sending`, committed on its own), so two senders never both send it; the outcome is
committed right after the server's answer. A crash or kill at any point loses nothing and sends
nothing twice, except in the one window no ledger can close: the server said 250 and the process
died before that commit. The row is then still `sending` under a holder that is gone; it is taken
over (at once when the holder was a process on this machine, after `directory.store.CLAIM_LEASE` otherwise) and sent
again (we choose a rare duplicate over a missed warning that a program closed), with the same
Message-ID so the receiving side can drop it.

A reader refused for now (4xx) is tried again in later runs, up to `retry_attempts` attempts and
`retry_days` after the edition was made, then recorded `failed`; so every edition reaches a final
state, and an edition still retrying a few readers never keeps the next one from being made and sent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from directory.errors import DomainError
from directory.models import utcnow
from directory.store import claim_row, claimable, holder
from newsletter import subscribers as subs
from newsletter.delivery import DeliveryError, Outcome, Sender, build_message
from newsletter.digest import DigestContent, personalize, render_digest
from newsletter.models import Delivery, Edition, Subscriber
from newsletter.tokens import Tokens
from publishing.updates import Update, collect


@dataclass(frozen=True)
class NewsletterSettings:
    site_url: str
    sender: str  # From:, e.g. "Nansen <newsletter@example.org>"
    tokens: Tokens
    list_id: str = "Nansen newsletter <newsletter.nansen.localhost>"
    message_domain: str = "nansen.localhost"
    unsubscribe_mailto: str | None = None  # e.g. unsubscribe@example.org; the token goes in the subject
    require_approval: bool = False
    retry_attempts: int = 8  # a reader refused for now (4xx) is tried this many times in all, across runs…
    retry_days: float = 3.0  # …and for at most this many days after the edition was made; then `failed`

    def url(self, path: str) -> str:
        return f"{self.site_url.rstrip('/')}/{path.lstrip('/')}"


class NewsletterError(DomainError, RuntimeError):
    pass


UNREACHABLE_LIMIT = 3


# --------------------------------------------------------------------------- which updates a subscriber gets


def matches(update: Update, preferences: subs.Preferences) -> bool:
    entry = update.entry
    if preferences.countries and not set(preferences.countries) & set(entry.host_countries):
        return False
    if preferences.kinds and entry.kind not in preferences.kinds:
        return False
    return not (preferences.topics and not set(preferences.topics) & set(entry.topics))


def edition_updates(session: Session, edition: Edition) -> list[Update]:
    wanted = set(edition.update_ids)
    return [u for u in collect(session, since=edition.since) if u.id in wanted]


# --------------------------------------------------------------------------- editions


def current(session: Session) -> Edition | None:
    """The edition not yet fully sent, if any (a draft, an approved one, or one half-sent)."""
    return session.scalar(select(Edition).where(Edition.status != "sent").order_by(Edition.number))


def create_due(session: Session, settings: NewsletterSettings, *, now: dt.datetime | None = None) -> Edition | None:
    """A new edition of the updates since the last one, if there are any and no draft waits for approval.

    An edition still retrying a few readers does not hold the next one back. Two senders creating the
    same edition at once: one of them gets an IntegrityError (the number is unique) and reads it."""
    if session.scalar(select(Edition.id).where(Edition.status == "draft").limit(1)) is not None:
        return None
    last = session.scalar(select(Edition).order_by(Edition.number.desc()).limit(1))
    since = last.until if last else None
    updates = collect(session, since=since)
    if not updates:
        return None
    now = now or utcnow()
    edition = Edition(
        number=(last.number + 1) if last else 1,
        since=since,
        until=max(u.time for u in updates),
        update_ids=[u.id for u in updates],
        created_at=now,
        status="draft" if settings.require_approval else "approved",
    )
    if not settings.require_approval:
        edition.approved_at, edition.approved_by = now, "automatic"
    session.add(edition)
    session.flush()
    return edition


def approve(session: Session, maintainer: str) -> Edition:
    edition = current(session)
    if edition is None or edition.status != "draft":
        raise NewsletterError("there is no draft edition to approve")
    edition.status, edition.approved_at, edition.approved_by = "approved", utcnow(), maintainer
    session.flush()
    return edition


# --------------------------------------------------------------------------- rendering


@dataclass
class SegmentCache:
    """Each segment rendered once per run, whatever the number of its subscribers."""

    updates: Sequence[Update]
    settings: NewsletterSettings
    number: int
    date: dt.date
    rendered: dict[str, Any] = field(default_factory=dict)

    def content(self, language: str, preferences: subs.Preferences) -> DigestContent | None:

        key = preferences.segment_key(language)
        if key not in self.rendered:
            chosen = [u for u in self.updates if matches(u, preferences)]
            self.rendered[key] = (
                render_digest(chosen, language, site_url=self.settings.site_url, number=self.number, date=self.date)
                if chosen
                else None
            )
        return self.rendered[key]


def segment_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def message_id(settings: NewsletterSettings, edition: Edition, subscriber_key: str) -> str:
    """Stable per edition and subscriber, so a resent message can be recognised and dropped."""
    return f"<nansen.{edition.number}.{subscriber_key[:20]}@{settings.message_domain}>"


def links(settings: NewsletterSettings, key: str) -> tuple[str, str, str | None]:
    """(unsubscribe URL, preferences URL, unsubscribe mailto) for one subscriber."""
    unsubscribe = settings.url(f"unsubscribe?token={settings.tokens.make('unsubscribe', key)}")
    preferences = settings.url(f"preferences?token={settings.tokens.make('preferences', key)}")
    mailto = None
    if settings.unsubscribe_mailto:
        mailto = (
            f"mailto:{settings.unsubscribe_mailto}?subject=unsubscribe%20{settings.tokens.make('unsubscribe', key)}"
        )
    return unsubscribe, preferences, mailto


def message_for(
    settings: NewsletterSettings, edition: Edition, subscriber: Subscriber, content: DigestContent
) -> EmailMessage:

    unsubscribe, preferences, mailto = links(settings, subscriber.key)
    personal = personalize(content, unsubscribe_url=unsubscribe, preferences_url=preferences)
    return build_message(
        sender=settings.sender,
        to=subscriber.email,
        subject=personal.subject,
        text=personal.text,
        html=personal.html,
        message_id=message_id(settings, edition, subscriber.key),
        list_id=settings.list_id,
        unsubscribe_url=unsubscribe,
        unsubscribe_mailto=mailto,
        date=utcnow(),
    )


def due_with_content(session: Session, settings: NewsletterSettings) -> tuple[Edition, SegmentCache] | None:
    """The edition in progress (or a new one if updates wait), with its per-segment renderer."""
    edition = current(session) or create_due(session, settings)
    if edition is None:
        return None
    updates = edition_updates(session, edition)
    return edition, SegmentCache(updates, settings, edition.number, edition.created_at.date())


# --------------------------------------------------------------------------- sending


@dataclass
class SendReport:
    edition: int | None = None  # the newest edition this run worked on
    status: str = "nothing due"
    sent: int = 0
    bounced: int = 0
    retry: int = 0
    failed: int = 0
    skipped: int = 0
    segments: int = 0
    by_status: Counter[str] = field(default_factory=Counter)

    @property
    def stopped(self) -> bool:
        """The run ended early (the server refused the message or us, or asked everyone to wait)."""
        return self.status.startswith("stopped")


TEMPORARY_LIMIT = 3  # temporary failures in a row (no answer, or 4xx) that end the run: it resumes later
BOUNCE_LIMIT = 10  # permanent refusals in a row that cannot all be the readers': undone, and the run ends
OPEN = ("pending", "retry")


def prepare_deliveries(session: Session, settings: NewsletterSettings, edition: Edition) -> int:
    """Ledger rows for every active subscriber whose segment has news (once per edition: an approved
    edition becomes `sending`)."""
    if edition.status != "approved":
        return 0
    updates = edition_updates(session, edition)
    cache = SegmentCache(updates, settings, edition.number, edition.created_at.date())
    wanted = {}
    now = utcnow()
    rows = []
    for subscriber in subs.active(session):
        preferences = subs.preferences_of(subscriber)
        key = preferences.segment_key(subscriber.language)
        if key not in wanted:
            wanted[key] = any(matches(u, preferences) for u in cache.updates)
        if wanted[key]:
            rows.append(
                {
                    "edition_id": edition.id,
                    "subscriber_id": subscriber.id,
                    "segment": segment_id(key),
                    "message_id": message_id(settings, edition, subscriber.key),
                    "status": "pending",
                    "attempts": 0,
                    "updated_at": now,
                }
            )
    if rows:
        session.execute(insert(Delivery), rows)
    edition.status = "sending"
    session.flush()
    return len(rows)


def send(
    open_session: Callable[[], AbstractContextManager[Session]],
    settings: NewsletterSettings,
    sender: Sender,
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> SendReport:
    """Make the edition that is due (if any) and deliver every edition in progress, oldest first.

    Safe to run in several processes at once and to run again after any crash (see the module
    docstring). `open_session` is a unit-of-work factory (`Store.session`). The run stops early, with
    `report.stopped`, when the server refuses the message or us (its words in `report.status`) or
    asks everyone to wait; nothing is recorded against any reader then.
    """
    report = SendReport()
    me = holder()
    _give_up_on_old_rows(open_session, settings)
    in_progress = _editions_in_progress(open_session, settings, report)
    with sender:
        for edition_id in in_progress:
            _send_edition(open_session, settings, sender, edition_id, me, report, on_progress)
            if report.stopped:
                break
    if in_progress:
        with open_session() as session:
            edition = session.get(Edition, in_progress[-1])
            assert edition is not None
            report.edition = edition.number
            report.by_status = Counter(_counts(session, edition.id))
            if not report.stopped:
                report.status = edition.status
    return report


def _editions_in_progress(
    open_session: Callable[[], AbstractContextManager[Session]], settings: NewsletterSettings, report: SendReport
) -> list[int]:
    """Ids of the editions to deliver, oldest first, after making the due one; race-free: when another
    sender makes or prepares the same edition first, this one reads what it made."""
    for attempt in range(1, 6):
        try:
            with open_session() as session:
                create_due(session, settings)
                editions = list(
                    session.scalars(
                        select(Edition)
                        .where(Edition.status.in_(("draft", "approved", "sending")))
                        .order_by(Edition.number)
                    )
                )
                for edition in editions:
                    prepare_deliveries(session, settings, edition)
                if editions and all(e.status == "draft" for e in editions):
                    report.edition, report.status = editions[-1].number, "waiting for approval"
                return [e.id for e in editions if e.status == "sending"]
        except (IntegrityError, OperationalError):  # unique number or ledger row, or SQLite's write lock
            if attempt == 5:
                raise
            time.sleep(0.05 * attempt)
    return []


def _give_up_on_old_rows(
    open_session: Callable[[], AbstractContextManager[Session]], settings: NewsletterSettings
) -> None:
    """Rows still open `retry_days` after their edition was made are recorded `failed`, so it can end."""
    cutoff = utcnow() - dt.timedelta(days=settings.retry_days)
    with open_session() as session:
        old = select(Edition.id).where(Edition.status == "sending", Edition.created_at < cutoff)
        session.execute(
            update(Delivery)
            .where(Delivery.edition_id.in_(old), Delivery.status.in_(OPEN))
            .values(status="failed", last_error=f"given up {settings.retry_days:g} days after the edition")
        )
        _close_finished(session)


def _close_finished(session: Session) -> None:
    """Editions whose every row is final (sent, bounced, failed, skipped) become `sent`."""
    for edition in session.scalars(select(Edition).where(Edition.status == "sending")):
        counts = _counts(session, edition.id)
        if not any(counts.get(status) for status in (*OPEN, "sending")):
            edition.status, edition.sent_at = "sent", utcnow()


def _counts(session: Session, edition_id: int) -> dict[str, int]:
    return {
        status: count
        for status, count in session.execute(
            select(Delivery.status, func.count(Delivery.id))
            .where(Delivery.edition_id == edition_id)
            .group_by(Delivery.status)
        )
    }


def _send_edition(
    open_session: Callable[[], AbstractContextManager[Session]],
    settings: NewsletterSettings,
    sender: Sender,
    edition_id: int,
    me: str,
    report: SendReport,
    on_progress: Callable[[int, int], None] | None,
) -> None:
    with open_session() as session:
        edition = session.get(Edition, edition_id)
        assert edition is not None
        cache = SegmentCache(edition_updates(session, edition), settings, edition.number, edition.created_at.date())
        rows = session.execute(
            select(Delivery.id, Delivery.status, Delivery.claimed_by, Delivery.claimed_at)
            .where(Delivery.edition_id == edition_id, Delivery.status.in_((*OPEN, "sending")))
            .order_by(Delivery.status != "pending", Delivery.id)  # new readers first, retries after
        ).all()
    todo = [
        (row.id, row.status, row.claimed_by)
        for row in rows
        if claimable(row.status in OPEN, row.claimed_by, row.claimed_at)
    ]
    try:
        _deliver_rows(open_session, settings, sender, cache, todo, me, report, on_progress)
    finally:
        report.segments += len(cache.rendered)
    with open_session() as session:
        _close_finished(session)


def _deliver_rows(
    open_session: Callable[[], AbstractContextManager[Session]],
    settings: NewsletterSettings,
    sender: Sender,
    cache: SegmentCache,
    todo: Sequence[tuple[int, str, str | None]],
    me: str,
    report: SendReport,
    on_progress: Callable[[int, int], None] | None,
) -> None:
    """Claim and send each row in turn; return early (with `report.status`) when the run must stop."""
    temporary = 0
    bounced: list[int] = []  # the rows bounced in a row, most recent last
    for done, (delivery_id, status, claimed_by) in enumerate(todo, 1):
        if not _claim(open_session, delivery_id, status, claimed_by, me):
            continue  # another sender has it, or it is done
        try:
            with open_session() as session:
                outcome = _deliver(session, settings, cache, sender, delivery_id, me, report)
        except DeliveryError as exc:
            _release(open_session, delivery_id, me)
            report.status = f"stopped: {exc.detail}"
            return
        if on_progress:
            on_progress(done, len(todo))
        if outcome is not None and outcome.outcome is Outcome.DEFERRED:
            _release(open_session, delivery_id, me)
            report.status = (
                f"stopped: the SMTP server is unreachable ({outcome.detail})"
                if outcome.code is None
                else f"stopped: the server asks to wait ({outcome.detail})"
            )
            return
        bounced = [*bounced, delivery_id] if outcome is not None and outcome.outcome is Outcome.BOUNCED else []
        if len(bounced) >= BOUNCE_LIMIT and outcome is not None:
            # Ten different readers refused for good one after another: a relay refusing everyone with
            # a code that looks personal. Marking them all would wipe the list; undo, and stop.
            _unbounce(open_session, bounced, report)
            report.status = f"stopped: {BOUNCE_LIMIT} readers in a row were refused for good ({outcome.detail})"
            return
        temporary = temporary + 1 if outcome is not None and outcome.outcome is Outcome.RETRY else 0
        if outcome is not None and temporary >= TEMPORARY_LIMIT:
            # Several readers in a row refused for now, or the server unreachable: it is the server or
            # the relay, not the readers; stop, and resume in a later run rather than go through everyone.
            report.status = f"stopped: {TEMPORARY_LIMIT} messages in a row were refused for now ({outcome.detail})"
            return


def _claim(
    open_session: Callable[[], AbstractContextManager[Session]],
    delivery_id: int,
    status: str,
    claimed_by: str | None,
    me: str,
) -> bool:
    """Take the row for this process (`directory.store.claim_row`); False when another sender was first."""
    with open_session() as session:
        return claim_row(session, Delivery, delivery_id, status, claimed_by, me)


def _unbounce(
    open_session: Callable[[], AbstractContextManager[Session]], delivery_ids: Sequence[int], report: SendReport
) -> None:
    """Give back rows and readers bounced by this run: they are sent again in a later one."""
    with open_session() as session:
        for delivery in session.scalars(select(Delivery).where(Delivery.id.in_(delivery_ids))):
            delivery.status = "retry" if delivery.attempts > 1 else "pending"
            subs.unmark_bounced(session, delivery.subscriber_id)
    report.bounced -= len(delivery_ids)


def _release(open_session: Callable[[], AbstractContextManager[Session]], delivery_id: int, me: str) -> None:
    """Give a claimed row back untouched (the run stopped before anything was decided about its reader)."""
    with open_session() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is not None and delivery.status == "sending" and delivery.claimed_by == me:
            delivery.status = "retry" if delivery.attempts else "pending"
            delivery.claimed_by = delivery.claimed_at = None


@dataclass(frozen=True)
class _Attempt:
    outcome: Outcome
    code: int | None
    detail: str


def _deliver(
    session: Session,
    settings: NewsletterSettings,
    cache: SegmentCache,
    sender: Sender,
    delivery_id: int,
    me: str,
    report: SendReport,
) -> _Attempt | None:
    """Send one claimed row's message and record what the server said; None when nothing was sent."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None or delivery.status != "sending" or delivery.claimed_by != me:
        return None
    delivery.claimed_by = delivery.claimed_at = None
    subscriber = session.get(Subscriber, delivery.subscriber_id)
    if subscriber is None or subscriber.status != "active":
        delivery.status = "skipped"
        report.skipped += 1
        return None
    edition = session.get(Edition, delivery.edition_id)
    content = cache.content(subscriber.language, subs.preferences_of(subscriber))
    if content is None or edition is None:
        delivery.status = "skipped"
        report.skipped += 1
        return None
    result = sender.send(message_for(settings, edition, subscriber, content))
    delivery.updated_at = utcnow()
    unreachable = result.outcome is Outcome.RETRY and result.code is None and not result.maybe_delivered
    if result.outcome is Outcome.DEFERRED or unreachable:
        # The server asks everyone to wait, or could not be reached through the sender's own retries:
        # not the reader's fault, so no attempt is charged, and the run ends.
        delivery.status = "retry" if delivery.attempts else "pending"
        return _Attempt(Outcome.DEFERRED, result.code, result.detail)
    delivery.attempts += result.attempts
    if result.outcome is Outcome.SENT:
        delivery.status = "sent"
        report.sent += 1
    elif result.outcome is Outcome.BOUNCED:
        delivery.status, delivery.last_error = "bounced", result.detail[:500]
        subs.mark_bounced(session, subscriber.id)
        report.bounced += 1
    elif delivery.attempts >= settings.retry_attempts:
        delivery.status, delivery.last_error = "failed", result.detail[:500]
        report.failed += 1
    else:
        # Includes a connection lost after the whole message went out (`maybe_delivered`): the
        # documented window; a later run sends it again with the same Message-ID.
        delivery.status, delivery.last_error = "retry", result.detail[:500]
        report.retry += 1
    return _Attempt(result.outcome, result.code, result.detail)
