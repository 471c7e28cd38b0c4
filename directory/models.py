"""Tables of the directory.

The schema is portable between SQLite (the embedded default) and PostgreSQL: lists are `JSON`
(`JSONB` on PostgreSQL, so they can be indexed and queried), times are timezone-aware UTC on both.
Full-text search tables are per dialect and live in the migrations and `search.py`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, String, Text, TypeDecorator
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
    program_state: Mapped[str | None] = mapped_column(String(16))
    program_state_since: Mapped[dt.date | None] = mapped_column(Date)
    eligibility_en: Mapped[str | None] = mapped_column(Text)
    eligibility_ru: Mapped[str | None] = mapped_column(Text)
    official_url: Mapped[str | None] = mapped_column(String(2000))
    application_route_en: Mapped[str | None] = mapped_column(Text)
    application_route_ru: Mapped[str | None] = mapped_column(Text)
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
