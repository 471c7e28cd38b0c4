"""Editions and exactly-once delivery.

An edition collects the updates published since the previous one. Subscribers with the same
language and preferences form a segment, and each segment's digest is rendered once; only the
per-subscriber links are filled in per message. A delivery row per edition × subscriber is the
ledger: it is committed right after the SMTP server's answer, one commit per message, so a crash or
kill at any point loses nothing and sends nothing twice — except in the one window no ledger can
close: the server said 250 and the process died before that commit. The row is then still
`pending`, and the resumed run sends it again (we choose a rare duplicate over a missed warning
that a program closed), with the same Message-ID so the receiving side can drop it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from directory.errors import DomainError
from directory.models import utcnow
from newsletter import subscribers as subs
from newsletter.delivery import Outcome, Sender, build_message
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
    """A new edition of the updates since the last one, if there are any and none is pending."""
    if current(session) is not None:
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
    edition: int | None = None
    status: str = "nothing due"
    sent: int = 0
    bounced: int = 0
    retry: int = 0
    skipped: int = 0
    segments: int = 0
    by_status: Counter[str] = field(default_factory=Counter)


def prepare_deliveries(session: Session, settings: NewsletterSettings, edition: Edition) -> int:
    """Ledger rows for every active subscriber whose segment has news (once per edition)."""
    if session.scalar(select(func.count(Delivery.id)).where(Delivery.edition_id == edition.id)):
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
    """Send the edition that is due (creating it if needed); resumable after any crash.

    `open_session` is a unit-of-work factory (`Store.session`): each message's outcome is committed on
    its own, right after the server's answer.
    """
    report = SendReport()
    with open_session() as session:
        edition = current(session) or create_due(session, settings)
        if edition is None:
            return report
        report.edition = edition.number
        if edition.status == "draft":
            report.status = "waiting for approval"
            return report
        prepare_deliveries(session, settings, edition)
        edition_id, number, created = edition.id, edition.number, edition.created_at
        updates = edition_updates(session, edition)
    cache = SegmentCache(updates, settings, number, created.date())
    with open_session() as session:
        todo = list(
            session.execute(
                select(Delivery.id, Delivery.subscriber_id)
                .where(Delivery.edition_id == edition_id, Delivery.status.in_(("pending", "retry")))
                .order_by(Delivery.id)
            )
        )
    total = len(todo)
    unreachable = 0
    with sender:
        for done, (delivery_id, subscriber_id) in enumerate(todo, 1):
            with open_session() as session:
                result = _deliver(session, settings, cache, sender, delivery_id, subscriber_id, report)
            if on_progress:
                on_progress(done, total)
            # Several messages in a row that could not even reach the server: stop, and resume later,
            # rather than spend the retry back-off on every remaining reader.
            unreachable = unreachable + 1 if result is not None and result.code is None and not result.sent else 0
            if unreachable >= UNREACHABLE_LIMIT:
                report.status = "stopped: the SMTP server is unreachable"
                break
    with open_session() as session:
        edition = session.get(Edition, edition_id)
        assert edition is not None
        counts = dict(
            session.execute(
                select(Delivery.status, func.count(Delivery.id))
                .where(Delivery.edition_id == edition_id)
                .group_by(Delivery.status)
            ).all()
        )
        report.by_status = Counter(counts)
        if not counts.get("pending") and not counts.get("retry"):
            edition.status, edition.sent_at = "sent", utcnow()
        if not report.status.startswith("stopped"):
            report.status = edition.status
        report.segments = len(cache.rendered)
    return report


@dataclass(frozen=True)
class _Attempt:
    sent: bool
    code: int | None


def _deliver(
    session: Session,
    settings: NewsletterSettings,
    cache: SegmentCache,
    sender: Sender,
    delivery_id: int,
    subscriber_id: int,
    report: SendReport,
) -> _Attempt | None:
    delivery = session.get(Delivery, delivery_id)
    subscriber = session.get(Subscriber, subscriber_id)
    if delivery is None or delivery.status not in ("pending", "retry"):
        return None
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
    delivery.attempts += result.attempts
    delivery.updated_at = utcnow()
    if result.outcome is Outcome.SENT:
        delivery.status = "sent"
        report.sent += 1
    elif result.outcome is Outcome.BOUNCED:
        delivery.status, delivery.last_error = "bounced", result.detail[:500]
        subs.mark_bounced(session, subscriber.id)
        report.bounced += 1
    else:
        # Includes a connection lost after the whole message went out (`maybe_delivered`): the
        # documented window; the next run sends it again with the same Message-ID.
        delivery.status, delivery.last_error = "retry", result.detail[:500]
        report.retry += 1
    return _Attempt(result.outcome is Outcome.SENT, result.code)
