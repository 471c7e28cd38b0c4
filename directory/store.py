"""Engine, sessions and schema migrations.

SQLite is the embedded default; PostgreSQL is used when the URL says so. The schema is created and
upgraded only by the Alembic migrations in `directory/migrations`, never by `create_all`, so a
database made by `nansen init` today upgrades cleanly tomorrow.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CursorResult, Engine, create_engine, event, inspect, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from directory.errors import DomainError
from directory.models import utcnow

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the settings each backend needs (foreign keys and a busy timeout on SQLite)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def _alembic_config(connection: Any, locations: Sequence[Path] = ()) -> Any:
    """The directory's migrations, plus other packages' branches (the composition root names them:
    the directory knows nothing of the packages built on it)."""

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(str(p) for p in [MIGRATIONS / "versions", *locations]))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "heads", locations: Sequence[Path] = ()) -> None:
    """Create or upgrade the schema to `revision` (every branch's head by default)."""

    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection, locations), revision)


def current_revision(engine: Engine) -> str | None:
    """The applied heads, e.g. `0003` or `0003, n0001` (several branches)."""

    with engine.connect() as connection:
        heads = MigrationContext.configure(connection).get_current_heads()
    return ", ".join(sorted(heads)) or None


def is_initialized(engine: Engine) -> bool:
    return inspect(engine).has_table("entries")


class NotInitialized(DomainError):
    """The database has no schema yet."""

    def __init__(self, url: str) -> None:
        super().__init__(f"the database at {masked(url)} is not initialized: run `nansen init`")


class Unreachable(DomainError):
    """No connection to the database could be made."""

    def __init__(self, url: str, error: OperationalError) -> None:
        reason = " ".join(str(error.orig).split()) if error.orig is not None else type(error).__name__
        super().__init__(f"cannot open the database at {masked(url)}: {reason}")


def masked(url: str) -> str:
    """The URL with its password hidden, for messages and listings."""

    return make_url(url).render_as_string(hide_password=True)


class Store:
    """One database: an engine and a session factory. Open it once per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def check_reachable(self) -> None:
        """Raise `Unreachable` when no connection can be made (wrong host, port, path or credentials)."""
        try:
            with self.engine.connect():
                pass
        except OperationalError as exc:
            raise Unreachable(self.url, exc) from None

    def check_initialized(self) -> None:
        """Raise `Unreachable`, or `NotInitialized` unless `nansen init` has made the schema."""
        self.check_reachable()
        if not is_initialized(self.engine):
            raise NotInitialized(self.url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: everything in it is committed together or not at all."""
        with self._sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()


# --------------------------------------------------------------------------- leases


def holder() -> str:
    """This process, as leases name it: `host:pid`."""
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_is_gone(owner: str | None) -> bool:
    """The lease's holder is a process on this machine that no longer exists (its lease can be taken
    over at once; a holder on another machine keeps its lease until it expires)."""
    if not owner or ":" not in owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


CLAIM_LEASE = dt.timedelta(minutes=15)  # a holder on another machine that keeps a row longer is presumed dead


def claimable(is_open: bool, claimed_by: str | None, claimed_at: dt.datetime | None) -> bool:
    """Whether a ledger row read as (open?, holder, since) may be claimed: it is open, or its holder is
    gone (a process of this machine that no longer exists) or has held it past `CLAIM_LEASE`."""
    now = utcnow()
    return is_open or holder_is_gone(claimed_by) or (claimed_at or now) < now - CLAIM_LEASE


def claim_row(session: Session, model: Any, row_id: int, status: str, claimed_by: str | None, me: str) -> bool:
    """Take a ledger row (a mapped class with `id`, `status`, `claimed_by`, `claimed_at`) for this
    process: one conditional UPDATE from `status` to `sending`; False when another process was first.

    Meant as the first statement of its own transaction, so SQLite takes its write lock at once. A row
    already `sending` is taken over only from the holder it was read with (`claimed_by`: gone, or its
    lease ran out)."""
    condition = model.status == status
    if status == "sending":
        condition = condition & (model.claimed_by == claimed_by)
    result = session.execute(
        update(model).where(model.id == row_id, condition).values(status="sending", claimed_by=me, claimed_at=utcnow())
    )
    return cast(CursorResult[Any], result).rowcount == 1


def insert_new(session: Session, model: Any, rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> int:
    """Insert `rows` into `model`'s table, leaving out any that would break the unique constraint on
    `keys` (already there, or inserted by another process meanwhile); returns how many were inserted.

    One `INSERT … ON CONFLICT (keys) DO NOTHING RETURNING`, which SQLite (3.35+) and PostgreSQL both
    have (the rows returned are the ones inserted): a check-then-insert would let two crawls of one
    feed race, and the loser lose its whole transaction.
    """
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(model)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=list(keys))
        .returning(*(getattr(model, key) for key in keys))
    )
    return len(session.execute(statement).all())
