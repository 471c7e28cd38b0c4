"""What the scheduler runs, and `nansen run` too: one implementation of each job.

Crawl jobs publish after crawling; the newsletter job sends the edition that is due (resuming a
half-sent one), archives it and publishes; the bounces job reads the bounces that arrived since.
Every run is recorded and holds its job's lock.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from crawlers.run import run_crawl
from directory.models import utcnow
from directory.store import Store
from newsletter import archive, editions
from newsletter import bounces as bounce_mail
from newsletter.editions import NewsletterSettings
from pipeline import config, runs
from pipeline.components import crawl_options, mail_sender, newsletter_settings, site_settings, telegram_settings
from pipeline.cron import latest_slot
from publishing import site as publishing_site
from publishing.archive import write_archive
from publishing.site import BuildReport, SiteSettings

log = logging.getLogger(__name__)
CRAWL_JOBS = ("feeds", "site", "watch")


# --------------------------------------------------------------------------- job bodies


def build_site(session: Session, site: SiteSettings) -> BuildReport:
    """The site with the newsletter's archive index (publishing knows nothing of mail)."""
    return publishing_site.build(session, site, archive.listings(session))


def archive_editions(session: Session, nl: NewsletterSettings, output: Path) -> list[Path]:
    """Every sent edition's page on the site, without personal links."""
    return write_archive(archive.archived_editions(session, nl), output)


def publish(settings: config.Settings, store: Store) -> dict[str, Any]:
    with store.session() as session:
        report = build_site(session, site_settings(settings))
    counts: dict[str, Any] = {"files_written": report.total_written, "files_unchanged": sum(report.unchanged.values())}
    if report.skipped:
        counts["rows_left_out"] = report.skipped
    return counts


class PartlyFailed(RuntimeError):
    """The job did its work but failed somewhere: the run is recorded as failed, with its counts."""

    def __init__(self, message: str, counts: dict[str, Any]) -> None:
        super().__init__(message)
        self.counts = counts


def crawl(kind: str, settings: config.Settings, store: Store) -> dict[str, Any]:
    """Crawl, then publish what the crawl stored, also when it failed part-way (what it stored is good).
    Raises PartlyFailed, naming each failure, when the crawl failed anywhere."""
    summary = run_crawl(kind, crawl_options(settings))
    counts: dict[str, Any] = {
        "targets": summary.targets,
        "pages": summary.pages,
        "proposals": summary.proposals,
        "posts": summary.posts,
        "errors": dict(summary.errors),
    }
    counts |= publish(settings, store)
    if not summary.ok:
        counts["failures"] = [str(failure) for failure in summary.failures]
        raise PartlyFailed(f"{kind} crawl failed: " + "; ".join(counts["failures"]), counts)
    return counts


def newsletter(settings: config.Settings, store: Store) -> dict[str, Any]:
    if not settings.newsletter.secret or not settings.newsletter.smtp_url:
        return {"skipped": "NANSEN_SECRET and NANSEN_SMTP_URL are needed to send"}
    nl = newsletter_settings(settings)
    report = editions.send(store.session, nl, mail_sender(settings))
    counts: dict[str, Any] = {
        "edition": report.edition,
        "status": report.status,
        "sent": report.sent,
        "bounced": report.bounced,
        "retry": report.retry,
        "failed": report.failed,
        "segments": report.segments,
    }
    if report.stopped:  # recorded as a failed run, with the server's words; the next run resumes
        raise RuntimeError(f"edition {report.edition}: {report.status}")
    if report.status == "sent":
        with store.session() as session:
            counts["archived"] = len(archive_editions(session, nl, settings.site.public_dir))
        counts |= publish(settings, store)
    return counts


def read_bounces(settings: config.Settings, store: Store) -> dict[str, Any]:
    """The bounces that arrived in `bounces_url` since the last run (see newsletter/bounces.py)."""
    if not settings.newsletter.bounces_url:
        return {"skipped": "NANSEN_BOUNCES_URL is needed to read bounces"}
    options = bounce_mail.BounceSettings(soft_limit=settings.newsletter.soft_bounce_limit)
    with bounce_mail.open_mailbox(settings.newsletter.bounces_url.get_secret_value()) as mailbox:
        return bounce_mail.process(store.session, mailbox, options).counts()


def post_to_telegram(settings: config.Settings, store: Store) -> dict[str, Any]:
    """Post each new update to the configured channels (see publishing/telegram.py)."""
    options = telegram_settings(settings)
    if options is None:
        return {"skipped": "NANSEN_TELEGRAM_TOKEN and a channel are needed to post"}
    from publishing import telegram  # noqa: PLC0415 - aiogram takes seconds to import: only when posting

    try:
        report = telegram.post(store.session, options)
    except Exception as exc:  # recorded in `runs`, which must never hold the token
        raise RuntimeError(options.redact(f"{type(exc).__name__}: {exc}")) from None
    counts = report.counts()
    if report.stopped:  # recorded as a failed run, in Telegram's words; the next run resumes
        raise PartlyFailed("telegram: " + "; ".join(report.stopped), counts)
    return counts


def body(job: str) -> Callable[[config.Settings, Store], dict[str, Any]]:
    if job in CRAWL_JOBS:
        return lambda settings, store: crawl(job, settings, store)
    return {"newsletter": newsletter, "bounces": read_bounces, "publish": publish, "telegram": post_to_telegram}[job]


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
        except PartlyFailed as exc:
            log.error("%s", exc)
            runs.finish_run(store, run_id, "failed", exc.counts, error=str(exc)[:2000])
            return "failed"
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
    window = dt.timedelta(seconds=settings.schedule.misfire_grace_seconds) + dt.timedelta(minutes=1)
    slot = latest_slot(settings.schedule.expressions()[job], settings.schedule.timezone, utcnow(), window)
    return execute(job, settings, slot)


def newsletter_due(settings: config.Settings, store: Store) -> tuple[bool, dt.datetime | None]:
    """(due, slot): an edition is half-sent (resume it, outside any slot), or the newsletter
    schedule has a slot that has not been run yet."""
    with store.session() as session:
        if editions.current(session) is not None:
            return True, None
    expression = settings.schedule.newsletter
    if not expression:
        return False, None
    slot = latest_slot(expression, settings.schedule.timezone, utcnow(), dt.timedelta(days=8))
    last = runs.last_success(store, "newsletter")
    due = slot is not None and (last is None or (last.slot or last.started_at) < slot)
    return due, slot


def cycle(settings: config.Settings, on_step: Callable[[str, str], None] | None = None) -> dict[str, str]:
    """`nansen run`: crawl (site, feeds, watch) → publish → Telegram → the newsletter if one is due."""
    outcomes: dict[str, str] = {}
    for job in (*CRAWL_JOBS, "telegram"):
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
