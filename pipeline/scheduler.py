"""`nansen schedule`: APScheduler 3 in a background thread, its jobs stored in the app's database.

The job store outlives the process, so at every start it is made to hold exactly the jobs the
configuration enables: the scheduler starts paused (nothing runs, and every change goes to the store
rather than to a pending list), removes each stored job that is switched off or no longer
configured, adds or replaces the enabled ones, and only then resumes. A job whose schedule did not
change keeps its stored next run time, so a slot missed during a restart still runs once (within the
misfire grace).

`coalesce` runs a job once after downtime rather than once per missed slot; `max_instances=1` keeps a
slow crawl from overlapping itself in this process, and the database lock and the unique run record
(pipeline.runs) do the same across processes. SIGTERM or SIGINT stops taking new runs and waits for
the one in progress; a killed process leaves its work resumable (crawls and sends are).
"""

from __future__ import annotations

import logging
import random
import signal
import threading
from collections.abc import Mapping
from typing import Any

from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import DBAPIError

from directory.store import make_engine
from pipeline import config
from pipeline.cron import trigger_for

log = logging.getLogger(__name__)
JOB_FUNCTION = "pipeline.jobs:scheduled"  # a textual reference, so the job store can keep it
TABLE = "apscheduler_jobs"


def build(engine: Any, timezone: str, misfire_grace_seconds: int) -> Any:
    """A scheduler (not started) whose jobs live in `engine`'s database."""
    return BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=TABLE)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": misfire_grace_seconds},
        timezone=timezone,
    )


def sync(scheduler: Any, expressions: Mapping[str, str], timezone: str) -> None:
    """Make the store of a started (paused) scheduler hold exactly the enabled jobs.

    `expressions` maps each job to its cron expression, "" when it is switched off; a stored job that
    is off or not named at all is removed. Raises ValueError for an invalid expression before the
    store is touched.
    """
    triggers = {job: trigger_for(expression, timezone) for job, expression in expressions.items() if expression}
    stored = {job.id: job for job in scheduler.get_jobs()}
    for job_id in sorted(stored.keys() - triggers.keys()):
        try:
            scheduler.remove_job(job_id)
        except JobLookupError:  # a scheduler starting at the same time removed it first
            continue
        log.info("removed %r from the job store: it is not enabled in the configuration", job_id)
    for job, trigger in triggers.items():
        previous = stored.get(job)
        keep: dict[str, Any] = {}
        if previous is not None and previous.next_run_time is not None and repr(previous.trigger) == repr(trigger):
            keep["next_run_time"] = previous.next_run_time
        scheduler.add_job(JOB_FUNCTION, trigger=trigger, args=[job], id=job, name=job, replace_existing=True, **keep)


def start(database_url: str, expressions: Mapping[str, str], timezone: str, misfire_grace_seconds: int) -> Any:
    """A running scheduler whose store holds exactly the enabled jobs (see `sync`)."""
    engine = make_engine(database_url)
    scheduler = build(engine, timezone, misfire_grace_seconds)
    try:
        scheduler.start(paused=True)
    except BaseException:
        engine.dispose()
        raise
    try:
        sync(scheduler, expressions, timezone)
    except BaseException:
        scheduler.shutdown(wait=False)
        raise
    scheduler.resume()
    return scheduler


def start_retrying(
    database_url: str,
    expressions: Mapping[str, str],
    timezone: str,
    misfire_grace_seconds: int,
    attempts: int = 5,
    stopping: threading.Event | None = None,
) -> Any | None:
    """`start`, again a moment later when it lost a race: two schedulers starting at once may both
    create the table or write the same jobs (they write the same jobs, so nothing is lost).
    None when `stopping` was set before a start succeeded."""
    stopping = stopping or threading.Event()
    for attempt in range(1, attempts + 1):
        if stopping.is_set():
            return None
        try:
            return start(database_url, expressions, timezone, misfire_grace_seconds)
        except (ConflictingIdError, JobLookupError, DBAPIError) as exc:
            if attempt == attempts:
                raise
            log.warning("starting the scheduler failed (%s); trying again", exc)
            stopping.wait(0.2 + random.random())
    return None


def run(settings: config.Settings, attempts: int = 5) -> None:
    """Start, then block until SIGTERM or SIGINT; then take no new runs and wait for the one in progress."""
    stopping = threading.Event()

    def stop(signum: int, _frame: Any) -> None:
        log.warning("signal %s: finishing the job in progress, then stopping", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    schedule = settings.schedule
    scheduler = start_retrying(
        settings.database_url,
        settings.jobs(),
        schedule.timezone,
        schedule.misfire_grace_seconds,
        attempts,
        stopping,
    )
    if scheduler is None:
        return
    try:
        stopping.wait()
    finally:
        scheduler.shutdown(wait=True)
