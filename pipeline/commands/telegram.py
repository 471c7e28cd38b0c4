"""`nansen telegram …`: thin commands over publishing/telegram.py and its ledger."""

from __future__ import annotations

import typer

from directory.store import Store
from pipeline.commands.output import TableFormat, emit_rows, settings, unit_of_work, visible
from pipeline.components import telegram_settings
from pipeline.config import ConfigError
from publishing import telegram_ledger

telegram_app = typer.Typer(
    help="Post each new update to the Telegram channels, exactly once; show what was posted.", no_args_is_help=True
)


@telegram_app.command("post")
def post_command(ctx: typer.Context) -> None:
    """Post the updates not posted yet to each channel (what the scheduled job does); run it again to resume.

    A channel seen for the first time starts after the latest change: it gets what happens from now on."""
    config = settings(ctx)
    options = telegram_settings(config)
    if options is None:
        raise ConfigError(
            "Telegram is not configured: set NANSEN_TELEGRAM_TOKEN and NANSEN_TELEGRAM_CHANNEL_RU and/or _EN"
        )
    from publishing import telegram  # noqa: PLC0415 - aiogram takes seconds to import: only when posting

    db = Store(config.database_url)
    try:
        db.check_initialized()
        report = telegram.post(db.session, options)
    finally:
        db.close()
    for channel in report.channels:
        waited = f", waited {channel.waited:g} s as Telegram asked" if channel.waited else ""
        typer.echo(
            f"{channel.chat} ({channel.language}): sent {channel.sent}, failed {channel.failed}, "
            f"to retry {channel.retry}, skipped {channel.skipped}{waited}"
        )
    for line in report.stopped:
        typer.echo(visible(f"stopped: {line}"), err=True)  # Telegram's words are quoted
    if report.stopped:
        raise typer.Exit(1)  # the run could not finish: a cron job or a script must see it


@telegram_app.command("status")
def status_command(ctx: typer.Context, fmt: TableFormat = typer.Option(TableFormat.table, "--format")) -> None:
    """Posts per channel and status (pending, sent, retry, failed, skipped), from the ledger."""
    with unit_of_work(ctx) as session:
        rows = [
            {"chat": chat, "status": status, "posts": count} for chat, status, count in telegram_ledger.status(session)
        ]
    if not rows and fmt == TableFormat.table:
        typer.echo("nothing posted yet")
        return
    emit_rows(rows, fmt, ["chat", "status", "posts"], title="Telegram posts")


app = typer.Typer()
app.add_typer(telegram_app, name="telegram")
