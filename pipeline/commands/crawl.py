"""`nansen crawl`: run a crawl in a child process with a progress bar, then print what it found."""

from __future__ import annotations

from functools import partial

import typer
from rich.progress import Progress, TaskID

from crawlers.run import KINDS, run_crawl
from directory.errors import UsageError
from pipeline.commands.output import console, settings
from pipeline.components import crawl_options


def crawl_command(
    ctx: typer.Context,
    kinds: list[str] = typer.Argument(None, help="site, feeds and/or watch [default: all three]."),
    entry: str | None = typer.Option(None, "--entry", help="Only this entry."),
) -> None:
    """Crawl the directory's sites, feeds and watched pages; findings become proposals to review."""
    chosen = kinds or list(KINDS)
    unknown = [k for k in chosen if k not in KINDS]
    if unknown:
        raise UsageError(f"unknown crawl {', '.join(unknown)} (expected {', '.join(KINDS)})")
    options = crawl_options(settings(ctx))
    out = console()
    failed = False
    for kind in chosen:
        with Progress(console=out, transient=True) as progress:
            task = progress.add_task(f"crawl {kind}", total=None)
            summary = run_crawl(kind, options, entry=entry, on_progress=partial(_advance, progress, task))
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(summary.errors.items())) or "none"
        out.print(
            f"{kind}: {summary.targets} targets, {summary.pages} pages, errors {errors}, "
            f"{summary.proposals} proposals, {summary.posts} new posts"
        )
        if summary.returncode != 0:
            failed = True
            out.print(f"[red]{kind} crawl failed[/red]: {summary.stats.get('stderr', '')[-500:]}", markup=True)
    if failed:
        raise typer.Exit(1)


def _advance(progress: Progress, task: TaskID, done: int, total: int) -> None:
    progress.update(task, completed=done, total=total)


app = typer.Typer()
app.command("crawl")(crawl_command)
