"""Tables of the directory.

The schema is portable between SQLite (the embedded default) and PostgreSQL: lists are `JSON`
(`JSONB` on PostgreSQL, so they can be indexed and queried), times are timezone-aware UTC on both.
Full-text search tables are per dialect and live in the migrations and `search.py`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from directory.taxonomy import KINDS, PROGRAM_STATES, STATUSES

JSONList = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend.

    SQLite has no time zones and hands back naive values; PostgreSQL hands back the session's zone.
    Both come out as UTC-aware here, and a naive value going in is refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: times must be timezone-aware")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    pass


class Entry(Base):
    """An organization or program. Columns mirror the fields of `directory.fields`."""

    __tablename__ = "entries"
    __table_args__ = (
        CheckConstraint(_one_of("kind", KINDS), name="ck_entries_kind"),
        CheckConstraint(_one_of("status", STATUSES), name="ck_entries_status"),
        CheckConstraint(
            f"program_state IS NULL OR {_one_of('program_state', PROGRAM_STATES)}",
            name="ck_entries_program_state",
        ),
        Index("ix_entries_kind_status", "kind", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    name_en: Mapped[str] = mapped_column(String(300))
    name_ru: Mapped[str] = mapped_column(String(300))
    summary_en: Mapped[str] = mapped_column(Text)
    summary_ru: Mapped[str] = mapped_column(Text)
    website: Mapped[str | None] = mapped_column(String(2000))
    other_domains: Mapped[list[str]] = mapped_column(JSONList, default=list)
    feeds: Mapped[list[str]] = mapped_column(JSONList, default=list)
    host_countries: Mapped[list[str]] = mapped_column(JSONList, default=list)
    countries_served: Mapped[list[str]] = mapped_column(JSONList, default=list)
    languages: Mapped[list[str]] = mapped_column(JSONList, default=list)
    topics: Mapped[list[str]] = mapped_column(JSONList, default=list)
    contact_email: Mapped[str | None] = mapped_column(String(320))
    contact_telegram: Mapped[str | None] = mapped_column(String(200))
    contact_other: Mapped[list[str]] = mapped_column(JSONList, default=list)
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_note: Mapped[str | None] = mapped_column(Text)
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    verified_by: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(Text)
    designations: Mapped[list[dict[str, Any]]] = mapped_column(JSONList, default=list)
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSONList, default=list)
    program_state: Mapped[str | None] = mapped_column(String(16))
    program_state_since: Mapped[str | None] = mapped_column(String(10))  # YYYY-MM-DD, YYYY-MM or YYYY
    state_note_en: Mapped[str | None] = mapped_column(Text)
    state_note_ru: Mapped[str | None] = mapped_column(Text)
    eligibility_en: Mapped[str | None] = mapped_column(Text)
    eligibility_ru: Mapped[str | None] = mapped_column(Text)
    official_url: Mapped[str | None] = mapped_column(String(2000))
    application_route_en: Mapped[str | None] = mapped_column(Text)
    application_route_ru: Mapped[str | None] = mapped_column(Text)
    next_call_opens: Mapped[str | None] = mapped_column(String(10))
    next_call_closes: Mapped[str | None] = mapped_column(String(10))
    watch_url: Mapped[str | None] = mapped_column(String(2000))
    watch_selector: Mapped[str | None] = mapped_column(String(500))
    watch_ignore: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    revisions: Mapped[list[Revision]] = relationship(
        back_populates="entry", order_by="Revision.id", cascade="all, delete-orphan"
    )


class Revision(Base):
    """One changed field of one entry: who, when, why, and from where.

    `field` is a record key (`name.en`, `program.state`…), or `created` for a new entry (then `new`
    holds the whole record). `old`/`new` are JSON values as the record has them. Revisions written
    by one change share `created_at`. A `minor` revision (a typo fix) is history, not news.
    """

    __tablename__ = "revisions"
    __table_args__ = (
        Index("ix_revisions_entry_id", "entry_id", "id"),
        Index("ix_revisions_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(64))
    old: Mapped[Any] = mapped_column(JSON, nullable=True)
    new: Mapped[Any] = mapped_column(JSON, nullable=True)
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(300), default="cli")
    minor: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    entry: Mapped[Entry] = relationship(back_populates="revisions")


class LinkCheck(Base):
    """One health check of an entry's website: what was seen, never applied by itself."""

    __tablename__ = "link_checks"
    __table_args__ = (Index("ix_link_checks_entry", "entry_id", "checked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2000))
    final_url: Mapped[str | None] = mapped_column(String(2000))
    status_code: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))  # ok | dead | unknown
    error: Mapped[str | None] = mapped_column(String(300))
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[Any] = mapped_column(JSON, nullable=True)
    checked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Proposal(Base):
    """A change a crawler suggests; it waits for a maintainer and is applied only when accepted."""

    __tablename__ = "proposals"
    __table_args__ = (
        Index("ix_proposals_lookup", "entry_id", "field", "value_key", "status"),
        Index("ix_proposals_status", "status", "id"),
        Index(
            "uq_proposals_pending",
            "entry_id",
            "field",
            "value_key",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    field: Mapped[str] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(8))  # set | add
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    value_key: Mapped[str] = mapped_column(String(64))
    current: Mapped[Any] = mapped_column(JSON, nullable=True)
    evidence: Mapped[Any] = mapped_column(JSON, nullable=True)
    origin: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decision_reason: Mapped[str | None] = mapped_column(Text)

    entry: Mapped[Entry] = relationship()


class Post(Base):
    """An item from an organization's own feed, sanitized; deduplicated per entry by `guid`."""

    __tablename__ = "posts"
    __table_args__ = (
        UniqueConstraint("entry_id", "guid", name="uq_posts_entry_guid"),
        Index("ix_posts_time", "fetched_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"))
    feed_url: Mapped[str] = mapped_column(String(2000))
    guid: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(2000))
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    summary: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(8))
    fetched_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class FeedState(Base):
    """Validators of the last fetch of a feed, so the next one can be conditional (304)."""

    __tablename__ = "feed_states"
    __table_args__ = (UniqueConstraint("entry_id", "url", name="uq_feed_states_entry_url"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2000))
    etag: Mapped[str | None] = mapped_column(String(300))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(300))
    fetched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PageSnapshot(Base):
    """The normalized main text of a watched page at one time."""

    __tablename__ = "page_snapshots"
    __table_args__ = (Index("ix_page_snapshots_entry_url", "entry_id", "url", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2000))
    hash: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    fetched_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
