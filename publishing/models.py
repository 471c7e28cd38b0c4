"""Tables of publishing: the Telegram ledger (which update went to which channel).

Updates themselves are derived from the directory's revisions (publishing.updates), never stored;
what is stored is what has been done with them outside the site: a `ChannelStart` per language's
channel (the revision it starts after, so a newly configured channel is not flooded with the
directory's whole history, and until when Telegram asked it to wait) and a `ChannelPost` per update ×
language's channel, the row that makes posting exactly-once. Rows are keyed by language, not by how
the chat is spelled: `@name` and its numeric id are one channel, and a channel name corrected after a
typo gets the posts that waited for it.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import BigInteger, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from directory.models import Base, UTCDateTime, utcnow


class PostStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a poster, its API call under way
    SENT = "sent"
    RETRY = "retry"  # the API failed for now (5xx, network): tried again in a later run
    FAILED = "failed"  # refused for good (400 for this message), or still failing after the retry limit
    SKIPPED = "skipped"  # nothing to tell in this language, or the update no longer exists


POST_STATUSES: tuple[str, ...] = tuple(PostStatus)
OPEN = (PostStatus.PENDING.value, PostStatus.RETRY.value)


class ChannelStart(Base):
    """A language's channel as first seen by a poster: updates from revisions after `after_revision`
    go to it; none before `wait_until` (Telegram's 429 `retry_after` longer than a run may wait)."""

    __tablename__ = "channel_starts"

    language: Mapped[str] = mapped_column(String(2), primary_key=True)
    after_revision: Mapped[int] = mapped_column(BigInteger)
    wait_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChannelPost(Base):
    """One update to one language's channel: the ledger row that makes posting exactly-once."""

    __tablename__ = "channel_posts"
    __table_args__ = (
        UniqueConstraint("update_id", "language", name="uq_channel_posts_update_language"),
        Index("ix_channel_posts_status", "language", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    update_id: Mapped[str] = mapped_column(String(64))  # publishing.updates.Update.id, e.g. "update-42"
    revision: Mapped[int] = mapped_column(BigInteger)  # the update's first revision: the posting order
    language: Mapped[str] = mapped_column(String(2))
    chat: Mapped[str | None] = mapped_column(String(200))  # where it was posted ("@name" or a numeric id)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[int | None] = mapped_column(BigInteger)  # Telegram's, once sent
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # While `status` is "sending": which process holds the row (`host:pid`) and since when.
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
