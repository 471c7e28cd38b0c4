"""Editions and exactly-once delivery, with any number of senders on one database.

An edition collects the updates published since the previous one. Subscribers with the same
language and preferences form a segment, and each segment's digest is rendered once; only the
per-subscriber links are filled in per message. A delivery row per edition × subscriber is the
ledger. Before its SMTP transaction a sender claims the row (a conditional UPDATE from `pending` or
`retry` to `sending`, committed before anything is sent; rows are claimed a batch at a time), so two
senders never both send it; the outcome is committed right after the server's answer, and the next
message's end of data waits for that commit. A crash or kill at any point loses nothing and sends
nothing twice, except in two windows no ledger can close. First, the server said 250 and the process
died before that commit: the row is still `sending` under a holder that is gone; it is taken over (at
once when the holder was a process on this machine, after `directory.store.CLAIM_LEASE` otherwise)
and sent again. Second, the whole message went out and the server's reply to its end of data never
came (the connection broke, or the reply was slower than the SMTP timeout): the server may have taken
it (RFC 1047; the `Result` says `maybe_delivered`), so the row is recorded `retry` and a later run
sends it again. Both times we choose a rare duplicate over a missed warning that a program closed,
and the message goes with the same Message-ID so the receiving side can drop it.

A reader refused for now (4xx) is tried again in later runs, up to `retry_attempts` attempts and
`retry_days` after the edition was made, then recorded `failed`; so every edition reaches a final
state, and an edition still retrying a few readers never keeps the next one from being made and sent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from sqlalchemy import Connection, Table, bindparam, case, exists, func, insert, or_, select, tuple_, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from directory.errors import DomainError
from directory.models import utcnow
from directory.store import (
    CLAIM_LEASE,
    Busy,
    claimable,
    connection_lost,
    holder,
    ledger_connection,
    ledger_mode,
    lost_as_busy,
)
from newsletter import subscribers as subs
from newsletter.delivery import (
    DeliveryError,
    Mail,
    MessageTemplate,
    Outcome,
    Reader,
    Result,
    Sender,
    Withdrawn,
    build_message,
)
from newsletter.digest import LINK_PLACEHOLDERS, DigestContent, link_values, personalize, render_digest
from newsletter.models import Delivery, Edition, Subscriber
from newsletter.tokens import Tokens
from publishing.updates import Update, collect

log = logging.getLogger(__name__)


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
    templates: dict[str, MessageTemplate | None] = field(default_factory=dict)

    def template(self, language: str, preferences: subs.Preferences) -> MessageTemplate | None:
        """The segment's message, serialized once (`MessageTemplate`); None when it has no news."""
        key = preferences.segment_key(language)
        if key not in self.templates:
            content = self.content(language, preferences)
            self.templates[key] = (
                None
                if content is None
                else MessageTemplate(
                    sender=self.settings.sender,
                    subject=content.subject,
                    text=content.text,
                    html=content.html,
                    list_id=self.settings.list_id,
                    links=LINK_PLACEHOLDERS,
                    one_click=urlsplit(self.settings.site_url).scheme == "https",
                    mailto=bool(self.settings.unsubscribe_mailto),
                )
            )
        return self.templates[key]

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


def message_id(settings: NewsletterSettings, edition: Edition | int, subscriber_key: str) -> str:
    """Stable per edition (or its number) and subscriber, so a resent message can be recognised and dropped."""
    number = edition if isinstance(edition, int) else edition.number
    return f"<nansen.{number}.{subscriber_key[:20]}@{settings.message_domain}>"


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


def prepared_message(
    settings: NewsletterSettings, number: int, key: str, address: str, template: MessageTemplate
) -> Mail:
    """The same message as `message_for` (edition `number`, the subscriber's `key` and `address`), spliced
    into the segment's `template` instead of built: what `send` hands the sender."""
    unsubscribe, preferences, mailto = links(settings, key)
    text_links, html_links = link_values(unsubscribe_url=unsubscribe, preferences_url=preferences)
    reader = Reader(address, message_id(settings, number, key), utcnow(), unsubscribe, mailto, text_links, html_links)
    return template.render(reader)


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


CHUNK = 500  # rows read at a time, so that memory does not grow with the number of subscribers
TEMPORARY_LIMIT = 3  # temporary failures in a row (no answer, or 4xx) that end the run: it resumes later
BOUNCE_LIMIT = 10  # permanent refusals in a row that cannot all be the readers': undone, and the run ends
OPEN = ("pending", "retry")


def prepare_deliveries(session: Session, settings: NewsletterSettings, edition: Edition) -> int:
    """Ledger rows for every active subscriber whose segment has news (once per edition: an approved
    edition becomes `sending`). Subscribers are read and rows written `CHUNK` at a time."""
    if edition.status != "approved":
        return 0
    updates = edition_updates(session, edition)
    wanted: dict[str, bool] = {}
    now = utcnow()
    added = 0
    for chunk in _active_subscribers(session):
        rows = []
        for subscriber in chunk:
            preferences = _preferences(subscriber)
            key = preferences.segment_key(subscriber.language)
            if key not in wanted:
                wanted[key] = any(matches(u, preferences) for u in updates)
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
            session.execute(insert(_DELIVERIES), rows)
        added += len(rows)
    edition.status = "sending"
    session.flush()
    return added


def _preferences(row: Any) -> subs.Preferences:
    """`subscribers.preferences_of` for a row read with Core (countries, kinds, topics)."""
    return subs.Preferences(tuple(row.countries), tuple(row.kinds), tuple(row.topics))


def _active_subscribers(session: Session) -> Iterator[Sequence[Any]]:
    """Active subscribers as (id, key, language, countries, kinds, topics) rows, `CHUNK` at a time by id."""
    query = (
        select(
            Subscriber.id,
            Subscriber.key,
            Subscriber.language,
            Subscriber.countries,
            Subscriber.kinds,
            Subscriber.topics,
        )
        .where(Subscriber.status == "active")
        .order_by(Subscriber.id)
        .limit(CHUNK)
    )
    last = 0
    while chunk := session.execute(query.where(Subscriber.id > last)).all():
        yield chunk
        last = chunk[-1].id


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


_DELIVERIES = cast(Table, Delivery.__table__)
_SUBSCRIBERS = cast(Table, Subscriber.__table__)


@dataclass
class _Todo:
    """The rows a run tries, read once at its start, in order: 9 bytes a row, whatever the list's size."""

    ids: array[int] = field(default_factory=lambda: array("q"))
    statuses: array[int] = field(default_factory=lambda: array("b"))  # index into _STATUSES, as read
    holders: dict[int, str | None] = field(default_factory=dict)  # rows read `sending`: their holder


_STATUSES = (*OPEN, "sending")
_Row = tuple[int, str, str | None, Any]  # a row of `_rows`: id, status and holder as read, its reader
_RENEW_AFTER = 0.25  # of CLAIM_LEASE: claims of a batch still waiting are renewed once this old
_T = TypeVar("_T")
LEDGER_ATTEMPTS = 3  # a ledger write tried again after a lost connection or a database busy past its timeout


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
        todo = _todo(session, edition_id)
        engine = session.get_bind().engine
    try:
        with ledger_connection(engine) as connection:
            ledger = _Ledger(connection, me)
            _deliver_rows(open_session, ledger, settings, sender, cache, todo, report, on_progress)
    finally:
        report.segments += len(cache.rendered)
    with open_session() as session:
        _close_finished(session)


def _todo(session: Session, edition_id: int) -> _Todo:
    """The edition's rows this process may claim (`directory.store.claimable`), new readers first."""
    todo = _Todo()
    rows = session.execute(
        select(Delivery.id, Delivery.status, Delivery.claimed_by, Delivery.claimed_at)
        .where(Delivery.edition_id == edition_id, Delivery.status.in_(_STATUSES))
        .order_by(Delivery.status != "pending", Delivery.id)  # new readers first, retries after
        .execution_options(yield_per=5000)
    )
    for row in rows:
        if claimable(row.status in OPEN, row.claimed_by, row.claimed_at):
            todo.ids.append(row.id)
            todo.statuses.append(_STATUSES.index(row.status))
            if row.status == "sending":
                todo.holders[row.id] = row.claimed_by
    return todo


def _rows(open_session: Callable[[], AbstractContextManager[Session]], todo: _Todo) -> Iterator[_Row]:
    """(id, status as read, holder as read, its reader or None) for each row of `todo`; readers are read
    `CHUNK` rows at a time (address, key, language, preferences)."""
    for start in range(0, len(todo.ids), CHUNK):
        ids = todo.ids[start : start + CHUNK]
        with open_session() as session:
            readers = {
                row.id: row
                for row in session.execute(
                    select(
                        _DELIVERIES.c.id,
                        _DELIVERIES.c.subscriber_id,
                        _SUBSCRIBERS.c.email,
                        _SUBSCRIBERS.c.key,
                        _SUBSCRIBERS.c.language,
                        _SUBSCRIBERS.c.countries,
                        _SUBSCRIBERS.c.kinds,
                        _SUBSCRIBERS.c.topics,
                    )
                    .join(_SUBSCRIBERS, _SUBSCRIBERS.c.id == _DELIVERIES.c.subscriber_id)
                    .where(_DELIVERIES.c.id.in_(list(ids)))
                )
            }
        for offset, delivery_id in enumerate(ids):
            status = _STATUSES[todo.statuses[start + offset]]
            yield delivery_id, status, todo.holders.get(delivery_id), readers.get(delivery_id)


def _deliver_rows(
    open_session: Callable[[], AbstractContextManager[Session]],
    ledger: _Ledger,
    settings: NewsletterSettings,
    sender: Sender,
    cache: SegmentCache,
    todo: _Todo,
    report: SendReport,
    on_progress: Callable[[int, int], None] | None,
) -> None:
    """Claim rows a batch at a time and send each in turn; return early (with `report.status`) when the
    run must stop.

    The SMTP transactions run in a thread of their own, so the database and the server work at once:
    while the server takes one message, the next is spliced and handed over, and transmitted while the
    outcome of the one before is recorded; only its end of data waits for that commit (`_Gate`). So at
    any moment at most one delivered message is unrecorded, as when everything ran in turn. Rows are
    claimed in batches (`_Pace`), so a message costs one commit, its outcome's; rows claimed and not
    sent are given back when the run stops, and taken over like any other when the process dies."""
    streaks = _Streaks()
    flights: list[_InFlight] = []  # messages handed to the SMTP thread, not yet recorded, oldest first
    held: set[int] = set()  # rows claimed whose message has not gone to the SMTP thread yet
    done = 0
    with ThreadPoolExecutor(1, thread_name_prefix="nansen-smtp") as smtp:
        try:
            for batch in _Pace().batches(_rows(open_session, todo)):
                claimed = ledger.claim(batch)
                held, since = set(claimed), time.monotonic()
                left = ledger.skip_if_left([row for row in batch if row[0] not in claimed])
                for delivery_id, _status, _holder, reader in batch:
                    done += 1
                    attempts = claimed.get(delivery_id)
                    if attempts is not None and time.monotonic() - since > _RENEW_AFTER * CLAIM_LEASE.total_seconds():
                        held, since = ledger.renew(held), time.monotonic()  # a slow server: keep the claims young
                        if delivery_id not in held:
                            continue  # taken over meanwhile by a sender that found the claim past its lease
                    if attempts is None and delivery_id not in left:
                        continue  # another sender has it, or it is done
                    report.skipped += attempts is None
                    message = None
                    if attempts is not None and reader is not None:
                        message = _message(ledger, settings, cache, delivery_id, reader, report)
                    if message is not None:
                        assert attempts is not None
                        before = flights[-1] if flights else None
                        gate = _Gate() if before else None  # the first message has nothing to wait for
                        future = smtp.submit(_transmit, sender, message, before, gate)
                        flights.append(_InFlight(delivery_id, attempts, reader, future, gate))
                    held.discard(delivery_id)
                    if len(flights) > (message is not None):  # the message before this row is out: land it
                        stop = _land(open_session, ledger, settings, flights.pop(0), streaks, report)
                        if stop is not None:
                            report.status = stop
                            return
                        if flights and flights[0].gate is not None:
                            flights[0].gate.open()
                    if message is None:
                        streaks.note(delivery_id, None)
                    if on_progress:
                        on_progress(done, len(todo.ids))
            if flights and (stop := _land(open_session, ledger, settings, flights.pop(), streaks, report)):
                report.status = stop
        finally:
            for flight in flights:  # the run stops: a message not yet ended is withdrawn
                if flight.gate is not None:
                    flight.gate.withdraw()
            if held:  # rows claimed and not sent go back as they were
                ledger.release(held)
            for flight in flights:  # what the server said is kept; a row nothing was delivered for goes back
                try:
                    result = flight.result.result()
                except Exception:  # refused before DATA, withdrawn, or not a message to send
                    ledger.release({flight.delivery_id})
                else:
                    _record(ledger, settings, flight, result, report)


@dataclass(frozen=True)
class _InFlight:
    """A claimed row whose message the SMTP thread is sending."""

    delivery_id: int
    attempts: int  # before this one
    reader: Any  # a row of `_rows`
    result: Future[Result]
    gate: _Gate | None  # the message's end of data waits for it: the outcome of the message before


def _transmit(sender: Sender, message: Mail, before: _InFlight | None, gate: _Gate | None) -> Result:
    """Send `message` (in the SMTP thread, after the message `before` it). When that one was not plainly
    sent, the run may be about to stop on it, so nothing of this one goes out before the run decides."""
    if before is not None and gate is not None:
        ended = before.result  # done: the thread sends in order
        plainly_sent = ended.exception() is None and ended.result().outcome is Outcome.SENT
        if not plainly_sent and not gate():
            raise Withdrawn("withdrawn before it began")
    return sender.send(message, ready=gate)


class _Gate:
    """The `ready` of a message sent while the one before it is recorded (see `Sender`): opened once
    that outcome is committed, withdrawn when the run stops first."""

    def __init__(self) -> None:
        self._decided = threading.Event()
        self._go = False

    def __call__(self) -> bool:
        self._decided.wait()
        return self._go

    def open(self) -> None:
        self._go = True
        self._decided.set()

    def withdraw(self) -> None:
        self._decided.set()


class _Pace:
    """Batches of rows to claim at once: as many as the run sends in about `SECONDS` (1 to `MOST`),
    judged by the batch before. Claims stay far inside `CLAIM_LEASE` whatever the server's pace, and
    a second sender on the same edition is never kept waiting for long."""

    SECONDS = 1.0
    MOST = 128

    def __init__(self) -> None:
        self.size = 1

    def batches(self, rows: Iterator[_Row]) -> Iterator[list[_Row]]:
        batch: list[_Row] = []
        for row in rows:
            batch.append(row)
            if len(batch) == self.size:
                started = time.monotonic()
                yield batch  # the caller sends it before asking for the next
                per_row = (time.monotonic() - started) / len(batch)
                fits = int(self.SECONDS / per_row) if per_row > 0 else self.MOST
                self.size = max(1, min(self.MOST, 2 * self.size, fits))
                batch = []
        if batch:
            yield batch


@dataclass
class _Streaks:
    """Outcomes in a row that say the server, not the readers, is refusing: a run stops on them."""

    temporary: int = 0
    bounced: list[int] = field(default_factory=list)  # the rows bounced in a row, most recent last

    def note(self, delivery_id: int, attempt: _Attempt | None) -> None:
        """Count the outcome of one row, in row order; None for a row nothing was sent for."""
        outcome = attempt.outcome if attempt is not None else None
        self.bounced = [*self.bounced, delivery_id] if outcome is Outcome.BOUNCED else []
        self.temporary = self.temporary + 1 if outcome is Outcome.RETRY else 0


def _land(
    open_session: Callable[[], AbstractContextManager[Session]],
    ledger: _Ledger,
    settings: NewsletterSettings,
    flight: _InFlight,
    streaks: _Streaks,
    report: SendReport,
) -> str | None:
    """Wait for the message in flight, record its outcome, and say why the run must stop, if it must."""
    try:
        result = flight.result.result()
    except DeliveryError as exc:
        ledger.release({flight.delivery_id})
        return f"stopped: {exc.detail}"
    except BaseException:  # not a message to send (ValueError, before anything was sent), or our error
        ledger.release({flight.delivery_id})
        raise
    attempt = _record(ledger, settings, flight, result, report)
    if attempt.outcome is Outcome.DEFERRED:
        if attempt.code is None:
            return f"stopped: the SMTP server is unreachable ({attempt.detail})"
        return f"stopped: the server asks to wait ({attempt.detail})"
    streaks.note(flight.delivery_id, attempt)
    if len(streaks.bounced) >= BOUNCE_LIMIT:
        # Ten different readers refused for good one after another: a relay refusing everyone with
        # a code that looks personal. Marking them all would wipe the list; undo, and stop.
        _unbounce(open_session, streaks.bounced, report)
        return f"stopped: {BOUNCE_LIMIT} readers in a row were refused for good ({attempt.detail})"
    if streaks.temporary >= TEMPORARY_LIMIT:
        # Several readers in a row refused for now, or the server unreachable: it is the server or
        # the relay, not the readers; stop, and resume in a later run rather than go through everyone.
        return f"stopped: {TEMPORARY_LIMIT} messages in a row were refused for now ({attempt.detail})"
    return None


_ACTIVE_READER = exists().where(_SUBSCRIBERS.c.id == _DELIVERIES.c.subscriber_id, _SUBSCRIBERS.c.status == "active")


def _as_read(rows: Sequence[_Row]) -> Any:
    """The rows are still as this run read them: the same status, and for a row `sending`, the same
    holder."""
    columns = _DELIVERIES.c
    open_rows = [(row_id, status) for row_id, status, _holder, _reader in rows if status != "sending"]
    sending = [(row_id, holder) for row_id, status, holder, _reader in rows if status == "sending"]
    return or_(
        tuple_(columns.id, columns.status).in_(open_rows),
        (columns.status == "sending") & tuple_(columns.id, columns.claimed_by).in_(sending),
    )


class _Ledger:
    """The ledger writes a run makes, on one `directory.store.ledger_connection`: each is one statement,
    committed by the database as it runs (one round trip), but for a bounce, which also marks its reader
    in the same transaction. A row's outcome is one prebuilt UPDATE: building one per message, in a session
    per message, took longer than the SMTP transaction itself.

    Every write is idempotent and is tried `LEDGER_ATTEMPTS` times when the connection was lost (the
    database restarted, or ended the session) or the database stayed busy past its timeout: the outcome
    of a message the server took must be recorded, or the message would go again."""

    def __init__(self, connection: Connection, me: str) -> None:
        self._connection, self._me = connection, me
        self._atomic = connection.default_isolation_level
        self._records: dict[tuple[str, ...], Any] = {}

    def claim(self, rows: Sequence[_Row]) -> dict[int, int]:
        """Take the rows that are as read and whose reader is still active for this process: one
        conditional UPDATE to `sending` (as `directory.store.claim_row`). Returns {row id: attempts so
        far} for the rows taken; a row is missing when another sender was first, it is done, or its
        reader is no longer active."""
        statement = (
            update(_DELIVERIES)
            .where(_as_read(rows), _ACTIVE_READER)
            .values(status="sending", claimed_by=self._me, claimed_at=utcnow())
            .returning(_DELIVERIES.c.id, _DELIVERIES.c.attempts)
        )
        return self._run(lambda connection: {row.id: row.attempts for row in connection.execute(statement)})

    def renew(self, delivery_ids: set[int]) -> set[int]:
        """Make the claims this process still holds on `delivery_ids` new again; the ids still held."""
        statement = update(_DELIVERIES).where(self._held(delivery_ids)).values(claimed_at=utcnow())
        statement = statement.returning(_DELIVERIES.c.id)
        return self._run(lambda connection: set(connection.execute(statement).scalars()))

    def skip_if_left(self, rows: Sequence[_Row]) -> set[int]:
        """Record `skipped` the rows that are as read and whose reader is no longer active; their ids."""
        if not rows:
            return set()
        statement = (
            update(_DELIVERIES)
            .where(_as_read(rows), ~_ACTIVE_READER)
            .values(status="skipped", claimed_by=None, claimed_at=None)
            .returning(_DELIVERIES.c.id)
        )
        return self._run(lambda connection: set(connection.execute(statement).scalars()))

    def record(self, delivery_id: int, values: dict[str, Any], bounced_reader: int | None = None) -> None:
        """Write a claimed row's outcome (`values`: columns to set) and release the claim, in one
        transaction; a bounce also marks its reader."""
        names = tuple(sorted(values))
        statement = self._records.get(names)
        if statement is None:
            new: dict[str, Any] = {name: bindparam(f"new_{name}") for name in names}
            statement = update(_DELIVERIES).where(_DELIVERIES.c.id == bindparam("row"))
            statement = self._records[names] = statement.values(claimed_by=None, claimed_at=None, **new)
        params = {"row": delivery_id} | {f"new_{k}": v for k, v in values.items()}

        def write(connection: Connection) -> None:
            connection.execute(statement, params)
            if bounced_reader is not None:
                with Session(connection) as session:
                    subs.mark_bounced(session, bounced_reader)
                    session.flush()

        self._run(write, atomic=bounced_reader is not None)

    def release(self, delivery_ids: set[int]) -> None:
        """Give rows this process holds back untouched (the run stopped before anything was decided
        about their readers)."""
        untouched = case((_DELIVERIES.c.attempts > 0, "retry"), else_="pending")
        statement = update(_DELIVERIES).where(self._held(delivery_ids))
        statement = statement.values(status=untouched, claimed_by=None, claimed_at=None)
        self._run(lambda connection: connection.execute(statement))

    def _held(self, delivery_ids: set[int]) -> Any:
        """Those of the rows that this process holds (`sending`, claimed by it)."""
        columns = _DELIVERIES.c
        return columns.id.in_(sorted(delivery_ids)) & (columns.status == "sending") & (columns.claimed_by == self._me)

    def _run(self, write: Callable[[Connection], _T], *, atomic: bool = False) -> _T:
        """`write` in its unit, tried again (after 1 s, then 2 s) on a lost connection or `Busy`."""
        for attempt in range(1, LEDGER_ATTEMPTS + 1):
            try:
                with self._unit(atomic=atomic) as connection:
                    return write(connection)
            except DBAPIError as exc:  # Busy is one
                lost = connection_lost(exc)
                if attempt == LEDGER_ATTEMPTS or not (lost or isinstance(exc, Busy)):
                    raise
                log.warning("a ledger write failed (%s); trying again", "connection lost" if lost else "busy")
                time.sleep(attempt)
                if lost:
                    ledger_mode(self._connection)
        raise AssertionError("unreachable")

    @contextmanager
    def _unit(self, *, atomic: bool = False) -> Iterator[Connection]:
        """The connection for one write: a statement on its own, or (`atomic`) several in a transaction."""
        connection = self._connection
        with lost_as_busy():
            if atomic:
                connection.execution_options(isolation_level=self._atomic)
            try:
                yield connection
            except BaseException:
                connection.rollback()
                raise
            else:
                connection.commit()
            finally:
                if atomic and not connection.invalidated:
                    connection.execution_options(isolation_level="AUTOCOMMIT")


def _unbounce(
    open_session: Callable[[], AbstractContextManager[Session]], delivery_ids: Sequence[int], report: SendReport
) -> None:
    """Give back rows and readers bounced by this run: they are sent again in a later one."""
    with open_session() as session:
        for delivery in session.scalars(select(Delivery).where(Delivery.id.in_(delivery_ids))):
            delivery.attempts -= 1  # the relay's refusal is not charged to the reader
            delivery.status = "retry" if delivery.attempts else "pending"
            subs.unmark_bounced(session, delivery.subscriber_id)
    report.bounced -= len(delivery_ids)


@dataclass(frozen=True)
class _Attempt:
    outcome: Outcome
    code: int | None
    detail: str


def _message(
    ledger: _Ledger,
    settings: NewsletterSettings,
    cache: SegmentCache,
    delivery_id: int,
    reader: Any,  # a row of `_rows`
    report: SendReport,
) -> Mail | None:
    """A claimed row's message; None when its segment has no news after all (recorded `skipped`)."""
    template = cache.template(reader.language, _preferences(reader))
    if template is None:
        ledger.record(delivery_id, {"status": "skipped"})
        report.skipped += 1
        return None
    return prepared_message(settings, cache.number, reader.key, reader.email, template)


def _record(
    ledger: _Ledger, settings: NewsletterSettings, flight: _InFlight, result: Result, report: SendReport
) -> _Attempt:
    """Record what the server said about a claimed row's message in one UPDATE, committed on its own."""
    delivery_id, attempts, reader = flight.delivery_id, flight.attempts, flight.reader
    values: dict[str, Any] = {"updated_at": utcnow()}
    unreachable = result.outcome is Outcome.RETRY and result.code is None and not result.maybe_delivered
    if result.outcome is Outcome.DEFERRED or unreachable:
        # The server asks everyone to wait, or could not be reached through the sender's own retries:
        # not the reader's fault, so no attempt is charged, and the run ends.
        ledger.record(delivery_id, values | {"status": "retry" if attempts else "pending"})
        return _Attempt(Outcome.DEFERRED, result.code, result.detail)
    attempts += result.attempts
    values["attempts"] = attempts
    bounced_reader = None
    if result.outcome is Outcome.SENT:
        values["status"] = "sent"
        report.sent += 1
    elif result.outcome is Outcome.BOUNCED:
        values |= {"status": "bounced", "last_error": result.detail[:500]}
        bounced_reader = reader.subscriber_id
        report.bounced += 1
    elif attempts >= settings.retry_attempts:
        values |= {"status": "failed", "last_error": result.detail[:500]}
        report.failed += 1
    else:
        # Includes a connection lost after the whole message went out (`maybe_delivered`): the
        # documented window; a later run sends it again with the same Message-ID.
        values |= {"status": "retry", "last_error": result.detail[:500]}
        report.retry += 1
    ledger.record(delivery_id, values, bounced_reader)
    return _Attempt(result.outcome, result.code, result.detail)
