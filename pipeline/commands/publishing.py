"""`nansen publish` builds the feeds and the site; `nansen serve` previews them with the endpoints."""

from __future__ import annotations

import socket
from email.message import EmailMessage
from pathlib import Path

import typer
import uvicorn

from directory.errors import DomainError
from directory.store import Store
from newsletter.delivery import Result
from newsletter.web import Endpoints, create_app
from pipeline import jobs
from pipeline.commands.output import settings, typer_app, unit_of_work, visible
from pipeline.components import mail_sender, newsletter_settings, site_settings


def publish_command(
    ctx: typer.Context,
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Where to build [default: NANSEN_PUBLIC_DIR or public/]."
    ),
) -> None:
    """Build the feeds, OPML and the bilingual static site; only changed files are written."""
    site = site_settings(settings(ctx), output)
    with unit_of_work(ctx) as session:
        report = jobs.build_site(session, site)
    typer.echo(
        f"published to {site.output}: {report.total_written} files written, "
        f"{sum(report.unchanged.values())} unchanged, {len(report.removed)} removed"
    )
    for category in sorted(set(report.written) | set(report.unchanged)):
        typer.echo(f"  {category:10} {report.written[category]:6} written {report.unchanged[category]:7} unchanged")
    for row, reason in report.skipped.items():
        typer.echo(visible(f"skipped {row}: {reason}"), err=True)  # a row quotes what was crawled


def serve_command(
    ctx: typer.Context,
    port: int = typer.Option(8000, min=0, max=65535, help="Port on 127.0.0.1 (0: any free port)."),
    directory: Path | None = typer.Option(None, "--directory", help="What to serve [default: the public dir]."),
) -> None:
    """Serve the built site on 127.0.0.1, with the subscription endpoints when NANSEN_SECRET is set."""
    config = settings(ctx)
    root = directory or config.site.public_dir
    if not (root / "index.html").exists():
        raise DomainError(f"{root} has no index.html: run `nansen publish` first")
    endpoints = None
    if config.newsletter.secret and config.newsletter.smtp_url:

        def send_mail(message: EmailMessage) -> Result:
            with mail_sender(config, retries=0) as sender:  # the outbox retries with its own back-off
                return sender.send(message)

        endpoints = Endpoints(newsletter_settings(config), Store(config.database_url).session, send_mail)
    listening = _listen(port)  # every mistake is said before anything says it serves
    if endpoints is not None:
        typer.echo("subscription endpoints: /subscribe /confirm /preferences /unsubscribe")
    else:
        typer.echo("static site only (set NANSEN_SECRET and NANSEN_SMTP_URL for the subscription endpoints)")
    typer.echo(f"serving {root} on http://127.0.0.1:{listening.getsockname()[1]}/ (Ctrl+C to stop)")
    server = uvicorn.Server(uvicorn.Config(create_app(root, endpoints), log_level="warning", access_log=False))
    server.run(sockets=[listening])


def _listen(port: int) -> socket.socket:
    """A socket listening on 127.0.0.1:`port` (0: any free port), bound before anything says it serves.

    Raises `DomainError` when the port is taken or not allowed to this user."""
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT, not one in use
    try:
        listening.bind(("127.0.0.1", port))
        listening.listen(128)
    except OSError as exc:
        listening.close()
        raise DomainError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}: choose another --port") from None
    return listening


app = typer_app()
app.command("publish")(publish_command)
app.command("serve")(serve_command)
