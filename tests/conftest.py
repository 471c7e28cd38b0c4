"""Real databases for the tests: a SQLite file, and PostgreSQL when NANSEN_TEST_DATABASE_URL is set.

Every test that asks for `database_url` (or `store`, `cli`) runs once per backend. PostgreSQL tests get
a fresh schema each, reached through the connection's search_path, and dropped afterwards.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from directory.store import Store, upgrade
from pipeline.config import MIGRATION_LOCATIONS


def free_port() -> int:
    """A TCP port free on 127.0.0.1 a moment ago, for a server a test starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` now (Linux's /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def command_of(pid: int) -> bytes:
    """Process `pid`'s command line, its arguments separated by NUL; empty when it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def alive(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def any_alive(pids: list[int], within: float = 10) -> bool:
    """Whether any of `pids` is still alive after waiting up to `within` seconds for them all to end."""
    deadline = time.monotonic() + within
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return any(alive(pid) for pid in pids)


pytest_plugins = ["tests.browser", "tests.fixtureweb", "tests.mailsink"]

PG_URL = os.environ.get("NANSEN_TEST_DATABASE_URL")
ON_CI = os.environ.get("CI") == "true"
REPO = Path(__file__).resolve().parent.parent


def _postgresql_schema_url(base: str) -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'nansen.db'}"
        return
    if not PG_URL:
        if ON_CI:
            pytest.fail("CI=true but NANSEN_TEST_DATABASE_URL is not set: PostgreSQL tests must run in CI")
        pytest.skip("PostgreSQL: set NANSEN_TEST_DATABASE_URL to run these tests on it too")
    yield from _postgresql_schema_url(PG_URL)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked `only_on(backend)` is about that database alone (a PostgreSQL plan, SQLite's busy
    timeout): its runs on the other backend are deselected rather than skipped, so that a skip in CI
    always means something is missing."""
    kept, dropped = [], []
    for item in items:
        marker = item.get_closest_marker("only_on")
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("database_url") if callspec else None
        (dropped if marker and backend and backend not in marker.args else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    db = Store(database_url, create=True)
    upgrade(db.engine, locations=MIGRATION_LOCATIONS)
    yield db
    db.close()


@dataclass
class Cli:
    """Runs `nansen` in-process against the test database, like a maintainer at a terminal."""

    database_url: str
    runner: CliRunner

    def __call__(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Any:
        from pipeline.cli import app

        full_env = {
            "NANSEN_DATABASE_URL": self.database_url,
            "NANSEN_ACTOR": "tester",
            "COLUMNS": "200",
            **(env or {}),
        }
        return self.runner.invoke(app, list(args), input=input, env=full_env, catch_exceptions=False)


@pytest.fixture
def cli(store: Store) -> Cli:
    return Cli(store.url, CliRunner())


def entry_record(slug: str = "test-org", **overrides: Any) -> dict[str, Any]:
    """A valid flat record of an NGO; override any key."""
    record: dict[str, Any] = {
        "slug": slug,
        "kind": "ngo",
        "name.en": "Test Legal Aid",
        "name.ru": "Тестовая юридическая помощь",
        "summary.en": "Lawyers who defend political prisoners and their families.",
        "summary.ru": "Юристы, которые защищают политзаключённых и их семьи.",
        "website": "https://example.org",
        "host_countries": ["GE"],
        "countries_served": ["RU"],
        "languages": ["ru", "en"],
        "topics": ["legal-aid", "political-prisoners"],
    }
    record.update(overrides)
    return record


def program_record(slug: str = "test-program", **overrides: Any) -> dict[str, Any]:
    record = entry_record(
        slug,
        kind="program",
        **{
            "name.en": "Test humanitarian visa",
            "name.ru": "Тестовая гуманитарная виза",
            "summary.en": "A national visa for people at risk.",
            "summary.ru": "Национальная виза для людей в опасности.",
            "host_countries": ["DE"],
            "topics": ["visas-residence"],
            "program.state": "paused",
            "program.state_since": "2025-08-01",
            "program.eligibility.en": "Individually endangered people with a link to the country.",
            "program.eligibility.ru": "Люди в личной опасности, связанные со страной.",
        },
    )
    record.update(overrides)
    return record
