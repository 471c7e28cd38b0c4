"""Publishing commands: `nansen publish` builds feeds and site, `nansen serve` previews them."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import typer


@runtime_checkable
class PublishContext(Protocol):
    database_url: str
    site_url: str
    public_dir: Path
    id_authority: str
    feed_item_limit: int


def _context(ctx: typer.Context) -> PublishContext:
    obj = ctx.find_root().obj
    if not isinstance(obj, PublishContext):
        raise RuntimeError("the `nansen` root command sets the publishing settings")
    return obj


def site_settings(settings: PublishContext, output: Path | None = None) -> object:
    from newsletter.feeds import FeedSettings
    from newsletter.site import SiteSettings

    return SiteSettings(
        output=output or settings.public_dir,
        feeds=FeedSettings(settings.site_url, settings.id_authority, settings.feed_item_limit),
    )


def publish_command(
    ctx: typer.Context,
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Where to build [default: NANSEN_PUBLIC_DIR or public/]."
    ),
) -> None:
    """Build the feeds, OPML and the bilingual static site; only changed files are written."""
    from directory.cli import unit_of_work
    from newsletter import site

    settings = site_settings(_context(ctx), output)
    with unit_of_work(ctx) as session:
        report = site.build(session, settings)  # type: ignore[arg-type]
    target = settings.output  # type: ignore[attr-defined]
    typer.echo(
        f"published to {target}: {report.total_written} files written, "
        f"{sum(report.unchanged.values())} unchanged, {len(report.removed)} removed"
    )
    for category in sorted(set(report.written) | set(report.unchanged)):
        typer.echo(f"  {category:10} {report.written[category]:6} written {report.unchanged[category]:7} unchanged")


def serve_command(
    ctx: typer.Context,
    port: int = typer.Option(8000, help="Port on 127.0.0.1."),
    directory: Path | None = typer.Option(None, "--directory", help="What to serve [default: the public dir]."),
) -> None:
    """Serve the built site on 127.0.0.1, with the subscription endpoints when NANSEN_SECRET is set."""
    import uvicorn

    from newsletter.web import Endpoints, create_app

    settings = ctx.find_root().obj
    root = directory or settings.public_dir
    if not (root / "index.html").exists():
        typer.echo(f"{root} has no index.html: run `nansen publish` first", err=True)
        raise typer.Exit(1)
    endpoints = None
    if settings.secret and settings.smtp_url:
        from directory.store import Store
        from newsletter.mail_cli import mail_sender, newsletter_settings

        def send_mail(message: object) -> None:
            with mail_sender(settings) as sender:
                sender.send(message)

        endpoints = Endpoints(newsletter_settings(settings), Store(settings.database_url).session, send_mail)
        typer.echo("subscription endpoints: /subscribe /confirm /preferences /unsubscribe")
    else:
        typer.echo("static site only (set NANSEN_SECRET and NANSEN_SMTP_URL for the subscription endpoints)")
    typer.echo(f"serving {root} on http://127.0.0.1:{port}/ (Ctrl+C to stop)")
    uvicorn.run(create_app(root, endpoints), host="127.0.0.1", port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    from newsletter import mail_cli

    app.command("publish")(publish_command)
    app.command("serve")(serve_command)
    mail_cli.register(app)
