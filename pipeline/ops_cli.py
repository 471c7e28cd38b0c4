"""`nansen config check`, `nansen schedule`, `nansen run`, `nansen runs`."""

from __future__ import annotations

import typer

from directory.cli import TableFormat, _csv, _json, _table

config_app = typer.Typer(help="The installation's configuration.", no_args_is_help=True)


@config_app.command("check")
def config_check(ctx: typer.Context) -> None:
    """Print the effective configuration (secrets masked) and every problem found."""
    from pipeline import config

    settings = ctx.find_root().obj
    rows = [{"setting": name, "value": value, "from": origin} for name, value, origin in config.describe(settings)]
    _table(rows, ["setting", "value", "from"], title=f"configuration ({settings.config_path or 'no nansen.toml'})")
    problems = config.check(settings)
    for problem in problems:
        typer.echo(f"problem: {problem}", err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo("no problems found")


def schedule_command(ctx: typer.Context) -> None:
    """Run the scheduler in the foreground (crawls, publishing, newsletter) until SIGTERM/SIGINT."""
    import logging

    from pipeline import scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = ctx.find_root().obj
    enabled = ", ".join(f"{job} ({expr})" for job, expr in settings.schedules.items() if expr)
    typer.echo(f"scheduling: {enabled} [{settings.timezone}]")
    scheduler.run(settings)


def run_command(ctx: typer.Context) -> None:
    """One full cycle now: crawl → publish → newsletter if one is due (what the scheduler runs)."""
    from pipeline import jobs

    settings = ctx.find_root().obj
    outcomes = jobs.cycle(settings, on_step=lambda job, outcome: typer.echo(f"{job}: {outcome}"))
    if "failed" in outcomes.values():
        raise typer.Exit(1)


def runs_command(
    ctx: typer.Context,
    job: str | None = typer.Option(None, "--job"),
    limit: int = typer.Option(30, "--limit"),
    fmt: TableFormat = typer.Option(TableFormat.table, "--format"),
) -> None:
    """Recent runs of the scheduled jobs: start, end, outcome, counts."""
    import json

    from directory.cli import unit_of_work
    from pipeline import runs

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
    columns = ["id", "job", "slot", "started_at", "finished_at", "outcome", "counts", "error", "holder"]
    if fmt == TableFormat.json:
        _json(rows)
    elif fmt == TableFormat.csv:
        _csv([{**r, "counts": json.dumps(r["counts"], ensure_ascii=False)} for r in rows], columns)
    else:
        _table(
            [{**r, "counts": json.dumps(r["counts"], ensure_ascii=False) if r["counts"] else ""} for r in rows],
            ["id", "job", "started_at", "finished_at", "outcome", "counts", "error"],
            title="runs",
        )


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
    app.command("schedule")(schedule_command)
    app.command("run")(run_command)
    app.command("runs")(runs_command)
