"""`nansen schedule`: an APScheduler 3 BlockingScheduler whose jobs live in the same database.

`coalesce` runs a job once after downtime rather than once per missed slot; `max_instances=1` keeps a
slow crawl from overlapping itself in this process, and the database lock and the unique run record
(pipeline.runs) do the same across processes. SIGTERM or SIGINT stops taking new runs and waits for
the one in progress; a killed process leaves its work resumable (crawls and sends are).
"""

from __future__ import annotations

import logging
import signal
from typing import Any

from pipeline import config
from pipeline.jobs import trigger_for

log = logging.getLogger(__name__)


def build(settings: config.Settings) -> Any:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=settings.database_url, tablename="apscheduler_jobs")},
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


def run(settings: config.Settings) -> None:
    scheduler = build(settings)

    def stop(signum: int, _frame: Any) -> None:
        log.warning("signal %s: finishing the job in progress, then stopping", signum)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scheduler.start()
