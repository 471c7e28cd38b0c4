"""`nansen telegram …`: thin commands over publishing/telegram.py and its ledger."""

from __future__ import annotations

import typer

from directory.errors import DomainError, UsageError
from directory.store import Store
from pipeline import runs
from pipeline.commands.output import TableFormat, emit_json, emit_rows, settings, typer_app, unit_of_work, visible
from pipeline.components import telegram_settings
from pipeline.config import ConfigError
from publishing import telegram_ledger
from publishing.i18n import LANGUAGES

telegram_app = typer_app(
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
        with runs.job_lock(db, "telegram"):  # one poster at a time keeps Telegram's pace per channel
            report = telegram.post(db.session, options)
    except runs.Busy:
        raise DomainError("another Telegram run is in progress (scheduler or terminal): try again later") from None
    finally:
        db.close()
    for channel in report.channels:
        waited = f", waited {channel.waited:g} s as Telegram asked" if channel.waited else ""
        later = f"; Telegram asks to wait until {channel.waiting:%Y-%m-%d %H:%M:%S} UTC" if channel.waiting else ""
        typer.echo(
            f"{channel.chat} ({channel.language}): sent {channel.sent}, failed {channel.failed}, "
            f"to retry {channel.retry}, skipped {channel.skipped}{waited}{later}"
        )
    for line in report.stopped:
        typer.echo(visible(f"stopped: {line}"), err=True)  # Telegram's words are quoted
    if report.stopped or any(channel.failed for channel in report.channels):
        raise typer.Exit(1)  # the run could not finish, or a post failed: a cron job or a script must see it


@telegram_app.command("status")
def status_command(ctx: typer.Context, fmt: TableFormat = typer.Option(TableFormat.table, "--format")) -> None:
    """Posts per language's channel and status (pending, sent, retry, failed, skipped), then the failed
    ones with Telegram's words (`nansen telegram retry` gives them another start)."""
    with unit_of_work(ctx) as session:
        rows = [
            {"language": lang, "status": status, "posts": count}
            for lang, status, count in telegram_ledger.status(session)
        ]
        failed = [
            {"update": row.update_id, "language": row.language, "attempts": row.attempts, "error": row.last_error}
            for row in telegram_ledger.failed(session)
        ]
        waits = {lang: until.isoformat(timespec="seconds") for lang, until in telegram_ledger.waits(session)}
    if fmt == TableFormat.json:
        emit_json({"posts": rows, "failed": failed, "waiting_until": waits})
        return
    if fmt == TableFormat.csv:
        emit_rows(rows, fmt, ["language", "status", "posts"])
        return
    if not rows:
        typer.echo("nothing posted yet")
        return
    emit_rows(rows, fmt, ["language", "status", "posts"], title="Telegram posts")
    for lang, until in waits.items():
        typer.echo(f"{lang}: Telegram asked to wait until {until}")
    if failed:
        emit_rows(failed, fmt, ["update", "language", "attempts", "error"], title="Failed posts")


@telegram_app.command("retry")
def retry_command(
    ctx: typer.Context, lang: str | None = typer.Option(None, "--lang", help="Only this language's channel.")
) -> None:
    """Give the failed posts another start: the next `post` (or the job) sends them."""
    if lang is not None and lang not in LANGUAGES:
        raise UsageError(f"--lang: {lang!r} is not one of {', '.join(LANGUAGES)}")
    with unit_of_work(ctx) as session:
        count = telegram_ledger.retry_failed(session, lang)
    typer.echo(f"{count} failed posts are pending again")


app = typer_app()
app.add_typer(telegram_app, name="telegram")
