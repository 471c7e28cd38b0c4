"""Tables of the newsletter: subscribers, editions and the delivery ledger.

Only what sending needs is stored about a person: the address, a language, preferences, a status
and the record of consent; no IP address, no user agent, no opens or clicks. `key` is a random
value that tokens carry instead of anything that identifies the person.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from directory.models import Base, UTCDateTime, utcnow


class SubscriberStatus(StrEnum):
    PENDING = "pending"  # asked, not confirmed yet
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"


class EditionStatus(StrEnum):
    DRAFT = "draft"  # waits for `nansen newsletter approve`
    APPROVED = "approved"
    SENDING = "sending"
    SENT = "sent"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a sender, its SMTP transaction under way
    SENT = "sent"
    RETRY = "retry"  # refused for now (4xx): tried again in a later run
    BOUNCED = "bounced"  # refused for good
    FAILED = "failed"  # still refused after the retry limits: given up, the subscriber left as is
    SKIPPED = "skipped"  # no longer active, or nothing for their segment


SUBSCRIBER_STATUSES: tuple[str, ...] = tuple(SubscriberStatus)
EDITION_STATUSES: tuple[str, ...] = tuple(EditionStatus)
DELIVERY_STATUSES: tuple[str, ...] = tuple(DeliveryStatus)


class Subscriber(Base):
    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    language: Mapped[str] = mapped_column(String(2))
    countries: Mapped[list[str]] = mapped_column(JSON, default=list)
    kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    consent: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    confirmation_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Bounces that arrived later (newsletter/bounces.py): soft ones for consecutive editions, and the
    # edition the last one was counted for, so the same bounce read twice is counted once.
    soft_bounces: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_soft_edition: Mapped[int | None] = mapped_column(Integer)


class Edition(Base):
    __tablename__ = "editions"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    until: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    update_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    approved_by: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Delivery(Base):
    """One edition to one subscriber: the ledger row that makes sending exactly-once."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("edition_id", "subscriber_id", name="uq_deliveries_edition_subscriber"),
        Index("ix_deliveries_status", "edition_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    segment: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # While `status` is "sending": which process holds the row (`host:pid`) and since when.
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Count(Base):
    """Anonymous counters that outlive the people they count (e.g. how many asked to be forgotten)."""

    __tablename__ = "newsletter_counts"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)
