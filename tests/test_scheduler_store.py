"""The scheduler's job store on a real database holds exactly the enabled jobs once it has started.

None of these schedules comes due while a test runs ("0 0 1 1 *" is midnight on New Year's Day), so
no job body runs in the test process.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from directory.store import make_engine
from pipeline import scheduler
from pipeline.cron import trigger_for
from tests.conftest import REPO

NEVER = "0 0 1 1 *"
ALSO_NEVER = "0 0 2 1 *"


def stored(database_url: str) -> dict[str, float | None]:
    """Job id → next run time (a UTC timestamp) as the `apscheduler_jobs` table holds them."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(scheduler.TABLE):
                return {}
            rows = connection.execute(text(f"SELECT id, next_run_time FROM {scheduler.TABLE}"))
            return {row.id: row.next_run_time for row in rows}
    finally:
        engine.dispose()


@pytest.fixture
def paused(database_url: str) -> Iterator[Any]:
    """A started, paused scheduler on the test database: `sync` may change its store, nothing runs."""
    engine = make_engine(database_url)
    instance = scheduler.build(engine, "UTC", 60)
    instance.start(paused=True)
    yield instance
    instance.shutdown(wait=False)


def test_jobs_switched_off_or_removed_are_gone_from_the_store_at_start(database_url: str) -> None:
    before = scheduler.start(database_url, {"feeds": NEVER, "site": ALSO_NEVER, "publish": NEVER}, "UTC", 60)
    before.shutdown()
    assert set(stored(database_url)) == {"feeds", "site", "publish"}

    # publish switched off (""), site no longer in the configuration at all
    running = scheduler.start(database_url, {"feeds": NEVER, "watch": ALSO_NEVER, "publish": ""}, "UTC", 60)
    try:
        assert set(stored(database_url)) == {"feeds", "watch"}
        assert {job.id for job in running.get_jobs()} == {"feeds", "watch"}
    finally:
        running.shutdown()
    assert set(stored(database_url)) == {"feeds", "watch"}


def test_nothing_enabled_leaves_an_empty_store(database_url: str) -> None:
    scheduler.start(database_url, {"publish": NEVER}, "UTC", 60).shutdown()
    running = scheduler.start(database_url, {"publish": "", "feeds": ""}, "UTC", 60)
    try:
        assert stored(database_url) == {}
    finally:
        running.shutdown()


def test_an_invalid_expression_stops_the_start_before_the_store_changes(database_url: str) -> None:
    scheduler.start(database_url, {"publish": NEVER}, "UTC", 60).shutdown()
    with pytest.raises(ValueError, match="weekday: 8 is out of range 0-7"):
        scheduler.start(database_url, {"feeds": "0 9 * * 8", "publish": ""}, "UTC", 60)
    assert set(stored(database_url)) == {"publish"}


def test_an_unchanged_job_keeps_its_next_run_and_a_changed_one_is_rescheduled(paused: Any, database_url: str) -> None:
    """So a slot missed while the scheduler restarted still runs once (within the misfire grace)."""
    missed = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    for job, expression in (("feeds", NEVER), ("watch", NEVER)):
        paused.add_job(scheduler.JOB_FUNCTION, trigger_for(expression, "UTC"), args=[job], id=job, next_run_time=missed)
    scheduler.sync(paused, {"feeds": NEVER, "watch": ALSO_NEVER}, "UTC")
    jobs = {job.id: job for job in paused.get_jobs()}
    assert jobs["feeds"].next_run_time == missed
    assert jobs["watch"].next_run_time == trigger_for(ALSO_NEVER, "UTC").get_next_fire_time(
        None, dt.datetime.now(dt.UTC)
    )
    assert stored(database_url)["feeds"] == missed.timestamp()


def test_triggers_come_back_from_the_store_with_the_same_fire_times(paused: Any) -> None:
    expressions = {"feeds": "0 9 1 * 1", "site": "0 9 * * 0-4", "watch": "*/15 * * * *"}
    scheduler.sync(paused, expressions, "Europe/Berlin")
    start = dt.datetime(2026, 10, 24, 20, tzinfo=dt.UTC)
    for job in paused.get_jobs():  # unpickled from the table
        fresh = trigger_for(expressions[job.id], "Europe/Berlin")
        fire, expected = start, start
        for _ in range(20):
            fire = job.trigger.get_next_fire_time(None, fire + dt.timedelta(seconds=1))
            expected = fresh.get_next_fire_time(None, expected + dt.timedelta(seconds=1))
            assert fire == expected


def test_two_schedulers_starting_at_once_both_start(database_url: str) -> None:
    """They race to create the table and store the same jobs; the loser tries again."""
    expressions = {"feeds": NEVER, "site": ALSO_NEVER, "publish": ""}
    barrier = threading.Barrier(2)
    started: list[Any] = []
    failures: list[BaseException] = []

    def one() -> None:
        barrier.wait()
        try:
            started.append(scheduler.start_retrying(database_url, expressions, "UTC", 60, attempts=10))
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert not failures and len(started) == 2 and all(s is not None and s.running for s in started)
        assert set(stored(database_url)) == {"feeds", "site"}
    finally:
        for instance in started:
            if instance is not None:
                instance.shutdown()


def _wait_for(condition: Any, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
        time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_scheduler_process_drops_stale_jobs_and_stops_on_a_signal(
    database_url: str, tmp_path: Path, signum: int
) -> None:
    """`scheduler.run` as `nansen schedule` calls it, in its own process, configured by the environment."""
    previous = scheduler.start(database_url, {"publish": NEVER, "site": NEVER, "digest": NEVER}, "UTC", 60)
    previous.shutdown()
    env = {
        **os.environ,
        "NANSEN_DATABASE_URL": database_url,
        "NANSEN_CONFIG": str(tmp_path / "nansen.toml"),
        "NANSEN_SCHEDULE_FEEDS": NEVER,
        "NANSEN_SCHEDULE_SITE": "off",
        "NANSEN_SCHEDULE_WATCH": "off",
        "NANSEN_SCHEDULE_NEWSLETTER": "off",
        "NANSEN_SCHEDULE_BOUNCES": "off",
        "NANSEN_SCHEDULE_PUBLISH": "off",
        "NANSEN_SCHEDULE_TELEGRAM": "off",
    }
    (tmp_path / "nansen.toml").write_text("", encoding="utf-8")
    log = tmp_path / "scheduler.log"
    code = "from pipeline import config, scheduler; scheduler.run(config.load())"
    with log.open("wb") as output:
        process = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=REPO, stdout=output, stderr=output)
    try:
        _wait_for(lambda: set(stored(database_url)) == {"feeds"}, process, log)
        process.send_signal(signum)
        assert process.wait(timeout=30) == 0, log.read_text(errors="replace")[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert set(stored(database_url)) == {"feeds"}
