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

from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    ScalarResult,
    Select,
    create_engine,
    event,
    false,
    inspect,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, DBAPIError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from directory.errors import DomainError
from directory.models import utcnow

MIGRATIONS = Path(__file__).parent / "migrations"


SQLITE_BUSY_SECONDS = 30  # how long a SQLite write waits for another writer before `Busy`


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the settings each backend needs (foreign keys and a busy timeout on SQLite)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS}, **kwargs)
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

    from alembic.config import Config  # noqa: PLC0415 - Alembic loads only when the schema is read or changed

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(str(p) for p in [MIGRATIONS / "versions", *locations]))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "heads", locations: Sequence[Path] = ()) -> None:
    """Create or upgrade the schema to `revision` (every branch's head by default)."""

    with engine.begin() as connection:
        from alembic import command  # noqa: PLC0415 - see _alembic_config

        command.upgrade(_alembic_config(connection, locations), revision)


def current_revision(engine: Engine) -> str | None:
    """The applied heads, e.g. `0003` or `0003, n0001` (several branches)."""

    with engine.connect() as connection:
        from alembic.runtime.migration import MigrationContext  # noqa: PLC0415 - see _alembic_config

        heads = MigrationContext.configure(connection).get_current_heads()
    return ", ".join(sorted(heads)) or None


def is_initialized(engine: Engine) -> bool:
    return inspect(engine).has_table("entries")


class NotInitialized(DomainError):
    """The database has no schema yet."""

    def __init__(self, url: str) -> None:
        super().__init__(f"the database at {masked(url)} is not initialized: run `nansen init`")


class NoDatabaseFile(NotInitialized):
    """A SQLite URL names a file that does not exist."""

    def __init__(self, url: str, path: Path) -> None:
        DomainError.__init__(
            self,
            f"no database at {masked(url)}: run `nansen init` to create it"
            if path.parent.is_dir()
            else f"no database at {masked(url)}: the folder {path.parent} does not exist",
        )


class Unreachable(DomainError):
    """No connection to the database could be made."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot open the database at {masked(url)}: {reason}")


def _driver_says(error: DatabaseError) -> str:
    return " ".join(str(error.orig).split()) if error.orig is not None else type(error).__name__


def masked(url: str) -> str:
    """The URL with its password hidden, for messages and listings."""

    return make_url(url).render_as_string(hide_password=True)


SUPPORTED_URLS = "sqlite:///path/to/nansen.db or postgresql+psycopg://user@host/dbname"


class Busy(DomainError, OperationalError):
    """A transaction that lost to another: the user's one line, and still the driver's OperationalError
    for the jobs that retry one (the newsletter and Telegram ledgers)."""

    MESSAGE = (
        "the database is busy: another nansen process (an import, a crawl, an edit) held what this needed"
        " for too long; nothing was written: run it again"
    )

    def __init__(self, cause: OperationalError) -> None:
        OperationalError.__init__(self, cause.statement, cause.params, cause.orig)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return self.MESSAGE

    def lines(self) -> list[str]:
        return [self.MESSAGE]


# SQLSTATEs of a transaction that lost to another: deadlock_detected, lock_not_available, serialization_failure
_LOST_TO_ANOTHER = {"40P01", "55P03", "40001"}


@contextmanager
def lost_as_busy() -> Iterator[None]:
    """Raise `Busy` instead of the driver's error when another transaction was in the way (for work
    done on a `Connection` rather than in `Store.session`, which does this itself)."""
    try:
        yield
    except OperationalError as exc:
        if isinstance(exc, Busy) or not _busy(exc):
            raise
        raise Busy(exc) from exc


def _busy(error: OperationalError) -> bool:
    """Whether the driver says another transaction was in the way (SQLite: "database is locked")."""
    return "database is locked" in str(error.orig) or getattr(error.orig, "sqlstate", None) in _LOST_TO_ANOTHER


class BadDatabaseURL(DomainError):
    """A database URL that names no database Nansen runs on."""

    def __init__(self, shown: str, reason: str) -> None:
        super().__init__(f"database URL {shown}: {reason} (use {SUPPORTED_URLS})")


def check_url(url: str) -> URL:
    """`url` parsed, when it names SQLite or PostgreSQL through a driver that is installed.

    Raises `BadDatabaseURL` saying why not: not a URL at all, `postgres://` (a Heroku-style scheme
    SQLAlchemy does not read), another database, or a driver that is not installed (plain
    `postgresql://` means psycopg2; Nansen installs psycopg 3, `postgresql+psycopg://`)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise BadDatabaseURL(repr(url.split("@")[-1]), "not a URL") from None  # the part before @ may hold a password
    shown = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    if backend == "postgres":
        raise BadDatabaseURL(shown, "SQLAlchemy names PostgreSQL `postgresql+psycopg`, not `postgres`")
    if backend not in ("sqlite", "postgresql"):
        raise BadDatabaseURL(shown, f"Nansen runs on SQLite or PostgreSQL, not {backend!r}")
    try:
        parsed.get_dialect().import_dbapi()
    except (NoSuchModuleError, ImportError) as exc:
        raise BadDatabaseURL(shown, f"driver {parsed.get_driver_name()!r} is not available ({exc})") from None
    return parsed


def _refuse_absent_sqlite_file(url: str, parsed: URL) -> None:
    """Refuse a SQLite URL naming a file that does not exist (`NoDatabaseFile`) or is empty
    (`NotInitialized`): connecting would create it, or write a database into it.

    Only `stat`, never `open`: closing any descriptor of a SQLite file drops every POSIX lock this
    process holds on it (SQLite's documented caveat), so reading its header here could break a
    transaction another Store of this process has open. A file that is not a database at all is
    refused when the first connection is made (`check_reachable`)."""
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    path = Path(parsed.database or "")
    if not path.exists():
        raise NoDatabaseFile(url, path)
    if path.is_file() and path.stat().st_size == 0:
        raise NotInitialized(url)


class Store:
    """One database: an engine and a session factory. Open it once per process.

    `Store(url)` opens a database that exists: a SQLite file that does not is refused with
    `NotInitialized` rather than created empty, so a command run before `nansen init`, or with a
    mistyped path, leaves nothing behind. `create=True` (for `init`) makes the file.
    Raises `BadDatabaseURL` for a URL that names no database Nansen runs on."""

    def __init__(self, url: str, *, create: bool = False) -> None:
        parsed = check_url(url)
        if not create:
            _refuse_absent_sqlite_file(url, parsed)
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def check_reachable(self) -> None:
        """Raise `Unreachable` when no connection can be made (wrong host, port, path or credentials)."""
        try:
            with self.engine.connect():
                pass
        except DatabaseError as exc:  # no server, no file, no access, or a file that is not a database
            raise Unreachable(self.url, _driver_says(exc)) from None

    def check_initialized(self) -> None:
        """Raise `Unreachable`, or `NotInitialized` unless `nansen init` has made the schema."""
        self.check_reachable()
        if not is_initialized(self.engine):
            raise NotInitialized(self.url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: everything in it is committed together or not at all. Raises `Busy` when
        another transaction held what it needed past the wait (SQLite's busy timeout) or the two
        deadlocked (PostgreSQL), instead of the driver's error: nothing was written, and running it
        again is the remedy."""
        with lost_as_busy(), self._sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()


# --------------------------------------------------------------------------- writing what was read


def for_writing(session: Session, statement: Select[Any]) -> ScalarResult[Any]:
    """The objects `statement` selects, held for writing until the transaction ends and read afresh
    (not from the session's cache), so that what the transaction writes over them is what it read:
    two processes changing the same rows wait for each other instead of one losing the other's update.

    Call it before reading what a write depends on. PostgreSQL locks the rows, in the statement's
    order (`FOR NO KEY UPDATE`: rows that refer to them can still be inserted); SQLite, whose one
    writer holds the whole file, takes its write lock now instead of at the first write, waiting up
    to the busy timeout for another writer to finish."""
    if session.get_bind().dialect.name == "sqlite":
        _write_lock(session, statement.get_final_froms()[0])
    locking = statement.with_for_update(key_share=True).execution_options(populate_existing=True)
    return session.scalars(locking)


def hold(session: Session, name: str) -> None:
    """Be the only transaction holding `name` until this one ends: another that asks waits. For what
    no row stands for yet, such as creating entries (two imports of one new slug would otherwise both
    insert it, and one fail on the unique key). Take it before `for_writing`, never after, so that
    every transaction takes its locks in one order. PostgreSQL: a transaction-level advisory lock on
    the name's hash; SQLite: its write lock, which is one for the whole file anyway."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE alembic_version SET version_num = version_num WHERE 1 = 0"))  # as _write_lock
    else:
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})


def _write_lock(session: Session, table: Any) -> None:
    """SQLite's write lock, now: a write that changes nothing (waits up to the busy timeout)."""
    key = next(iter(table.primary_key))
    session.execute(update(table).where(false()).values({key.name: key}))


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


@contextmanager
def ledger_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for a ledger's stream of small writes, in autocommit: each statement is its own
    transaction, one round trip.

    Its commits are as durable as SQLite's are here (WAL, `synchronous = NORMAL`): one survives our
    process dying the moment after, but the last fraction of a second of them may be lost if the
    database server's machine crashes. On PostgreSQL that is `synchronous_commit = off` (its manual,
    "Asynchronous Commit": the database stays consistent, as if those transactions had been rolled
    back), which halves a commit's latency; the setting is reset before the connection goes back to
    the pool."""
    with engine.connect() as connection:
        ledger_mode(connection)
        asynchronous = connection.dialect.name == "postgresql"
        try:
            yield connection
        finally:
            if asynchronous and not connection.invalidated:
                try:
                    connection.rollback()
                    connection.exec_driver_sql("RESET synchronous_commit")
                except DBAPIError:
                    connection.invalidate()  # the pool opens a fresh one instead


def connection_lost(error: BaseException) -> bool:
    """Whether `error` says the database connection was lost (a restart, a failover, the session ended by
    the server): SQLAlchemy has discarded it, and the next use of the engine or `Connection` opens a new
    one, so the work may be tried again."""
    return isinstance(error, DBAPIError) and error.connection_invalidated


def ledger_mode(connection: Connection) -> None:
    """Put `connection` in the mode `ledger_connection` describes; again after it was lost, since the
    new DBAPI connection SQLAlchemy opens in its place starts in the engine's defaults."""
    connection.rollback()
    connection.execution_options(isolation_level="AUTOCOMMIT")
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET synchronous_commit = off")
    connection.commit()


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
