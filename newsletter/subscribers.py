"""Subscribers: double opt-in, preferences, unsubscribing, forgetting.

Nobody is subscribed without confirming: a new address is `pending` until its confirmation link is
opened (or a maintainer records consent given elsewhere). Answers to the public never reveal whether
an address is subscribed; that is the endpoints' job, and these functions make it easy by returning
the same shape whatever the state.

An address that unsubscribed or bounced keeps that status until the person confirms a new request
(made through the form) or a maintainer overrides it explicitly (`resubscribe`, with a note saying
where the person asked to come back). Adding, importing or asking for a confirmation from the command
line never undoes someone's "no" by itself: such addresses are reported as skipped (`OptedOut`).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from directory import fields as F
from directory.errors import DomainError
from directory.models import utcnow
from directory.spreadsheet import MalformedCsv, csv_text, restored, spreadsheet_rows
from directory.taxonomy import KINDS, TOPIC_BY_SLUG
from newsletter.models import Count, Delivery, Subscriber, SubscriberStatus

LANGUAGES = ("ru", "en")
CONFIRMATION_INTERVAL = dt.timedelta(hours=1)


class SubscriberError(DomainError, ValueError):
    pass


class OptedOut(SubscriberError):
    """Adding this address would undo the person's own choice (see `opted_out`); its message is the
    line a maintainer reads, e.g. `x@example.org unsubscribed on 2026-10-01: skipped`."""


@dataclass(frozen=True)
class Preferences:
    """What a subscriber wants; empty means everything."""

    countries: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()

    def segment_key(self, language: str) -> str:
        return "|".join(
            [language, ",".join(sorted(self.countries)), ",".join(sorted(self.kinds)), ",".join(sorted(self.topics))]
        )


def normalize_email(value: str) -> str:

    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise SubscriberError(f"{value!r} is not an email address: {exc}") from exc


def _consent_note(note: str, what: str) -> str:
    """The maintainer's note of where a consent was recorded, as the history keeps text
    (`directory.fields.note_text`); SubscriberError when it is empty or not plain text."""
    try:
        checked = F.note_text(note, F.TEXT_LIMIT)
    except ValueError as exc:
        raise SubscriberError(f"the consent note: {exc}") from None
    if not checked:
        raise SubscriberError(f"a consent note is needed: {what}")
    return checked


def check_preferences(
    language: str, countries: Iterable[str] = (), kinds: Iterable[str] = (), topics: Iterable[str] = ()
) -> tuple[str, Preferences]:
    """Validated language and preferences, or SubscriberError naming the bad value."""
    if language not in LANGUAGES:
        raise SubscriberError(f"{language!r} is not a newsletter language (ru or en)")
    try:
        codes = F.FIELD_BY_KEY["host_countries"].normalize(list(countries))
    except ValueError as exc:
        raise SubscriberError(f"country: {exc}") from exc
    bad_kinds = [k for k in kinds if k not in KINDS]
    if bad_kinds:
        raise SubscriberError(f"kind: {bad_kinds[0]!r} is not one of {', '.join(KINDS)}")
    bad_topics = [t for t in topics if t not in TOPIC_BY_SLUG]
    if bad_topics:
        raise SubscriberError(f"topic: {bad_topics[0]!r} is not a topic of the taxonomy")
    return language, Preferences(tuple(codes), tuple(dict.fromkeys(kinds)), tuple(dict.fromkeys(topics)))


def find(session: Session, email: str) -> Subscriber | None:
    return session.scalar(select(Subscriber).where(Subscriber.email == email))


def by_key(session: Session, key: str) -> Subscriber | None:
    return session.scalar(select(Subscriber).where(Subscriber.key == key))


@dataclass(frozen=True)
class Signup:
    """What a subscribe request led to; `send_confirmation` is False when we must stay silent."""

    subscriber: Subscriber | None
    send_confirmation: bool


def request_subscription(
    session: Session, email: str, language: str, preferences: Preferences, *, now: dt.datetime | None = None
) -> Signup:
    """Someone asked to subscribe: record them as pending and say whether to mail a confirmation.

    An active subscriber gets no mail and no change (nothing reveals they are subscribed); an address
    is mailed at most once per hour, so the form cannot be used to flood someone's inbox. An address
    that unsubscribed or bounced is mailed a confirmation too, but keeps its status until the link is
    confirmed: anyone can type an address into the form, so the request alone is not the person's
    word, and an import must still see that they left.
    """
    now = now or utcnow()
    address = normalize_email(email)
    subscriber = find(session, address)
    if subscriber is None:
        subscriber = _new_subscriber(address, language, preferences, now)
        session.add(subscriber)
    elif subscriber.status == SubscriberStatus.ACTIVE:
        return Signup(subscriber, False)
    else:
        _set_choices(subscriber, language, preferences)
    recently = subscriber.confirmation_sent_at and now - subscriber.confirmation_sent_at < CONFIRMATION_INTERVAL
    if recently:
        session.flush()
        return Signup(subscriber, False)
    subscriber.confirmation_sent_at = now
    session.flush()
    return Signup(subscriber, True)


def confirm(session: Session, key: str, *, method: str = "double opt-in") -> Subscriber | None:
    """The person confirmed: active, with the consent recorded. Someone who unsubscribed or bounced
    comes back only by confirming a request made after they left (leaving clears
    `confirmation_sent_at`), so a link from before cannot undo their leaving."""
    subscriber = by_key(session, key)
    if subscriber is None:
        return None
    if subscriber.status != SubscriberStatus.ACTIVE:
        if opted_out(subscriber) and subscriber.confirmation_sent_at is None:
            return None
        _activate(subscriber, method, utcnow())
        session.flush()
    return subscriber


def opted_out(subscriber: Subscriber | None) -> str | None:
    """How the person said no, as a maintainer reads it ("unsubscribed on 2026-10-01", "bounced"),
    or None if they have not."""
    if subscriber is None:
        return None
    if subscriber.status == SubscriberStatus.UNSUBSCRIBED:
        since = subscriber.unsubscribed_at
        return f"unsubscribed on {since.date().isoformat()}" if since else "unsubscribed"
    if subscriber.status == SubscriberStatus.BOUNCED:
        return "bounced"
    return None


def add_confirmed(
    session: Session,
    email: str,
    language: str,
    preferences: Preferences,
    *,
    note: str,
    resubscribe: bool = False,
    now: dt.datetime | None = None,
) -> Subscriber:
    """A maintainer adds someone whose consent was recorded elsewhere (the note says where).

    An address that unsubscribed or bounced raises `OptedOut`, unless `resubscribe`: the maintainer
    says the person asked to come back, and the consent record then names the note, the time and
    what it overrides. An active address is a SubscriberError.
    """
    note = _consent_note(note, "say where the consent was recorded")
    address = normalize_email(email)
    subscriber = find(session, address)
    if subscriber is not None and subscriber.status == SubscriberStatus.ACTIVE:
        raise SubscriberError(f"{address} is subscribed already")
    left = opted_out(subscriber)
    if left and not resubscribe:
        raise OptedOut(f"{address} {left}: skipped")
    return _record_consent(session, subscriber, address, language, preferences, note=note, overrides=left, now=now)


def request_by_maintainer(
    session: Session,
    email: str,
    language: str,
    preferences: Preferences,
    *,
    resubscribe: bool = False,
    now: dt.datetime | None = None,
) -> Signup:
    """`request_subscription` on a maintainer's behalf (`subscribers add` without --confirmed).

    Unlike a request through the form, which only the person can follow up, this raises `OptedOut`
    for an address that unsubscribed or bounced unless `resubscribe` (they asked to come back): a
    maintainer's list must not mail people who left.
    """
    address = normalize_email(email)
    left = opted_out(find(session, address))
    if left and not resubscribe:
        raise OptedOut(f"{address} {left}: skipped")
    return request_subscription(session, address, language, preferences, now=now)


def _record_consent(
    session: Session,
    subscriber: Subscriber | None,
    address: str,
    language: str,
    preferences: Preferences,
    *,
    note: str,
    overrides: str | None,
    now: dt.datetime | None,
) -> Subscriber:
    """`subscriber` (or a new one for `address`) active on a maintainer's word; `overrides` is the
    "no" it undoes, kept in the consent record."""
    now = now or utcnow()
    if subscriber is None:
        subscriber = _new_subscriber(address, language, preferences, now)
        session.add(subscriber)
    else:
        _set_choices(subscriber, language, preferences)
    verb = "re-subscribed" if overrides else "added"
    _activate(subscriber, f"{verb} by a maintainer: {note}", now, overrides=overrides)
    subscriber.confirmation_sent_at = None
    session.flush()
    return subscriber


def _new_subscriber(address: str, language: str, preferences: Preferences, now: dt.datetime) -> Subscriber:
    subscriber = Subscriber(
        email=address, key=secrets.token_hex(16), status=SubscriberStatus.PENDING.value, created_at=now
    )
    _set_choices(subscriber, language, preferences)
    return subscriber


def _set_choices(subscriber: Subscriber, language: str, preferences: Preferences) -> None:
    subscriber.language = language
    subscriber.countries, subscriber.kinds = list(preferences.countries), list(preferences.kinds)
    subscriber.topics = list(preferences.topics)


def _activate(subscriber: Subscriber, method: str, now: dt.datetime, *, overrides: str | None = None) -> None:
    subscriber.status, subscriber.confirmed_at, subscriber.unsubscribed_at = SubscriberStatus.ACTIVE.value, now, None
    subscriber.consent = {"method": method, "at": now.isoformat(), **({"overrides": overrides} if overrides else {})}


def unsubscribe(session: Session, key: str) -> bool:
    subscriber = by_key(session, key)
    if subscriber is None or subscriber.status == SubscriberStatus.UNSUBSCRIBED:
        return False
    subscriber.status, subscriber.unsubscribed_at = SubscriberStatus.UNSUBSCRIBED.value, utcnow()
    subscriber.confirmation_sent_at = None  # older confirmation links must not bring them back
    _count(session, "unsubscribed")
    session.flush()
    return True


def set_preferences(session: Session, key: str, language: str, preferences: Preferences) -> Subscriber | None:
    subscriber = by_key(session, key)
    if subscriber is None:
        return None
    _set_choices(subscriber, language, preferences)
    session.flush()
    return subscriber


def forget(session: Session, *, email: str | None = None, key: str | None = None) -> bool:
    """Delete the person and every row that names them; only anonymous counts remain."""
    subscriber = find(session, normalize_email(email)) if email else by_key(session, key or "")
    if subscriber is None:
        return False
    delivered = (
        session.scalar(
            select(func.count(Delivery.id)).where(Delivery.subscriber_id == subscriber.id, Delivery.status == "sent")
        )
        or 0
    )
    session.execute(delete(Delivery).where(Delivery.subscriber_id == subscriber.id))
    session.delete(subscriber)
    _count(session, "forgotten")
    _count(session, "messages_to_forgotten", delivered)
    session.flush()
    return True


def mark_bounced(session: Session, subscriber_id: int) -> None:
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is not None and subscriber.status == SubscriberStatus.ACTIVE:
        subscriber.status = SubscriberStatus.BOUNCED.value
        subscriber.confirmation_sent_at = None  # older confirmation links must not bring the address back
        _count(session, "bounced")


def unmark_bounced(session: Session, subscriber_id: int) -> None:
    """Undo `mark_bounced` for a refusal found to be the relay's, not the reader's (see editions)."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is not None and subscriber.status == SubscriberStatus.BOUNCED:
        subscriber.status = SubscriberStatus.ACTIVE.value
        _count(session, "bounced", -1)


def _count(session: Session, name: str, by: int = 1) -> None:
    counter = session.get(Count, name)
    if counter is None:
        session.add(Count(name=name, value=by))
    else:
        counter.value += by


def active(session: Session) -> list[Subscriber]:
    return list(session.scalars(select(Subscriber).where(Subscriber.status == "active").order_by(Subscriber.id)))


def listing(session: Session, status: str | None = None) -> list[Subscriber]:
    query = select(Subscriber).order_by(Subscriber.id)
    if status:
        query = query.where(Subscriber.status == status)
    return list(session.scalars(query))


def stats(session: Session) -> dict[str, Any]:
    people = listing(session)
    counts = {c.name: c.value for c in session.scalars(select(Count))}
    return {
        "subscribers": len(people),
        "by_status": dict(sorted(Counter(p.status for p in people).items())),
        "active_by_language": dict(sorted(Counter(p.language for p in people if p.status == "active").items())),
        "segments": len({preferences_of(p).segment_key(p.language) for p in people if p.status == "active"}),
        "forgotten": counts.get("forgotten", 0),
        "unsubscribed_total": counts.get("unsubscribed", 0),
        "bounced_total": counts.get("bounced", 0),
    }


def preferences_of(subscriber: Subscriber) -> Preferences:
    return Preferences(tuple(subscriber.countries), tuple(subscriber.kinds), tuple(subscriber.topics))


# --------------------------------------------------------------------------- CSV import and export

CSV_COLUMNS = ("email", "language", "countries", "kinds", "topics", "status", "consent")


FILE_STATUSES = ("active", "pending", "unsubscribed", "bounced")  # the `status` column of an export


@dataclass
class ImportReport:
    added: int = 0
    unchanged: int = 0  # active already
    skipped: int = 0  # unsubscribed or bounced (in the database or in the file), left alone
    unconfirmed: int = 0  # `pending` in the file: they never confirmed, so they are left alone too
    resubscribed: int = 0  # unsubscribed or bounced, added again on the maintainer's explicit word
    notes: list[str] = field(default_factory=list)  # `file:line: ...` for each skipped or re-subscribed row
    problems: list[str] = field(default_factory=list)  # bad rows; when there are any, nothing is imported

    def summary(self) -> str:
        parts = [
            f"{self.added} added",
            f"{self.unchanged} already active",
            f"{self.skipped} skipped (unsubscribed or bounced)",
        ]
        if self.unconfirmed:
            parts.append(f"{self.unconfirmed} skipped (never confirmed)")
        if self.resubscribed:
            parts.append(f"{self.resubscribed} re-subscribed")
        return ", ".join(parts)


def decode_csv(data: bytes, *, source: str) -> str:
    """A CSV file's text: UTF-8, with or without the byte-order mark Excel writes ("CSV UTF-8")."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SubscriberError(f'{source}:{line}: not UTF-8 text; save the file as "CSV UTF-8"') from None


def import_csv(session: Session, text: str, *, source: str, note: str, resubscribe: bool = False) -> ImportReport:
    """Add confirmed subscribers from CSV (email, language, countries, kinds, topics; lists separated by
    ' | '). Every bad row is reported by its line, and then nothing is imported.

    Addresses that unsubscribed or bounced — in the database, or by the `status` column of an export —
    are skipped and listed in `notes`, unless `resubscribe` (these people asked to come back; `note`
    says where). Rows marked `pending` in the file never confirmed, and are skipped too. The columns
    may be separated by commas or, as Excel writes them in many locales, by semicolons or tabs;
    CRLF, LF or CR line ends, line breaks in quoted cells and a leading byte-order mark are all read
    (`directory.spreadsheet.spreadsheet_rows`, the reader of entry imports too).
    """
    note = _consent_note(note, "say where the consent of these people was recorded")
    report = ImportReport()
    try:
        read = spreadsheet_rows(text.removeprefix("\ufeff"))
    except MalformedCsv as exc:
        report.problems.append(f"{source}:{exc.line}: {exc}")
        return report
    header = [name.strip().lower() for name in (read[0][1] if read else [])]
    missing = {"email", "language"} - set(header)
    if missing:
        report.problems.append(f"{source}:1: missing column(s): {', '.join(sorted(missing))}")
        return report
    rows: list[tuple[str, str, str, Preferences, str]] = []
    first_line: dict[str, int] = {}
    for start, values in read[1:]:  # a quoted value may span lines: a row is where it starts
        where = f"{source}:{start}"
        if not any(value.strip() for value in values):
            continue  # blank lines, and the rows of commas spreadsheets leave at the end
        if len(values) > len(header):
            report.problems.append(f"{where}: {len(values)} values for {len(header)} columns")
            continue
        row = dict(zip(header, map(restored, values), strict=False))  # what `export_csv` neutralized
        try:
            address = normalize_email(row.get("email") or "")
            language, prefs = check_preferences(
                (row.get("language") or "").strip(),
                _split(row.get("countries")),
                _split(row.get("kinds")),
                _split(row.get("topics")),
            )
        except SubscriberError as exc:
            report.problems.append(f"{where}: {exc}")
            continue
        status = (row.get("status") or "").strip().lower()
        if status and status not in FILE_STATUSES:
            report.problems.append(f"{where}: status {status!r} is not one of {', '.join(FILE_STATUSES)}")
            continue
        if address in first_line:
            report.problems.append(f"{where}: {address} appears twice (first on line {first_line[address]})")
            continue
        first_line[address] = start
        rows.append((where, address, language, prefs, status))
    if report.problems:
        return report
    now = utcnow()
    for where, address, language, prefs, status in rows:
        existing = find(session, address)
        if existing is not None and existing.status == SubscriberStatus.ACTIVE:
            report.unchanged += 1
            continue
        left = opted_out(existing) or (f"{status} in the file" if status in ("unsubscribed", "bounced") else None)
        if status == "pending" and not left:
            report.unconfirmed += 1
            report.notes.append(f"{where}: {address} pending in the file (never confirmed): skipped")
            continue
        if left and not resubscribe:
            report.skipped += 1
            report.notes.append(f"{where}: {address} {left}: skipped")
            continue
        _record_consent(session, existing, address, language, prefs, note=note, overrides=left, now=now)
        if left:
            report.resubscribed += 1
            report.notes.append(f"{where}: {address} {left}: re-subscribed")
        else:
            report.added += 1
    return report


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split("|") if part.strip()]


def export_csv(people: Sequence[Subscriber], *, excel: bool = False) -> str:
    """The subscribers as CSV (`CSV_COLUMNS`), the form `import_csv` reads: for people's spreadsheets,
    so formula-leading cells are neutralized (`directory.spreadsheet`); `excel`: BOM and CRLF."""
    rows = (
        [
            p.email,
            p.language,
            " | ".join(p.countries),
            " | ".join(p.kinds),
            " | ".join(p.topics),
            p.status,
            (p.consent or {}).get("method", ""),
        ]
        for p in people
    )
    return csv_text(CSV_COLUMNS, rows, for_people=True, excel=excel)


def rows(people: Sequence[Subscriber]) -> list[Mapping[str, Any]]:
    return [
        {
            "email": p.email,
            "language": p.language,
            "countries": p.countries,
            "kinds": p.kinds,
            "topics": p.topics,
            "status": p.status,
            "created_at": p.created_at.isoformat(),
            "confirmed_at": p.confirmed_at.isoformat() if p.confirmed_at else None,
            "consent": (p.consent or {}).get("method"),
        }
        for p in people
    ]
