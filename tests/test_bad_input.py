"""Every command, given a bad input, environment or state, says what to change in one line on stderr
and exits 1 (bad input) or 2 (bad usage): never a traceback, and nothing written.

One table drives the whole CLI: bad URL schemes, unreachable and missing databases, a short secret, an
unknown slug, a malformed address, a taken port, a missing file, YAML nested too deep, a setting that
does not parse. Each case runs against a seeded database; after it, the database holds exactly what
it held before and the working folder has no new file.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from directory.models import Entry, Revision
from directory.store import Store
from newsletter.models import Subscriber
from tests.conftest import Cli

REPO = Path(__file__).resolve().parent.parent
SECRET = "test-secret-0123456789abcdef"


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    code: int
    says: str  # a part of the one line on stderr
    env: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return " ".join(self.args)


# Commands that open the database: each must refuse a bad database environment the same way.
DATABASE_COMMANDS = [
    ("stats",),
    ("entries", "list"),
    ("entries", "show", "meduza"),
    ("import", str(REPO / "data")),
    ("export", "--format", "json"),
    ("review",),
    ("crawl", "feeds"),
    ("publish", "--output", "{tmp}/site"),
    ("subscribers", "list"),
    ("newsletter", "preview", "--lang", "ru"),
    ("runs",),
    ("run",),
    ("telegram", "status"),
]

ENVIRONMENTS = [
    ({"NANSEN_DATABASE_URL": "mysql://root@127.0.0.1/nansen"}, "Nansen runs on SQLite or PostgreSQL"),
    ({"NANSEN_DATABASE_URL": "postgres://postgres@127.0.0.1/test"}, "not `postgres`"),
    ({"NANSEN_DATABASE_URL": "not a url"}, "not a URL"),
    ({"NANSEN_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/nansen"}, "cannot open the database"),
    ({"NANSEN_DATABASE_URL": "sqlite:///{tmp}/missing.db"}, "run `nansen init` to create it"),
    ({"NANSEN_DATABASE_URL": "sqlite:///{tmp}/no-such-folder/x.db"}, "does not exist"),
    ({"NANSEN_TELEGRAM_INTERVAL": "soon"}, "NANSEN_TELEGRAM_INTERVAL: 'soon'"),
    ({"NANSEN_CONFIG": "{tmp}/absent.toml"}, "NANSEN_CONFIG names a file that does not exist"),
    ({"NANSEN_SITE_URL": "notaurl"}, "NANSEN_SITE_URL: 'notaurl': is not an absolute http(s) URL"),
    ({"NANSEN_FEED_ITEM_LIMIT": "0"}, "NANSEN_FEED_ITEM_LIMIT: '0' must be 1 or more"),
    ({"NANSEN_CRAWL_ALLOW_NETWORKS": "10.0.0.0/33"}, "'10.0.0.0/33' is not a network in CIDR form"),
    ({"NANSEN_DATABASE_URL": "sqlite:///{tmp}/empty.toml"}, "is not initialized"),
    ({"NANSEN_DATABASE_URL": "sqlite:///{tmp}/a-file"}, "file is not a database"),
    ({"NANSEN_FEED_ITEM_LIMIT": "99999999999"}, "must be 10000 or less"),
    ({"NANSEN_CONTACT_URL": "notaurl"}, "NANSEN_CONTACT_URL: 'notaurl': is not an absolute http(s) URL"),
    ({"NANSEN_SENDER": "notanemail"}, "NANSEN_SENDER: 'notanemail': is not a mail address"),
    ({"NANSEN_NEWSLETTER_RETRY_DAYS": "-2"}, "NANSEN_NEWSLETTER_RETRY_DAYS: '-2' must be 0 or more"),
    ({"NANSEN_ACTOR": "anna\x1b[2J"}, "--actor/NANSEN_ACTOR: 'anna\\x1b[2J' is not plain text"),
    ({"NANSEN_ACTOR": " "}, "--actor/NANSEN_ACTOR: ' ' is blank"),
    ({"NANSEN_SCHEDULE_FEEDS": "0 0 31 2 *"}, "NANSEN_SCHEDULE_FEEDS: '0 0 31 2 *': day of month: 31 never occurs"),
    ({"NANSEN_TIMEZONE": "Mars/Olympus"}, "NANSEN_TIMEZONE: 'Mars/Olympus' is not a known time zone"),
]

CASES = [
    *(Case(command, 1, says, env) for command in DATABASE_COMMANDS for env, says in ENVIRONMENTS),
    # the signing secret
    Case(("newsletter", "preview", "--lang", "ru"), 1, "NANSEN_SECRET", {"NANSEN_SECRET": "short"}),
    Case(("newsletter", "preview", "--lang", "ru"), 1, "NANSEN_SECRET is not set", {"NANSEN_SECRET": ""}),
    Case(("subscribers", "add", "a@example.org", "--lang", "ru"), 1, "NANSEN_SECRET", {"NANSEN_SECRET": "short"}),
    Case(("newsletter", "send"), 1, "NANSEN_SECRET", {"NANSEN_SECRET": "short"}),
    # unknown slugs and ids
    Case(("entries", "show", "nosuch"), 1, "no entry with slug 'nosuch'"),
    Case(("entries", "history", "nosuch"), 1, "no entry with slug 'nosuch'"),
    Case(("entries", "edit", "nosuch", "--set", "status=inactive"), 1, "no entry with slug 'nosuch'"),
    Case(("entries", "verify", "nosuch", "--source", "https://x.org/"), 1, "no entry with slug 'nosuch'"),
    Case(("entries", "close", "nosuch", "--reason", "gone"), 1, "no entry with slug 'nosuch'"),
    Case(("crawl", "feeds", "--entry", "nosuch"), 1, "no entry with slug 'nosuch'"),
    Case(("review", "accept", "99999"), 1, "no proposal with id 99999"),
    Case(("review", "accept", "first"), 2, "nansen review accept:"),
    # bad values: URL schemes, codes, fields
    Case(("entries", "edit", "meduza", "--set", "website=javascript:alert(1)"), 1, "is not an http(s) URL"),
    Case(("entries", "edit", "meduza", "--set", "website=ftp://meduza.io"), 1, "is not an http(s) URL"),
    Case(("entries", "edit", "meduza", "--add", "feeds=file:///etc/passwd"), 1, "http(s) URL"),
    Case(("entries", "verify", "meduza", "--source", "ftp://x.org"), 1, "'source'"),
    Case(("entries", "edit", "meduza", "--set", "languages=xx"), 1, "ISO 639-1"),
    Case(("entries", "edit", "meduza", "--set", "colour=red"), 2, "unknown field 'colour'"),
    Case(("entries", "edit", "meduza", "--set", "website"), 2, "expected FIELD=VALUE"),
    Case(("entries", "edit", "meduza", "--add", "website=https://x.org"), 2, "not a list of items"),
    Case(("entries", "edit", "meduza", "--remove", "feeds=https://nope.example/"), 1, "has no item"),
    Case(("entries", "add", "--slug", "x", "--kind", "ngo", "--website", "javascript:alert(1)"), 1, "http(s) URL"),
    Case(("entries", "list", "--country", "Georgia"), 2, "--country"),
    Case(("entries", "list", "--stale", "-1"), 2, "--stale"),
    Case(("entries", "list", "--format", "xml"), 2, "nansen entries list:"),
    Case(("entries", "list", "--excel"), 2, "--excel goes with --format csv"),
    Case(("entries", "search", "visa", "--limit", "0"), 2, "--limit"),
    Case(("crawl", "everything"), 2, "unknown crawl everything"),
    Case(("entries", "search", " "), 2, "give the words to search for"),
    Case(("subscribers", "list", "--status", "bogus"), 2, "--status: 'bogus' is not one of pending"),
    Case(("runs", "--job", "bogus"), 2, "--job: 'bogus' is not one of feeds"),
    Case(("export", "--format", "csv", "--lang", "ru"), 2, "--lang goes with --format hsds"),
    Case(("export", "--format", "yaml", "--output", "{tmp}/in-the-way/"), 1, "meduza.yaml is in the way"),
    Case(("entries", "edit", "meduza"), 1, "no $VISUAL or $EDITOR", {"EDITOR": "", "VISUAL": ""}),
    Case(("entries", "edit", "meduza"), 1, "not UTF-8", {"EDITOR": "{python} {tmp}/latin1-editor.py", "VISUAL": ""}),
    Case(("runs", "--limit", "0"), 2, "--limit"),
    Case(("runs", "--limit", "99999999999999999999"), 2, "--limit"),
    Case(("entries", "list", "--stale", "2147483648"), 2, "--stale"),
    Case(("review", "accept", "99999999999999999999"), 2, "nansen review accept:"),
    Case(("export", "--format", "yaml", "--output", "{tmp}/linked/"), 1, "meduza.yaml is in the way: it is a link"),
    Case(
        ("entries", "edit", "meduza"),
        1,
        "duplicate key 'status'",
        {"EDITOR": "{python} {tmp}/dup-editor.py", "VISUAL": ""},
    ),
    Case(("nosuchcommand",), 2, "No such command"),
    # free text kept in the history: one line of plain text
    Case(("entries", "edit", "meduza", "--set", "status=inactive", "--reason", "a\x1b[2Jb"), 1, "the reason: "),
    Case(("entries", "verify", "meduza", "--note", "ok\x07"), 1, "the note: 'ok\\x07' is not plain text"),
    Case(("entries", "close", "meduza", "--reason", "x" * 2001), 1, "the reason: too long: 2,001 characters"),
    Case(("review", "reject", "1", "--reason", "\x1b]8;;https://x.example\x07"), 1, "the reason: "),
    Case(
        ("subscribers", "add", "a@example.org", "--confirmed", "--note", "x\u202ey"),
        1,
        "the consent note: 'x\\u202ey' is not plain text",
    ),
    # malformed addresses
    Case(
        ("subscribers", "add", "not-an-email", "--lang", "ru"), 1, "is not an email address", {"NANSEN_SECRET": SECRET}
    ),
    Case(("subscribers", "remove", "not-an-email"), 1, "is not an email address"),
    Case(("subscribers", "forget", "not-an-email"), 1, "is not an email address"),
    Case(("subscribers", "add", "a@example.org", "--lang", "xx"), 1, "xx"),
    # files: missing, malformed, nested, in the way
    Case(("import", "{tmp}/missing.yaml"), 2, "does not exist"),
    Case(("import", "{tmp}/nested.yaml"), 1, "nested"),
    Case(("import", "{tmp}/nested.json"), 1, "nested"),
    Case(("import", "{tmp}/latin1.csv"), 1, "latin1.csv"),
    Case(("import", "{tmp}/fifo.yaml"), 1, "fifo.yaml:0: not a regular file (a pipe, socket or device)"),
    Case(("import", "--dry-run", "{tmp}/fifo.yaml"), 1, "not a regular file"),
    Case(("import", "{tmp}/empty.yaml"), 1, "empty.yaml:0: holds no entries"),
    Case(("import", "{tmp}/header.csv"), 1, "header.csv:0: holds no entries"),
    Case(("import", "{tmp}/blank.json"), 1, "blank.json:0: holds no entries"),
    Case(("import", "{tmp}/commas.csv"), 1, "commas.csv:1: a column without a name in the header line (column 1, 2"),
    Case(("import", "{tmp}/socket.yaml"), 1, "socket.yaml:0: not a regular file"),
    Case(("import", "{tmp}/fifo-folder"), 1, "x.yaml:0: not a regular file"),
    Case(("import", "{tmp}/dangling-folder"), 1, "d.yaml:0: cannot read: No such file or directory"),
    Case(("subscribers", "import", "{tmp}/missing.csv", "--note", "n"), 2, "does not exist"),
    Case(("export", "--format", "hsds"), 2, "--output"),
    Case(("export", "--format", "json", "--output", "{tmp}/no-such-folder/all.json"), 2, "does not exist"),
    Case(("newsletter", "send", "--dry-run", "{tmp}/a-file"), 1, "is a file"),
    Case(("publish", "--output", "{tmp}/a-file"), 1, "a-file"),
    Case(("bounces", "{tmp}/no-such-maildir"), 1, "no-such-maildir"),
    Case(("bounces",), 1, "NANSEN_BOUNCES_URL"),
    # the port, and services that are not set up
    Case(("serve", "--directory", "{tmp}/site", "--port", "{port}"), 1, "cannot listen on 127.0.0.1:"),
    Case(("serve", "--directory", "{tmp}"), 1, "has no index.html"),
    Case(("serve", "--port", "70000"), 2, "--port"),
    Case(("telegram", "post"), 1, "NANSEN_TELEGRAM_TOKEN"),
]


@pytest.fixture(scope="module")
def seeded_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One seeded SQLite database for the table (every case is refused, so it never changes)."""
    path = tmp_path_factory.mktemp("seeded") / "nansen.db"
    url = f"sqlite:///{path}"
    cli = Cli(url, CliRunner())
    assert cli("init").exit_code == 0
    assert cli("import", str(REPO / "data")).exit_code == 0
    yield url


@pytest.fixture(scope="module")
def taken_port() -> Iterator[int]:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        yield listening.getsockname()[1]


def _files(tmp: Path) -> dict[Path, float]:
    return {path: path.lstat().st_mtime for path in tmp.rglob("*")}


def _counts(url: str) -> tuple[int, int, int]:
    store = Store(url)
    try:
        with store.session() as session:
            return (
                session.scalar(select(func.count(Entry.id))) or 0,
                session.scalar(select(func.count(Revision.id))) or 0,
                session.scalar(select(func.count(Subscriber.id))) or 0,
            )
    finally:
        store.close()


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_mistake_is_one_line_and_changes_nothing(
    case: Case,
    seeded_url: str,
    taken_port: int,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    monkeypatch.chdir(tmp_path)  # a command that wrongly made a default file would make it here
    kept = tmp_path_factory.mktemp("kept")  # an edit kept for the user goes here, not into /tmp
    monkeypatch.setattr(tempfile, "tempdir", str(kept))
    (tmp_path / "nested.yaml").write_text("slug: " + "[" * 1500 + "]" * 1500 + "\n", encoding="utf-8")
    (tmp_path / "nested.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    (tmp_path / "latin1.csv").write_bytes("slug,name.en\ncafé,Café\n".encode("latin-1"))
    (tmp_path / "a-file").write_text("not a folder\n", encoding="utf-8")
    os.mkfifo(tmp_path / "fifo.yaml")  # nothing ever writes to it: reading it would wait forever
    (tmp_path / "empty.yaml").write_bytes(b"")
    (tmp_path / "blank.json").write_text(" \n\t\n", encoding="utf-8")
    (tmp_path / "commas.csv").write_text(",,,\nx,y,z,w\n", encoding="utf-8")
    (tmp_path / "fifo-folder").mkdir()
    os.mkfifo(tmp_path / "fifo-folder" / "x.yaml")
    (tmp_path / "dangling-folder").mkdir()
    (tmp_path / "dangling-folder" / "d.yaml").symlink_to(tmp_path / "nowhere.yaml")
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(tmp_path / "socket.yaml"))
    request.addfinalizer(listening.close)
    (tmp_path / "header.csv").write_text("slug,kind\r\n", encoding="utf-8")
    (tmp_path / "in-the-way" / "meduza.yaml").mkdir(parents=True)
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "meduza.yaml").symlink_to(tmp_path / "a-file")
    (tmp_path / "dup-editor.py").write_text(
        "import sys\nopen(sys.argv[1], 'a', encoding='utf-8').write('status: closed\\n')\n", encoding="utf-8"
    )
    (tmp_path / "latin1-editor.py").write_text(
        "import sys\nopen(sys.argv[1], 'ab').write('summary: café'.encode('latin-1'))\n", encoding="utf-8"
    )
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<!doctype html><title>x</title>\n", encoding="utf-8")
    empty_config = tmp_path / "empty.toml"
    empty_config.write_text("", encoding="utf-8")
    filled = {"tmp": str(tmp_path), "port": str(taken_port), "python": sys.executable}
    args = [arg.format(**filled) for arg in case.args]
    env = {"NANSEN_CONFIG": str(empty_config), "NANSEN_SECRET": SECRET, "NANSEN_SMTP_URL": "smtp://127.0.0.1:1"}
    env.update({key: value.format(**filled) for key, value in case.env.items()})
    before, files = _counts(seeded_url), _files(tmp_path)

    result = Cli(seeded_url, CliRunner())(*args, env=env)

    assert "Traceback" not in result.output
    assert result.exit_code == case.code, result.output
    lines = [line for line in result.stderr.splitlines() if not line.startswith("import refused: 1 problem(s)")]
    assert len(lines) == 1, result.stderr
    assert case.says in lines[0], lines[0]
    assert _counts(seeded_url) == before
    assert _files(tmp_path) == files  # nothing created, nothing rewritten


def test_debug_shows_the_traceback_that_the_one_line_replaces(seeded_url: str, tmp_path: Path) -> None:
    result = Cli(seeded_url, CliRunner())("--debug", "publish", "--output", str(tmp_path / "x" / "y"))
    assert result.exit_code == 0  # building into a new folder is fine; --debug changes nothing else
    with pytest.raises(OSError):
        (tmp_path / "a-file").write_text("x", encoding="utf-8")
        Cli(seeded_url, CliRunner())("--debug", "publish", "--output", str(tmp_path / "a-file"))
