"""`nansen schedule`, `nansen run`, `nansen runs`: the scheduled jobs and their records."""

from __future__ import annotations

import json
import logging

import typer

from directory.errors import UsageError
from pipeline import jobs, runs, scheduler
from pipeline.commands.output import (
    TableFormat,
    check_database,
    emit_rows,
    excel_option,
    format_option,
    settings,
    typer_app,
    unit_of_work,
)
from pipeline.config import JOBS


def schedule_command(ctx: typer.Context) -> None:
    """Run the scheduler in the foreground (crawls, publishing, newsletter) until SIGTERM/SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    current = settings(ctx)
    check_database(ctx)
    enabled = ", ".join(f"{job} ({expr})" for job, expr in current.schedule.expressions().items() if expr)
    typer.echo(f"scheduling: {enabled} [{current.schedule.timezone}]")
    scheduler.run(current)


def run_command(ctx: typer.Context) -> None:
    """One full cycle now: crawl → publish → Telegram → newsletter if due (what the scheduler runs)."""
    check_database(ctx)
    outcomes = jobs.cycle(settings(ctx), on_step=lambda job, outcome: typer.echo(f"{job}: {outcome}"))
    if "failed" in outcomes.values():
        raise typer.Exit(1)


_RUN_COLUMNS = ["id", "job", "slot", "started_at", "finished_at", "outcome", "counts", "error", "holder"]


def runs_command(
    ctx: typer.Context,
    job: str | None = typer.Option(None, "--job"),
    limit: int = typer.Option(30, "--limit", min=1, max=100_000, help="The most recent this many runs."),
    fmt: TableFormat = format_option(),
    excel: bool = excel_option(),
) -> None:
    """Recent runs of the scheduled jobs: start, end, outcome, counts."""
    if job is not None and job not in JOBS:
        raise UsageError(f"--job: {job!r} is not one of {', '.join(JOBS)}")
    with unit_of_work(ctx) as session:
        rows = [
            {
                "id": r.id,
                "job": r.job,
                "slot": r.slot.isoformat() if r.slot else None,
                "started_at": r.started_at.isoformat(),
                "finished_at": r.finished_at.isoformat() if r.finished_at else None,
                "outcome": r.outcome,
                "counts": r.counts,
                "error": r.error,
                "holder": r.holder,
            }
            for r in runs.recent(session, limit=limit, job=job)
        ]
    if fmt == TableFormat.table:
        rows = [{**r, "counts": json.dumps(r["counts"], ensure_ascii=False) if r["counts"] else ""} for r in rows]
    emit_rows(
        rows,
        fmt,
        _RUN_COLUMNS,
        title="runs",
        table_columns=["id", "job", "started_at", "finished_at", "outcome", "counts", "error"],
        excel=excel,
    )


app = typer_app()
app.command("schedule")(schedule_command)
app.command("run")(run_command)
app.command("runs")(runs_command)
