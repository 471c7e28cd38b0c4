"""Run records and job locks: two schedulers on one database never run a job twice at once.

A run is recorded before it starts, unique per (job, scheduled slot): the second scheduler to
reach the same slot finds the row and skips, so each due run happens once. While it runs, the job
holds a lock — a PostgreSQL advisory lock (released by the server if the process dies), or on
SQLite a lock row with a lease (taken over when the holder process is gone or the lease expired).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import JSON, CursorResult, String, Text, UniqueConstraint, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from directory.models import Base, UTCDateTime, utcnow
from directory.store import Store, holder, holder_is_gone

LEASE = dt.timedelta(hours=6)


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (UniqueConstraint("job", "slot", name="uq_runs_job_slot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(32))
    slot: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(16), default="running")
    counts: Mapped[Any] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text)
    holder: Mapped[str] = mapped_column(String(200))


class JobLock(Base):
    __tablename__ = "job_locks"

    job: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Busy(Exception):
    """Another process runs this job now."""


@contextmanager
def job_lock(store: Store, job: str) -> Iterator[None]:
    if store.engine.dialect.name == "postgresql":
        with _advisory_lock(store, job):
            yield
        return
    _take_row_lock(store, job)
    try:
        yield
    finally:
        with store.session() as session:
            session.execute(
                update(JobLock)
                .where(JobLock.job == job, JobLock.holder == holder())
                .values(holder=None, expires_at=None)
            )


@contextmanager
def _advisory_lock(store: Store, job: str) -> Iterator[None]:
    key = int.from_bytes(hashlib.sha256(f"nansen:{job}".encode()).digest()[:8], "big", signed=True)
    with store.engine.connect() as connection:
        if not connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
            raise Busy(job)
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            connection.commit()


def _take_row_lock(store: Store, job: str) -> None:
    now = utcnow()
    me = holder()
    with store.session() as session:
        lock = session.get(JobLock, job)
        if lock is None:
            try:
                with session.begin_nested():
                    session.add(JobLock(job=job, holder=me, expires_at=now + LEASE))
                return
            except IntegrityError:
                lock = session.get(JobLock, job)
        assert lock is not None
        stale = lock.holder is None or (lock.expires_at and lock.expires_at < now) or holder_is_gone(lock.holder)
        if not stale:
            raise Busy(job)
        taken = cast(
            CursorResult[Any],
            session.execute(
                update(JobLock)
                .where(
                    JobLock.job == job,
                    JobLock.holder.is_(lock.holder) if lock.holder is None else JobLock.holder == lock.holder,
                )
                .values(holder=me, expires_at=now + LEASE)
            ),
        ).rowcount
        if taken != 1:
            raise Busy(job)


def start_run(store: Store, job: str, slot: dt.datetime | None) -> int | None:
    """Record a run; None when this slot was already run (or is running) somewhere."""
    with store.session() as session:
        run = Run(job=job, slot=slot, started_at=utcnow(), outcome="running", holder=holder())
        try:
            with session.begin_nested():
                session.add(run)
                session.flush()
        except IntegrityError:
            return None
        return run.id


def finish_run(
    store: Store, run_id: int, outcome: str, counts: dict[str, Any] | None = None, error: str | None = None
) -> None:
    with store.session() as session:
        run = session.get(Run, run_id)
        if run is not None:
            run.finished_at, run.outcome, run.counts, run.error = utcnow(), outcome, counts, error


def recent(session: Session, *, limit: int = 50, job: str | None = None) -> list[Run]:
    query = select(Run).order_by(Run.started_at.desc(), Run.id.desc()).limit(limit)
    if job:
        query = query.where(Run.job == job)
    return list(session.scalars(query))


def last_success(store: Store, job: str) -> Run | None:
    with store.session() as session:
        return session.scalar(
            select(Run).where(Run.job == job, Run.outcome == "ok").order_by(Run.started_at.desc()).limit(1)
        )
