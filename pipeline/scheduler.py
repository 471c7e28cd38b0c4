"""`nansen schedule`: an APScheduler 3 BlockingScheduler whose jobs live in the same database.

`coalesce` runs a job once after downtime rather than once per missed slot; `max_instances=1` keeps a
slow crawl from overlapping itself in this process, and the database lock and the unique run record
(pipeline.runs) do the same across processes. SIGTERM or SIGINT stops taking new runs and waits for
the one in progress; a killed process leaves its work resumable (crawls and sends are).
"""

from __future__ import annotations

import logging
import random
import signal
import time
from typing import Any

from pipeline import config
from pipeline.jobs import trigger_for

log = logging.getLogger(__name__)


def build(settings: config.Settings) -> Any:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.blocking import BlockingScheduler

    from directory.store import make_engine

    scheduler = BlockingScheduler(
        jobstores={
            "default": SQLAlchemyJobStore(engine=make_engine(settings.database_url), tablename="apscheduler_jobs")
        },
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": settings.misfire_grace_seconds},
        timezone=settings.timezone,
    )
    for job, expression in settings.schedules.items():
        if expression:
            scheduler.add_job(
                "pipeline.jobs:scheduled",
                trigger=trigger_for(expression, settings.timezone),
                args=[job],
                id=job,
                name=job,
                replace_existing=True,
            )
        else:
            scheduler.add_job(
                "pipeline.jobs:scheduled",
                trigger=trigger_for("0 0 1 1 *", settings.timezone),
                args=[job],
                id=job,
                name=job,
                replace_existing=True,
            )
            scheduler.remove_job(job)
    return scheduler


def run(settings: config.Settings, attempts: int = 5) -> None:
    """Start and block. Two schedulers starting at once may race to store the same jobs; the loser
    of that race starts again a moment later (the jobs are the same, so nothing is lost)."""
    from apscheduler.jobstores.base import ConflictingIdError
    from sqlalchemy.exc import DBAPIError

    current: dict[str, Any] = {}

    def stop(signum: int, _frame: Any) -> None:
        log.warning("signal %s: finishing the job in progress, then stopping", signum)
        current["stopping"] = True
        if "scheduler" in current and current["scheduler"].running:
            current["scheduler"].shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for attempt in range(1, attempts + 1):
        if current.get("stopping"):
            return
        current["scheduler"] = build(settings)
        try:
            current["scheduler"].start()
            return
        except (ConflictingIdError, DBAPIError) as exc:
            if attempt == attempts:
                raise
            log.warning("starting the scheduler failed (%s); trying again", exc)
            time.sleep(0.2 + random.random())
