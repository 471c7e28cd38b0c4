"""Scale-out, proven: the spiders deployed to a real scrapyd and a feeds crawl scheduled through its HTTP API.

scrapyd (from PyPI, in the `test` extras) runs on 127.0.0.1 on a free port with its own configuration,
eggs, logs and queues in a temporary folder. The egg is built as an operator builds it
(`python -m crawlers.egg`), uploaded with addversion.json, and a feeds crawl of the fixture web is
scheduled with schedule.json, writing to a PostgreSQL schema passed as the job's NANSEN_DATABASE_URL
setting. The same entries crawled by `nansen crawl feeds` into a second schema must give the same posts.
Skipped without scrapyd or PostgreSQL, failed under CI=true.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from directory import entries
from directory.models import Entry, FeedState, Post
from directory.store import Store, upgrade
from pipeline.config import MIGRATION_LOCATIONS
from tests.conftest import ON_CI, PG_URL, REPO, Cli, _postgresql_schema_url, entry_record, free_port
from tests.fixtureweb import FixtureWeb
from tests.test_crawlers import FEEDS

# What the scrapyd service's environment says, as an operator's unit file would; the database is
# deliberately left out of it, so the job can only write where its own setting points.
CRAWL_ENV = {
    "NANSEN_CONTACT_URL": "https://nansen.example.org/contact",
    "NANSEN_CRAWL_ALLOW_NETWORKS": "127.0.0.0/8",
    "NANSEN_CRAWL_POLITE": "0",
}
STARTUP_TIMEOUT = 60.0  # seconds; a loaded 2-core machine starts Twisted slowly
JOB_TIMEOUT = 90.0
SCRAPYD_CONF = """\
[scrapyd]
bind_address = 127.0.0.1
http_port = {port}
eggs_dir = {root}/eggs
logs_dir = {root}/logs
dbs_dir = {root}/dbs
items_dir =
poll_interval = 0.2
max_proc = 2
"""


def _required(what: str, reason: str) -> None:
    if ON_CI:
        pytest.fail(f"CI=true but {what}: the scrapyd test must run in CI")
    pytest.skip(reason)


@pytest.fixture
def pg_urls() -> Iterator[tuple[str, str]]:
    """Two fresh PostgreSQL schemas, migrated: (for scrapyd, for `nansen crawl`)."""
    if importlib.util.find_spec("scrapyd") is None:
        _required("scrapyd is not installed", "scrapyd is not installed (pip install -e '.[test]')")
    if not PG_URL:
        _required("NANSEN_TEST_DATABASE_URL is not set", "scrapyd writes to PostgreSQL: set NANSEN_TEST_DATABASE_URL")
    assert PG_URL is not None
    first, second = _postgresql_schema_url(PG_URL), _postgresql_schema_url(PG_URL)
    try:
        urls = (next(first), next(second))
        for url in urls:
            store = Store(url, create=True)
            upgrade(store.engine, locations=MIGRATION_LOCATIONS)
            store.close()
        yield urls
    finally:
        first.close()
        second.close()


class Scrapyd:
    """A scrapyd process of this test's own, and the HTTP API it serves."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        (root / "scrapyd.conf").write_text(SCRAPYD_CONF.format(port=self.port, root=root))
        env = {key: value for key, value in os.environ.items() if key != "NANSEN_DATABASE_URL"} | CRAWL_ENV
        self.output = (root / "scrapyd.out").open("wb")
        # Its own session: the jobs it starts are killed with it, whatever the test's outcome.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scrapyd"],
            cwd=root,
            env=env,
            stdout=self.output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.http = httpx.Client(base_url=self.url, timeout=60)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"scrapyd exited: {self.log()}"
            try:
                if self.http.get("daemonstatus.json").json()["status"] == "ok":
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail(f"scrapyd did not answer within {STARTUP_TIMEOUT} s: {self.log()}")

    def call(self, endpoint: str, **request: Any) -> dict[str, Any]:
        method = "POST" if "data" in request or "files" in request else "GET"
        answer = self.http.request(method, endpoint, **request)
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        assert body["status"] == "ok", body
        return body

    def wait_finished(self, project: str, job: str) -> dict[str, Any]:
        deadline = time.monotonic() + JOB_TIMEOUT
        while time.monotonic() < deadline:
            jobs = self.call("listjobs.json", params={"project": project})
            finished = [j for j in jobs["finished"] if j["id"] == job]
            if finished:
                return finished[0]
            time.sleep(0.3)
        pytest.fail(f"job {job} did not finish within {JOB_TIMEOUT} s: {self.log()}")

    def job_log(self, project: str, spider: str, job: str) -> str:
        path = self.root / "logs" / project / spider / f"{job}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def log(self) -> str:
        self.output.flush()
        return (self.root / "scrapyd.out").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        self.http.close()
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        finally:
            self.output.close()


@pytest.fixture
def scrapyd(pg_urls: tuple[str, str], tmp_path: Path) -> Iterator[Scrapyd]:
    daemon = Scrapyd(tmp_path)
    try:
        daemon.wait_ready()
        yield daemon
    finally:
        daemon.stop()


def add_feeds(url: str, web: FixtureWeb) -> None:
    store = Store(url)
    try:
        with store.session() as session:
            for site, path in FEEDS.items():
                entries.add_entry(session, entry_record(site, feeds=[web.url(site, path)]), entries.Actor("maintainer"))
    finally:
        store.close()


def stored(url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The posts and feed states at `url`, by entry slug, without ids or fetch times."""
    store = Store(url)
    try:
        with store.session() as session:
            posts = session.execute(
                select(
                    Entry.slug, Post.feed_url, Post.guid, Post.title, Post.link, Post.published_at, Post.summary,
                    Post.language,
                ).join(Entry, Entry.id == Post.entry_id)
            )  # fmt: skip
            states = session.execute(
                select(
                    Entry.slug, FeedState.url, FeedState.etag, FeedState.last_modified, FeedState.last_status,
                    FeedState.last_error,
                ).join(Entry, Entry.id == FeedState.entry_id)
            )  # fmt: skip
            return sorted(tuple(row) for row in posts), sorted(tuple(row) for row in states)
    finally:
        store.close()


def test_a_feeds_crawl_deployed_to_scrapyd_stores_what_nansen_crawl_stores(
    scrapyd: Scrapyd, pg_urls: tuple[str, str], fixture_web: FixtureWeb, tmp_path: Path
) -> None:
    deployed_url, cli_url = pg_urls
    for url in pg_urls:
        add_feeds(url, fixture_web)

    cli = Cli(cli_url, CliRunner())
    result = cli("crawl", "feeds", env=CRAWL_ENV)
    assert result.exit_code == 0, result.output
    assert f"feeds: {len(FEEDS)} targets" in result.output

    egg = tmp_path / "nansen.egg"
    subprocess.run([sys.executable, "-m", "crawlers.egg", str(egg), "--version", "1"], cwd=REPO, check=True)
    with egg.open("rb") as upload:
        added = scrapyd.call(
            "addversion.json", data={"project": "nansen", "version": "1"}, files={"egg": ("nansen.egg", upload)}
        )
    assert added["spiders"] == 3
    listed = scrapyd.call("listspiders.json", params={"project": "nansen"})
    assert sorted(listed["spiders"]) == ["feeds", "site", "watch"]

    job = scrapyd.call(
        "schedule.json",
        data={"project": "nansen", "spider": "feeds", "setting": f"NANSEN_DATABASE_URL={deployed_url}"},
    )["jobid"]
    finished = scrapyd.wait_finished("nansen", job)
    log = scrapyd.job_log("nansen", "feeds", job)
    assert "Traceback" not in log and " ERROR" not in log, log[-3000:]
    assert finished["spider"] == "feeds"

    posts, states = stored(deployed_url)
    assert (posts, states) == stored(cli_url)
    assert len({slug for slug, *_ in posts}) >= 8 and len(posts) >= 25
    assert all(fixture_web.hits(site, path) == 2 for site, path in FEEDS.items())
