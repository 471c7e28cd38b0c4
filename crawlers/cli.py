"""`nansen crawl`: run a crawl in a child process with a progress bar, then print what it found."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import typer


@runtime_checkable
class CrawlContext(Protocol):
    database_url: str
    contact_url: str
    crawl_allow_networks: tuple[str, ...]
    crawl_polite: bool


def crawl_command(
    ctx: typer.Context,
    kinds: list[str] = typer.Argument(None, help="site, feeds and/or watch [default: all three]."),
    entry: str | None = typer.Option(None, "--entry", help="Only this entry."),
) -> None:
    """Crawl the directory's sites, feeds and watched pages; findings become proposals to review."""
    from rich.console import Console
    from rich.progress import Progress

    from crawlers.run import KINDS, CrawlOptions, run_crawl

    settings = ctx.find_root().obj
    assert isinstance(settings, CrawlContext)
    chosen = kinds or list(KINDS)
    unknown = [k for k in chosen if k not in KINDS]
    if unknown:
        typer.echo(f"unknown crawl {', '.join(unknown)} (expected {', '.join(KINDS)})", err=True)
        raise typer.Exit(2)
    options = CrawlOptions.from_settings(settings)
    console = Console()
    failed = False
    for kind in chosen:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"crawl {kind}", total=None)
            summary = run_crawl(
                kind,
                options,
                entry=entry,
                on_progress=lambda done, total, task=task: progress.update(task, completed=done, total=total),
            )
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(summary.errors.items())) or "none"
        console.print(
            f"{kind}: {summary.targets} targets, {summary.pages} pages, errors {errors}, "
            f"{summary.proposals} proposals, {summary.posts} new posts"
        )
        if summary.returncode != 0:
            failed = True
            console.print(f"[red]{kind} crawl failed[/red]: {summary.stats.get('stderr', '')[-500:]}", markup=True)
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("crawl")(crawl_command)
