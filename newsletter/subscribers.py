"""Subscribers: double opt-in, preferences, unsubscribing, forgetting.

Nobody is subscribed without confirming: a new address is `pending` until its confirmation link is
opened (or a maintainer records consent given elsewhere). Answers to the public never reveal whether
an address is subscribed; that is the endpoints' job, and these functions make it easy by returning
the same shape whatever the state.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
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
from directory.taxonomy import KINDS, TOPIC_BY_SLUG
from newsletter.models import Count, Delivery, Subscriber

LANGUAGES = ("ru", "en")
CONFIRMATION_INTERVAL = dt.timedelta(hours=1)


class SubscriberError(DomainError, ValueError):
    pass


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
    is mailed at most once per hour, so the form cannot be used to flood someone's inbox.
    """
    now = now or utcnow()
    address = normalize_email(email)
    subscriber = find(session, address)
    if subscriber is None:
        subscriber = Subscriber(
            email=address,
            key=secrets.token_hex(16),
            language=language,
            countries=list(preferences.countries),
            kinds=list(preferences.kinds),
            topics=list(preferences.topics),
            status="pending",
            created_at=now,
        )
        session.add(subscriber)
    elif subscriber.status == "active":
        return Signup(subscriber, False)
    else:
        subscriber.language = language
        subscriber.countries, subscriber.kinds = list(preferences.countries), list(preferences.kinds)
        subscriber.topics = list(preferences.topics)
        if subscriber.status in ("unsubscribed", "bounced"):
            subscriber.status = "pending"
    recently = subscriber.confirmation_sent_at and now - subscriber.confirmation_sent_at < CONFIRMATION_INTERVAL
    if recently:
        session.flush()
        return Signup(subscriber, False)
    subscriber.confirmation_sent_at = now
    session.flush()
    return Signup(subscriber, True)


def confirm(session: Session, key: str, *, method: str = "double opt-in") -> Subscriber | None:
    subscriber = by_key(session, key)
    if subscriber is None or subscriber.status == "bounced":
        return None
    if subscriber.status != "active":
        now = utcnow()
        subscriber.status, subscriber.confirmed_at, subscriber.unsubscribed_at = "active", now, None
        subscriber.consent = {"method": method, "at": now.isoformat()}
        session.flush()
    return subscriber


def add_confirmed(session: Session, email: str, language: str, preferences: Preferences, *, note: str) -> Subscriber:
    """A maintainer adds someone whose consent was recorded elsewhere (the note says where)."""
    signup = request_subscription(session, email, language, preferences)
    assert signup.subscriber is not None
    if signup.subscriber.status == "active":
        raise SubscriberError(f"{signup.subscriber.email} is subscribed already")
    signup.subscriber.confirmation_sent_at = None
    return confirm(session, signup.subscriber.key, method=f"added by a maintainer: {note}")  # type: ignore[return-value]


def unsubscribe(session: Session, key: str) -> bool:
    subscriber = by_key(session, key)
    if subscriber is None or subscriber.status == "unsubscribed":
        return False
    subscriber.status, subscriber.unsubscribed_at = "unsubscribed", utcnow()
    _count(session, "unsubscribed")
    session.flush()
    return True


def set_preferences(session: Session, key: str, language: str, preferences: Preferences) -> Subscriber | None:
    subscriber = by_key(session, key)
    if subscriber is None:
        return None
    subscriber.language = language
    subscriber.countries, subscriber.kinds = list(preferences.countries), list(preferences.kinds)
    subscriber.topics = list(preferences.topics)
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
    if subscriber is not None and subscriber.status == "active":
        subscriber.status = "bounced"
        _count(session, "bounced")


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


@dataclass
class ImportReport:
    added: int = 0
    unchanged: int = 0
    problems: list[str] = field(default_factory=list)


def import_csv(session: Session, text: str, *, source: str, note: str) -> ImportReport:
    """Add confirmed subscribers from CSV (email, language, countries, kinds, topics; lists separated by
    ' | '). Every bad row is reported by its line, and then nothing is imported."""
    report = ImportReport()
    reader = csv.DictReader(io.StringIO(text))
    missing = {"email", "language"} - set(reader.fieldnames or [])
    if missing:
        report.problems.append(f"{source}:1: missing column(s): {', '.join(sorted(missing))}")
        return report
    rows: list[tuple[str, str, Preferences]] = []
    seen: set[str] = set()
    line = reader.line_num
    for row in reader:
        where = f"{source}:{line + 1}"
        line = reader.line_num
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
        if address in seen:
            report.problems.append(f"{where}: {address} appears twice")
            continue
        seen.add(address)
        rows.append((address, language, prefs))
    if report.problems:
        return report
    for address, language, prefs in rows:
        existing = find(session, address)
        if existing is not None and existing.status == "active":
            report.unchanged += 1
            continue
        add_confirmed(session, address, language, prefs, note=note)
        report.added += 1
    return report


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split("|") if part.strip()]


def export_csv(people: Sequence[Subscriber]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in people:
        consent = (p.consent or {}).get("method", "")
        writer.writerow(
            [p.email, p.language, " | ".join(p.countries), " | ".join(p.kinds), " | ".join(p.topics), p.status, consent]
        )
    return out.getvalue()


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
