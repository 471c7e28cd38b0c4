"""Configuration, run records and locks, the scheduler in real processes, and one cycle."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from directory import entries
from directory.store import Store
from newsletter import subscribers as subs
from newsletter.models import Delivery
from pipeline import config, config_check, cron, jobs, runs
from tests.conftest import REPO, Cli, entry_record
from tests.mailsink import Sink

NANSEN = str(Path(sys.executable).with_name("nansen"))
OFF = {f"NANSEN_SCHEDULE_{job.upper()}": "off" for job in config.JOBS}


def test_file_then_environment_and_secrets_only_from_the_environment(tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "nansen.toml"
    path.write_text(
        '[site]\nurl = "https://nansen.example.org/"\nfeed_item_limit = 20\n'
        '[crawl]\nallow_networks = "10.0.0.0/8"\ncolour = "red"\n'
        '[newsletter]\nsecret = "in-the-file"\nsmtp_url = "smtp://user:pw@relay.example.org:587?starttls=1"\n'
        '[schedule]\nfeeds = "*/30 * * * *"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("NANSEN_CONFIG", str(path))
    monkeypatch.setenv("NANSEN_FEED_ITEM_LIMIT", "10")
    for name in ("NANSEN_SECRET", "NANSEN_SMTP_URL", "NANSEN_DATABASE_URL", "NANSEN_SITE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = config.load()
    assert settings.site.url == "https://nansen.example.org/" and settings.site.feed_item_limit == 10
    assert settings.crawl.allow_networks == ("10.0.0.0/8",) and settings.schedule.feeds == "*/30 * * * *"
    assert settings.newsletter.secret is None and settings.site.id_authority == "nansen.example.org"
    problems = config_check.check(settings)
    assert f"{path}: unknown setting [crawl] colour" in problems
    assert f"{path}: [newsletter] secret is a secret: set NANSEN_SECRET instead" in problems
    assert any("holds a password" in p for p in problems)
    described = dict((name, value) for name, value, _ in config.describe(settings))
    assert described["newsletter.smtp_url"] == "smtp://user:***@relay.example.org:587?starttls=1"


def test_config_check_command(cli: Cli, tmp_path: Path) -> None:
    env = {
        "NANSEN_CONFIG": str(tmp_path / "none.toml"),
        "NANSEN_SECRET": "s" * 32,
        "NANSEN_SMTP_URL": "smtp://user:hunter2hunter2@relay.example.org:587?starttls=1",
        "NANSEN_SITE_URL": "https://nansen.example.org/",
        "NANSEN_SCHEDULE_SITE": "61 * * * *",
    }
    result = cli("config", "check", env=env)
    assert result.exit_code == 1
    assert "hunter2" not in result.output and "(set, hidden)" in result.output
    assert "NANSEN_CONFIG names a file that does not exist" in result.output
    assert "NANSEN_SCHEDULE_SITE: '61 * * * *': minute: 61 is out of range 0-59" in result.output
    refused = cli("stats", env=env)  # a schedule that does not parse stops every command, in one line
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "NANSEN_SCHEDULE_SITE: '61 * * * *': minute: 61 is out of range 0-59" in refused.stderr


def test_config_check_masks_every_secret_and_takes_standard_cron(cli: Cli, tmp_path: Path) -> None:
    env = {
        "NANSEN_CONFIG": str(tmp_path / "none.toml"),
        "NANSEN_DATABASE_URL": "postgresql+psycopg://nansen:db-pass-123@db.example.org/nansen",
        "NANSEN_SECRET": "signing-secret-4567890",
        "NANSEN_SMTP_URL": "smtp://user:smtp-pass-456@relay.example.org:587?starttls=1",
        "NANSEN_SITE_URL": "https://nansen.example.org/",
        "NANSEN_SCHEDULE_SITE": "0 9 * * 0-6",
        "NANSEN_SCHEDULE_WATCH": "0 9 * * 0-4",
    }
    result = cli("config", "check", env=env)
    for secret in ("db-pass-123", "signing-secret-4567890", "smtp-pass-456"):
        assert secret not in result.output
    assert "postgresql+psycopg://nansen:***@db.example.org/nansen" in result.output
    assert "smtp://user:***@relay.example.org:587?starttls=1" in result.output
    problems = [line for line in result.output.splitlines() if line.startswith("problem:")]
    assert problems == ["problem: " + f"{tmp_path / 'none.toml'}: NANSEN_CONFIG names a file that does not exist"]


def test_a_value_that_does_not_parse_is_one_problem_and_its_default_is_used(monkeypatch: Any) -> None:
    monkeypatch.setenv("NANSEN_FEED_ITEM_LIMIT", "many")
    monkeypatch.setenv("NANSEN_CRAWL_POLITE", "perhaps")
    monkeypatch.delenv("NANSEN_CONFIG", raising=False)
    settings = config.load()
    assert settings.site.feed_item_limit == 50 and settings.crawl.polite is True
    assert settings.problems == (
        "NANSEN_FEED_ITEM_LIMIT: 'many' is not a whole number",
        "NANSEN_CRAWL_POLITE: 'perhaps' is not true or false",
    )


def test_slots_and_six_field_schedules() -> None:
    now = dt.datetime(2026, 11, 23, 9, 30, 15, 500000, tzinfo=dt.UTC)
    assert jobs.latest_slot("0 9 * * 1", "UTC", now, dt.timedelta(days=8)) == dt.datetime(
        2026, 11, 23, 9, 0, tzinfo=dt.UTC
    )
    assert jobs.latest_slot("* * * * * *", "UTC", now, dt.timedelta(minutes=1)) == now.replace(microsecond=0)
    assert jobs.latest_slot("0 9 * * 1", "UTC", now, dt.timedelta(minutes=5)) is None
    sunday = jobs.latest_slot("0 9 * * 0", "UTC", now, dt.timedelta(days=8))
    assert (
        sunday
        == jobs.latest_slot("0 9 * * 7", "UTC", now, dt.timedelta(days=8))
        == dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC)
    )
    assert jobs.latest_slot("0 9 * * 1-5", "UTC", now, dt.timedelta(days=8)).weekday() == 0
    with pytest.raises(ValueError, match="expected 5 cron fields"):
        cron.trigger_for("* * *", "UTC")


def test_each_slot_runs_once_and_a_held_lock_is_busy(store: Store) -> None:
    slot = dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC)
    first = runs.start_run(store, "feeds", slot)
    assert first is not None and runs.start_run(store, "feeds", slot) is None
    assert runs.start_run(store, "feeds", None) is not None and runs.start_run(store, "feeds", None) is not None
    with runs.job_lock(store, "feeds"):
        other = Store(store.url)
        try:
            with pytest.raises(runs.Busy), runs.job_lock(other, "feeds"):
                pass
            with runs.job_lock(other, "site"):
                pass
        finally:
            other.close()
    with runs.job_lock(store, "feeds"):  # released, so it can be taken again
        pass


def _env(store: Store, tmp_path: Path, **extra: str) -> dict[str, str]:
    (tmp_path / "empty.toml").write_text("")  # no nansen.toml of the working directory
    return {
        **os.environ,
        **OFF,
        "NANSEN_DATABASE_URL": store.url,
        "NANSEN_PUBLIC_DIR": str(tmp_path / "public"),
        "NANSEN_CONFIG": str(tmp_path / "empty.toml"),
        "NANSEN_MISFIRE_GRACE": "5",
        **extra,
    }


def _scheduler(env: dict[str, str], log: Path | None = None) -> subprocess.Popen[bytes]:
    output: Any = log.open("ab") if log else subprocess.DEVNULL
    return subprocess.Popen([NANSEN, "schedule"], env=env, cwd=REPO, stdout=output, stderr=output)


def test_two_schedulers_run_each_due_slot_once_and_never_concurrently(store: Store, tmp_path: Path) -> None:
    env = _env(store, tmp_path, NANSEN_SCHEDULE_PUBLISH="* * * * * *")
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    first, second = _scheduler(env, logs[0]), _scheduler(env, logs[1])

    def started_and_ran() -> bool:
        # Signal handlers are set before the scheduler starts: a started one stops cleanly on SIGTERM.
        if not all("Scheduler started" in log.read_text(errors="replace") for log in logs):
            return False
        with store.session() as session:
            return sum(r.outcome == "ok" for r in runs.recent(session, limit=500, job="publish")) >= 3

    deadline = time.monotonic() + 90  # generous: two processes start at once on a loaded machine
    while not started_and_ran():
        assert time.monotonic() < deadline, [log.read_text(errors="replace")[-2000:] for log in logs]
        time.sleep(0.5)
    time.sleep(2)  # both now compete for a few more slots
    for process in (first, second):
        process.send_signal(signal.SIGTERM)
    for process, log in zip((first, second), logs, strict=True):
        assert process.wait(timeout=30) == 0, log.read_text(errors="replace")[-3000:]
    with store.session() as session:
        records = runs.recent(session, limit=500, job="publish")
    done = [r for r in records if r.outcome == "ok"]
    assert len(done) >= 3, [(r.slot, r.outcome, r.error) for r in records]
    assert max(Counter(r.slot for r in records).values()) == 1
    spans = sorted((r.started_at, r.finished_at) for r in done)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, "two runs of the same job overlapped"
    assert all(r.outcome in ("ok", "skipped") for r in records)


def test_killing_the_scheduler_during_a_send_then_restarting_completes_once(
    store: Store, tmp_path: Path, mail_sink: tuple[Sink, str]
) -> None:
    sink, smtp = mail_sink
    people = [f"p{i:02d}@example.org" for i in range(16)]
    with store.session() as session:
        for address in people:
            subs.add_confirmed(session, address, "ru", subs.Preferences(), note="test")
        entries.add_entry(session, entry_record("org"), entries.Actor("maintainer"))
    env = _env(
        store,
        tmp_path,
        NANSEN_SCHEDULE_NEWSLETTER="* * * * * *",
        NANSEN_SECRET="s" * 32,
        NANSEN_SMTP_URL=smtp,
        NANSEN_SITE_URL="https://nansen.example.org/",
    )
    process: dict[str, Any] = {"p": _scheduler(env)}
    sink.on_mail = sink.killer(lambda: process["p"].pid, {7}, "421 4.3.0 Closing", sink.recorded(store))
    assert process["p"].wait(timeout=60) == -signal.SIGKILL
    assert 0 < len(sink.messages) < len(people)
    process["p"] = _scheduler(env)
    deadline = time.monotonic() + 60
    while len(sink.messages) < len(people) and time.monotonic() < deadline:
        time.sleep(0.2)
    process["p"].send_signal(signal.SIGTERM)
    process["p"].wait(timeout=30)
    assert Counter(m["To"] for m in sink.messages) == Counter({address: 1 for address in people})
    with store.session() as session:
        assert {d.status for d in session.scalars(select(Delivery))} == {"sent"}


def test_one_cycle_runs_every_job_and_records_it(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "empty.toml").write_text("")  # no nansen.toml of the working directory
    env = {"NANSEN_PUBLIC_DIR": str(tmp_path / "public"), "NANSEN_CONFIG": str(tmp_path / "empty.toml")}
    result = cli("run", env=env)
    assert result.exit_code == 0, result.output
    outcomes = ["feeds: ok", "site: ok", "watch: ok", "telegram: skipped", "newsletter: skipped"]
    assert result.output.splitlines() == outcomes
    assert (tmp_path / "public" / "ru" / "index.html").exists()
    listed = cli("runs", "--format", "json", env=env).output
    assert '"job": "newsletter"' in listed and '"outcome": "skipped"' in listed
