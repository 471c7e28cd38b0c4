"""`nansen subscribers …` and `nansen newsletter …`: thin commands over subscribers.py and editions.py."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import Progress

from directory.errors import DomainError, UsageError
from directory.store import Store
from newsletter import editions
from newsletter import subscribers as subs
from newsletter.delivery import MaildirSender
from newsletter.digest import personalize
from newsletter.models import SubscriberStatus
from newsletter.web import confirmation_message
from pipeline import jobs
from pipeline.commands.output import (
    DocFormat,
    TableFormat,
    emit_measures,
    emit_rows,
    excel_option,
    format_option,
    settings,
    typer_app,
    unit_of_work,
)
from pipeline.components import mail_sender, newsletter_settings

subscribers_app = typer_app(
    help="Manage newsletter subscribers (their data never leaves this database).", no_args_is_help=True
)
newsletter_app = typer_app(help="Build, preview, approve, send and archive newsletter editions.", no_args_is_help=True)


# --------------------------------------------------------------------------- subscribers


@subscribers_app.command("add")
def add_command(
    ctx: typer.Context,
    email: str,
    lang: str = typer.Option("ru", "--lang", help="ru or en."),
    country: list[str] = typer.Option([], "--country", help="Host country (repeatable; none: all)."),
    kind: list[str] = typer.Option([], "--kind", help="media, ngo or program (repeatable; none: all)."),
    topic: list[str] = typer.Option([], "--topic", help="Taxonomy topic (repeatable; none: all)."),
    confirmed: bool = typer.Option(False, "--confirmed", help="Consent was recorded elsewhere: no confirmation mail."),
    note: str = typer.Option("", "--note", help="With --confirmed: where the consent was recorded."),
    resubscribe: bool = typer.Option(
        False, "--resubscribe", help="The address unsubscribed or bounced and the person asked to come back."
    ),
) -> None:
    """Add a subscriber: a confirmation mail goes out unless --confirmed.

    An address that unsubscribed or bounced is skipped unless --resubscribe (with --confirmed, --note
    says where the person asked to come back; without it, they get a new confirmation mail).
    """
    config = settings(ctx)
    language, prefs = subs.check_preferences(lang, country, kind, topic)
    address = subs.normalize_email(email)
    if confirmed and not note.strip():
        raise UsageError("--confirmed needs --note saying where the consent was recorded")
    with unit_of_work(ctx) as session:
        try:
            if confirmed:
                subscriber = subs.add_confirmed(session, address, language, prefs, note=note, resubscribe=resubscribe)
                overrides = (subscriber.consent or {}).get("overrides")
                typer.echo(
                    f"re-subscribed {subscriber.email} (active; before: {overrides})"
                    if overrides
                    else f"added {subscriber.email} (active)"
                )
                return
            signup = subs.request_by_maintainer(session, address, language, prefs, resubscribe=resubscribe)
        except subs.OptedOut as exc:
            typer.echo(f"{exc} (--resubscribe only if they asked to come back)")
            return
        if signup.send_confirmation and signup.subscriber is not None:
            with mail_sender(config) as sender:
                sender.send(confirmation_message(newsletter_settings(config), signup.subscriber))
            typer.echo(f"confirmation mail sent to {signup.subscriber.email}")
        else:
            typer.echo("no mail sent (already active, or a confirmation went out less than an hour ago)")


@subscribers_app.command("import")
def import_command(
    ctx: typer.Context,
    path: Path = typer.Argument(..., exists=True, dir_okay=False),
    note: str = typer.Option(..., "--note", help="Where the consent of these people was recorded."),
    resubscribe: bool = typer.Option(
        False, "--resubscribe", help="Also add addresses that unsubscribed or bounced: these people asked to come back."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check the file and say what would happen; write nothing."),
) -> None:
    """Import confirmed subscribers from CSV (UTF-8, comma or semicolon); any bad row is reported by
    line and nothing is imported. Addresses that unsubscribed or bounced are skipped unless --resubscribe."""
    if not note.strip():
        raise UsageError("--note must say where the consent of these people was recorded")
    text = subs.decode_csv(path.read_bytes(), source=str(path))
    with unit_of_work(ctx) as session:
        report = subs.import_csv(session, text, source=str(path), note=note, resubscribe=resubscribe)
        if report.problems:
            session.rollback()
            problems = len(report.problems)
            raise DomainError("\n".join([*report.problems, f"import refused: {problems} problem(s), nothing imported"]))
        if dry_run:
            session.rollback()
    for line in report.notes:
        typer.echo(line)
    typer.echo(f"{report.summary()}{' (dry run: nothing written)' if dry_run else ''}")


@subscribers_app.command("export")
def export_command(
    ctx: typer.Context,
    output: Path | None = typer.Option(None, "--output", "-o", help="CSV file [default: stdout]."),
    excel: bool = typer.Option(False, "--excel", help="A byte-order mark and CRLF line ends, for Excel."),
) -> None:
    """Export subscribers as CSV (this file names people: keep it safe).

    Cells beginning with = + - @ are written after an apostrophe, so a spreadsheet shows them as text;
    `subscribers import` takes the apostrophe off again."""
    with unit_of_work(ctx) as session:
        data = subs.export_csv(subs.listing(session), excel=excel).encode("utf-8")
    if output is None:
        typer.echo(data, nl=False)
    else:
        output.write_bytes(data)
        output.chmod(0o600)
        typer.echo(f"wrote {output}")


@subscribers_app.command("list")
def list_command(
    ctx: typer.Context,
    status: str | None = typer.Option(None, help="pending, active, unsubscribed or bounced."),
    fmt: TableFormat = format_option(),
    excel: bool = excel_option(),
) -> None:
    """List subscribers."""
    if status is not None and status not in set(SubscriberStatus):
        raise UsageError(f"--status: {status!r} is not one of {', '.join(SubscriberStatus)}")
    with unit_of_work(ctx) as session:
        rows = subs.rows(subs.listing(session, status))
    columns = ["email", "language", "countries", "kinds", "topics", "status", "created_at", "confirmed_at", "consent"]
    emit_rows(rows, fmt, columns, title=f"{len(rows)} subscribers", excel=excel)


@subscribers_app.command("remove")
def remove_command(ctx: typer.Context, email: str) -> None:
    """Unsubscribe an address (kept as unsubscribed; use `forget` to delete it)."""
    with unit_of_work(ctx) as session:
        subscriber = subs.find(session, subs.normalize_email(email))
        if subscriber is None or not subs.unsubscribe(session, subscriber.key):
            raise DomainError(f"{email} is not an active or pending subscriber")
    typer.echo(f"unsubscribed {email}")


@subscribers_app.command("forget")
def forget_command(ctx: typer.Context, email: str) -> None:
    """Delete a person and every row that names them; only anonymous counts remain."""
    with unit_of_work(ctx) as session:
        if not subs.forget(session, email=email):
            raise DomainError(f"no subscriber {email}")
    typer.echo(f"forgot {email}")


@subscribers_app.command("stats")
def stats_command(ctx: typer.Context, fmt: DocFormat = typer.Option(DocFormat.table, "--format")) -> None:
    """Counts by status and language, segments, and anonymous totals."""
    with unit_of_work(ctx) as session:
        data = subs.stats(session)
    emit_measures(data, fmt, "subscribers")


# --------------------------------------------------------------------------- editions


@newsletter_app.command("send")
def send_command(
    ctx: typer.Context,
    dry_run: Path | None = typer.Option(
        None, "--dry-run", metavar="MAILDIR", help="Write the messages as .eml files into MAILDIR; send nothing."
    ),
) -> None:
    """Build the edition that is due (if any) and deliver it; run it again to resume."""
    config = settings(ctx)
    nl = newsletter_settings(config)
    if dry_run is not None:
        _dry_run(ctx, nl, dry_run)
        return
    sender = mail_sender(config)
    db = Store(config.database_url)
    try:
        with Progress(transient=True) as progress:
            task = progress.add_task("sending", total=None)
            report = editions.send(
                db.session,
                nl,
                sender,
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    finally:
        db.close()
    if report.edition is None:
        typer.echo("nothing due: no updates since the last edition")
        return
    typer.echo(
        f"edition {report.edition}: {report.status}; sent {report.sent}, bounced {report.bounced}, "
        f"to retry {report.retry}, failed {report.failed}, skipped {report.skipped}, segments {report.segments}"
    )
    if report.stopped:
        raise typer.Exit(1)  # the run could not finish: a cron job or a script must see it


def _dry_run(ctx: typer.Context, nl: editions.NewsletterSettings, maildir: Path) -> None:
    """Every message of the due edition into a maildir, and nothing written to the ledger."""
    written = 0
    with unit_of_work(ctx) as session:
        due = editions.due_with_content(session, nl)
        if due is None:
            typer.echo("nothing due: no updates since the last edition")
            return
        edition, cache = due
        with MaildirSender(maildir) as sender:
            for subscriber in subs.active(session):
                content = cache.content(subscriber.language, subs.preferences_of(subscriber))
                if content is not None:
                    sender.send(editions.message_for(nl, edition, subscriber, content))
                    written += 1
        number = edition.number
        session.rollback()
    typer.echo(f"edition {number} (dry run): {written} messages written to {maildir}, nothing sent")


@newsletter_app.command("preview")
def preview_command(
    ctx: typer.Context,
    lang: str = typer.Option("ru", "--lang"),
    country: list[str] = typer.Option([], "--country", help="Preview a segment: its countries."),
    kind: list[str] = typer.Option([], "--kind"),
    topic: list[str] = typer.Option([], "--topic"),
    output: Path = typer.Option(Path("newsletter-preview"), "--output", "-o"),
) -> None:
    """Write the due (or draft) edition's HTML and text for one segment to files."""
    nl = newsletter_settings(settings(ctx))
    try:
        language, prefs = subs.check_preferences(lang, country, kind, topic)
    except subs.SubscriberError as exc:
        raise UsageError(str(exc)) from None
    with unit_of_work(ctx) as session:
        due = editions.due_with_content(session, nl)
        if due is None:
            typer.echo("nothing due: no updates since the last edition")
            return
        edition, cache = due
        content = cache.content(language, prefs)
        number, status = edition.number, edition.status
        session.rollback()
    if content is None:
        typer.echo(f"edition {number}: nothing for this segment, so it gets no email")
        return
    sample = personalize(
        content,
        unsubscribe_url=nl.url("unsubscribe?token=PREVIEW"),
        preferences_url=nl.url("preferences?token=PREVIEW"),
    )
    output.mkdir(parents=True, exist_ok=True)
    (output / f"edition-{number}-{language}.html").write_text(sample.html, encoding="utf-8")
    (output / f"edition-{number}-{language}.txt").write_text(sample.text, encoding="utf-8")
    typer.echo(
        f"edition {number} ({status}): {sample.subject}\nwrote {output}/edition-{number}-{language}.html and .txt"
    )


@newsletter_app.command("approve")
def approve_command(ctx: typer.Context) -> None:
    """Approve the draft edition so `send` delivers it (when newsletter approval is required)."""
    nl = newsletter_settings(settings(ctx))
    with unit_of_work(ctx) as session:
        edition = editions.current(session) or editions.create_due(session, nl)
        edition = editions.approve(session, settings(ctx).actor)
        typer.echo(f"edition {edition.number} approved by {edition.approved_by}")


@newsletter_app.command("archive")
def archive_command(
    ctx: typer.Context,
    output: Path | None = typer.Option(None, "--output", "-o", help="The site [default: the public dir]."),
) -> None:
    """Put every sent edition on the static site (<lang>/newsletter/), without personal links."""
    config = settings(ctx)
    nl = newsletter_settings(config)
    with unit_of_work(ctx) as session:
        written = jobs.archive_editions(session, nl, output or config.site.public_dir)
    typer.echo(f"archive: {len(written)} files written")


app = typer_app()
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(newsletter_app, name="newsletter")
