"""`nansen crawl`: run a crawl in a child process with a progress bar, then print what it found."""

from __future__ import annotations

from functools import partial

import typer
from rich.markup import escape
from rich.progress import Progress, TaskID

from crawlers.run import KINDS, run_crawl
from directory.entries import get_entry
from directory.errors import UsageError
from pipeline.commands.output import console, settings, typer_app, unit_of_work, visible
from pipeline.components import crawl_options


def crawl_command(
    ctx: typer.Context,
    kinds: list[str] = typer.Argument(None, help="site, feeds and/or watch [default: all three]."),
    entry: str | None = typer.Option(None, "--entry", help="Only this entry."),
) -> None:
    """Crawl the directory's sites, feeds and watched pages; findings become proposals to review.

    Exits 1 when the crawl itself failed anywhere (a feed that could not be parsed, an item that could
    not be stored, a crashed crawl process), naming the entry, or when the address guard refused every
    site (naming the setting that allows a network); what the sites answered (a 404, a refused
    connection) is a finding, counted under `errors`, not a failure.
    """
    chosen = kinds or list(KINDS)
    unknown = [k for k in chosen if k not in KINDS]
    if unknown:
        raise UsageError(f"unknown crawl {', '.join(unknown)} (expected {', '.join(KINDS)})")
    with unit_of_work(ctx) as session:  # a bad database or slug is one line here, not a crashed crawl process
        if entry is not None:
            get_entry(session, entry)
    options = crawl_options(settings(ctx))
    out = console()
    failed = False
    for kind in chosen:
        with Progress(console=out, transient=True) as progress:
            task = progress.add_task(f"crawl {kind}", total=None)
            summary = run_crawl(kind, options, entry=entry, on_progress=partial(_advance, progress, task))
        errors = escape(visible(", ".join(f"{k}: {v}" for k, v in sorted(summary.errors.items())))) or "none"
        out.print(
            f"{kind}: {summary.targets} targets, {summary.pages} pages, errors {errors}, "
            f"{summary.proposals} proposals, {summary.posts} new posts"
        )
        for failure in summary.failures:  # logs quote crawled URLs and text
            typer.echo(f"{kind} crawl failed: {visible(str(failure))}", err=True)
        if summary.returncode != 0:
            stderr = str(summary.stats.get("stderr", ""))[-500:]
            out.print(f"[red]{kind} crawl process[/red]: {escape(visible(stderr, lines=True))}")
        refused = summary.errors.get("blocked", 0)
        if refused:
            typer.echo(
                f"{kind}: {refused} request(s) refused by the address guard: the site resolved to a private, "
                "loopback or reserved address; if such a site is meant to be crawled (a local test web, an "
                "intranet), add its network to NANSEN_CRAWL_ALLOW_NETWORKS (e.g. 127.0.0.0/8)",
                err=True,
            )
        failed = failed or not summary.ok or (refused > 0 and summary.pages == 0)  # nothing could be reached
    if failed:
        raise typer.Exit(1)


def _advance(progress: Progress, task: TaskID, done: int, total: int) -> None:
    progress.update(task, completed=done, total=total)


app = typer_app()
app.command("crawl")(crawl_command)
