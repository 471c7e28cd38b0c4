"""What the scheduler runs, and `nansen run` too: one implementation of each job.

Crawl jobs publish after crawling; the newsletter job sends the edition that is due (resuming a
half-sent one), archives it and publishes. Every run is recorded and holds its job's lock.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from typing import Any

from directory.models import utcnow
from directory.store import Store
from pipeline import config, runs

log = logging.getLogger(__name__)
CRAWL_JOBS = ("feeds", "site", "watch")


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _weekday_names(field: str) -> str:
    """Cron numbers weekdays from Sunday (0 or 7); APScheduler 3 from Monday. Names mean the same to both."""
    return re.sub(r"(?<![/\d])([0-7])(?!\d)", lambda m: _WEEKDAYS[int(m.group(1))], field)


def trigger_for(expression: str, timezone: str) -> Any:
    """A cron trigger: five fields as in crontab(5), or six with seconds first (for tests and demos)."""
    from apscheduler.triggers.cron import CronTrigger

    fields = expression.split()
    if len(fields) == 5:
        fields = ["0", *fields]
    if len(fields) != 6:
        raise ValueError(f"{expression!r}: expected 5 cron fields (or 6 with seconds first)")
    second, minute, hour, day, month, weekday = fields
    return CronTrigger(
        second=second,
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_weekday_names(weekday),
        timezone=timezone,
    )


def latest_slot(expression: str, timezone: str, now: dt.datetime, window: dt.timedelta) -> dt.datetime | None:
    """The most recent time ≤ now the schedule was due (looking back at most `window`)."""
    trigger = trigger_for(expression, timezone)
    fire = trigger.get_next_fire_time(None, now - window)
    slot = None
    while fire is not None and fire <= now:
        slot = fire
        fire = trigger.get_next_fire_time(fire, fire + dt.timedelta(microseconds=1))
    return slot.astimezone(dt.UTC) if slot else None


# --------------------------------------------------------------------------- job bodies


def publish(settings: config.Settings, store: Store) -> dict[str, Any]:
    from newsletter import site
    from newsletter.feeds import FeedSettings

    with store.session() as session:
        report = site.build(
            session,
            site.SiteSettings(
                settings.public_dir, FeedSettings(settings.site_url, settings.id_authority, settings.feed_item_limit)
            ),
        )
    return {"files_written": report.total_written, "files_unchanged": sum(report.unchanged.values())}


def crawl(kind: str, settings: config.Settings, store: Store) -> dict[str, Any]:
    from crawlers.run import CrawlOptions, run_crawl

    options = CrawlOptions.from_settings(settings)
    summary = run_crawl(kind, options)
    if summary.returncode != 0:
        raise RuntimeError(f"{kind} crawl failed: {summary.stats.get('stderr', '')[-300:]}")
    counts = {
        "targets": summary.targets,
        "pages": summary.pages,
        "proposals": summary.proposals,
        "posts": summary.posts,
        "errors": dict(summary.errors),
    }
    return counts | publish(settings, store)


def newsletter(settings: config.Settings, store: Store) -> dict[str, Any]:
    from newsletter import editions
    from newsletter.archive import write_archive
    from newsletter.delivery import SmtpSender, parse_smtp_url
    from newsletter.mail_cli import newsletter_settings

    if not settings.secret or not settings.smtp_url:
        return {"skipped": "NANSEN_SECRET and NANSEN_SMTP_URL are needed to send"}
    nl = newsletter_settings(settings)
    report = editions.send(store.session, nl, SmtpSender(parse_smtp_url(settings.smtp_url)))
    counts: dict[str, Any] = {
        "edition": report.edition,
        "status": report.status,
        "sent": report.sent,
        "bounced": report.bounced,
        "retry": report.retry,
        "segments": report.segments,
    }
    if report.status == "sent":
        with store.session() as session:
            counts["archived"] = len(write_archive(session, nl, settings.public_dir))
        counts |= publish(settings, store)
    return counts


def body(job: str) -> Callable[[config.Settings, Store], dict[str, Any]]:
    if job in CRAWL_JOBS:
        return lambda settings, store: crawl(job, settings, store)
    return {"newsletter": newsletter, "publish": publish}[job]


# --------------------------------------------------------------------------- running, recorded and locked


def execute(job: str, settings: config.Settings, slot: dt.datetime | None = None) -> str:
    """Run one job under its lock, recorded; returns the outcome (ok, failed, skipped, duplicate)."""
    store = Store(settings.database_url)
    try:
        run_id = runs.start_run(store, job, slot)
        if run_id is None:
            return "duplicate"
        try:
            with runs.job_lock(store, job):
                counts = body(job)(settings, store)
        except runs.Busy:
            runs.finish_run(store, run_id, "skipped", error="running in another process")
            return "skipped"
        except Exception as exc:  # a failed run is recorded; the scheduler goes on
            log.exception("%s failed", job)
            runs.finish_run(store, run_id, "failed", error=f"{type(exc).__name__}: {exc}"[:2000])
            return "failed"
        outcome = "skipped" if "skipped" in counts else "ok"
        runs.finish_run(store, run_id, outcome, counts)
        return outcome
    finally:
        store.close()


def scheduled(job: str) -> str:
    """Entry point of the scheduler's jobs (a textual reference, so the job store can keep it)."""
    settings = config.load()
    window = dt.timedelta(seconds=settings.misfire_grace_seconds) + dt.timedelta(minutes=1)
    slot = latest_slot(settings.schedules[job], settings.timezone, utcnow(), window)
    return execute(job, settings, slot)


def newsletter_due(settings: config.Settings, store: Store) -> tuple[bool, dt.datetime | None]:
    """(due, slot): an edition is half-sent (resume it, outside any slot), or the newsletter
    schedule has a slot that has not been run yet."""
    from newsletter import editions

    with store.session() as session:
        if editions.current(session) is not None:
            return True, None
    expression = settings.schedules.get("newsletter")
    if not expression:
        return False, None
    slot = latest_slot(expression, settings.timezone, utcnow(), dt.timedelta(days=8))
    last = runs.last_success(store, "newsletter")
    due = slot is not None and (last is None or (last.slot or last.started_at) < slot)
    return due, slot


def cycle(settings: config.Settings, on_step: Callable[[str, str], None] | None = None) -> dict[str, str]:
    """`nansen run`: crawl (site, feeds, watch) → publish → the newsletter if one is due."""
    outcomes: dict[str, str] = {}
    for job in CRAWL_JOBS:
        outcomes[job] = execute(job, settings)
        if on_step:
            on_step(job, outcomes[job])
    store = Store(settings.database_url)
    try:
        due, slot = newsletter_due(settings, store)
    finally:
        store.close()
    outcomes["newsletter"] = execute("newsletter", settings, slot) if due else "not due"
    if on_step:
        on_step("newsletter", outcomes["newsletter"])
    return outcomes
