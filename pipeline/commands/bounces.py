"""`nansen bounces`: read the bounces that arrived after sending, a thin command over newsletter/bounces.py."""

from __future__ import annotations

from dataclasses import asdict

import typer

from directory.store import Store
from newsletter import bounces
from pipeline.commands.output import DocFormat, emit_json, settings, typer_app, visible
from pipeline.config import ConfigError


def bounces_command(
    ctx: typer.Context,
    source: str | None = typer.Argument(
        None,
        metavar="SOURCE",
        help="A maildir, or imaps://user:password@host:993/INBOX (default: NANSEN_BOUNCES_URL).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be marked; write and flag nothing."),
    fmt: DocFormat = typer.Option(
        DocFormat.table, "--format", help="table: a summary line; json: counts and each message."
    ),
) -> None:
    """Read bounces that arrived after sending; permanent failures become bounced, soft ones are counted.

    Each unread message is read once: a bounce is flagged seen after its effects are committed; any
    other mail (replies, auto-replies) is left unread and changes nothing.
    """
    config = settings(ctx)
    if source is None:
        if not config.newsletter.bounces_url:
            raise ConfigError("give a maildir or an IMAP URL, or set NANSEN_BOUNCES_URL (imaps://user:pw@host/INBOX)")
        source = config.newsletter.bounces_url.get_secret_value()
    options = bounces.BounceSettings(soft_limit=config.newsletter.soft_bounce_limit)
    store = Store(config.database_url)
    try:
        store.check_initialized()
        with bounces.open_mailbox(source, readonly=dry_run) as mailbox:
            report = bounces.process(store.session, mailbox, options, dry_run=dry_run)
    finally:
        store.close()
    if fmt == DocFormat.json:
        emit_json({**report.counts(), "dry_run": dry_run, "findings": [asdict(f) for f in report.findings]})
        return
    if dry_run:
        for finding in report.findings:
            if finding.outcome != bounces.Outcome.NOT_A_BOUNCE:
                what = _WOULD[finding.outcome]
                line = f"{finding.message}: {finding.address}: {what}: {finding.note} ({finding.diagnostic})"
                typer.echo(visible(line))  # each part but `what` is quoted from a message that came in
    typer.echo(report.summary())


_WOULD = {
    bounces.Outcome.MARKED: "would mark bounced",
    bounces.Outcome.SOFT: "would count a soft bounce",
    bounces.Outcome.UNCHANGED: "no change",
    bounces.Outcome.NOT_MATCHED: "not matched",
}


app = typer_app()
app.command("bounces")(bounces_command)
