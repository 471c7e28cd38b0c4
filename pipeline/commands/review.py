"""`nansen review`: the queue of what crawlers propose, with evidence, and the maintainer's decision."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import typer

from directory import proposals
from directory.errors import UsageError
from directory.models import Proposal
from pipeline.commands.output import (
    TableFormat,
    cell,
    check_excel,
    console,
    emit_rows,
    excel_option,
    format_option,
    settings,
    typer_app,
    unit_of_work,
)

review_app = typer_app(help="Review what the crawlers propose; nothing they see is applied without you.")

_COLUMNS = (
    "id",
    "entry",
    "kind",
    "field",
    "operation",
    "current",
    "proposed",
    "status",
    "origin",
    "created_at",
    "evidence_url",
    "evidence_seen",
    "evidence_time",
    "diff",
    "decided_by",
    "decision_reason",
)


def _row(proposal: Proposal) -> dict[str, Any]:
    evidence = proposal.evidence or {}
    return {
        "id": proposal.id,
        "entry": proposal.entry.slug,
        "kind": proposal.kind,
        "field": proposal.field,
        "operation": proposal.operation,
        "current": proposals.current_value(proposal),
        "proposed": proposal.value,
        "status": proposal.status,
        "origin": proposal.origin,
        "created_at": proposal.created_at.isoformat(),
        "evidence_url": evidence.get("url"),
        "evidence_seen": evidence.get("seen"),
        "evidence_time": evidence.get("time"),
        "diff": evidence.get("diff"),
        "decided_by": proposal.decided_by,
        "decision_reason": proposal.decision_reason,
    }


def _show(rows: Sequence[dict[str, Any]]) -> None:
    """Each proposal as a block: what, evidence, and the change as a coloured diff.

    Every value here was crawled: each goes through `output.cell`, so what the maintainer reads is what would
    be accepted, not what its escape sequences or bidi overrides make it look like. The diff is split on
    line feeds only (`str.splitlines` would also split on U+2028, U+0085 and the like, and a page could
    forge a green "+" line with one); whatever else a line holds is shown."""
    out = console()
    if not rows:
        out.print("Nothing to review.")
        return
    for row in rows:
        out.print(
            f"[bold]#{row['id']}[/bold] {cell(row['entry'])} · {cell(row['kind'])} · "
            f"{cell(row['field'])} [dim]({cell(row['origin'])}, {cell(row['status'])})[/dim]"
        )
        out.print(
            f"  evidence: {cell(row['evidence_seen'])} at {cell(row['evidence_url'])}, {cell(row['evidence_time'])}"
        )
        if row["diff"]:
            for line in str(row["diff"]).rstrip("\n").split("\n")[2:40]:
                style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
                out.print(f"  [{style}]{cell(line)}[/{style}]")
        else:
            sign = "+ add" if row["operation"] == "add" else "+"
            out.print(f"  [red]- {cell(_text(row['current']))}[/red]")
            out.print(f"  [green]{sign} {cell(_text(row['proposed']))}[/green]")


def _text(value: Any) -> str:
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)


MAX_ID = 2**63 - 1  # the largest id a database row can have (SQLite and PostgreSQL bigint)


@review_app.callback(invoke_without_command=True)
def review_command(
    ctx: typer.Context,
    status: str = typer.Option("pending", help="pending, accepted, rejected or all."),
    entry: str | None = typer.Option(None, "--entry", help="Only this entry."),
    fmt: TableFormat = format_option(),
    excel: bool = excel_option(),
) -> None:
    """List proposals (pending by default) with their evidence."""
    if ctx.invoked_subcommand is not None:
        return
    check_excel(fmt, excel)
    if status not in (*proposals.STATUSES, "all"):
        raise UsageError(f"--status: {status!r} is not one of pending, accepted, rejected, all")
    with unit_of_work(ctx) as session:
        found = proposals.list_proposals(session, status=None if status == "all" else status, slug=entry)
        rows = [_row(p) for p in found]
    if fmt == TableFormat.table:
        _show(rows)
        return
    if fmt == TableFormat.csv:
        rows = [{**r, "current": _text(r["current"]), "proposed": _text(r["proposed"])} for r in rows]
    emit_rows(rows, fmt, _COLUMNS, excel=excel)


@review_app.command("accept")
def accept_command(
    ctx: typer.Context,
    ids: list[int] = typer.Argument(None, min=1, max=MAX_ID, help="Proposal ids."),
    entry: str | None = typer.Option(None, "--entry", help="With --field: every pending proposal for it."),
    field: str | None = typer.Option(None, "--field"),
    reason: str | None = typer.Option(None, help="Kept in the entry's history."),
) -> None:
    """Apply proposals: each becomes a revision in your name, with the crawler as its origin."""
    if bool(ids) == bool(entry and field) or (entry is None) != (field is None):
        raise UsageError("give proposal ids, or --entry SLUG --field FIELD")
    maintainer = settings(ctx).actor
    with unit_of_work(ctx) as session:
        if ids:
            done = proposals.accept(session, ids, maintainer, reason=reason)
        else:
            done = proposals.accept_for(session, entry or "", field or "", maintainer, reason=reason)
        typer.echo(f"accepted {', '.join(f'#{p.id}' for p in done)}")


@review_app.command("reject")
def reject_command(
    ctx: typer.Context,
    ids: list[int] = typer.Argument(..., min=1, max=MAX_ID, help="Proposal ids."),
    reason: str = typer.Option(..., help="Why (kept; the same value is not proposed again)."),
) -> None:
    """Reject proposals; the same value will not be proposed again."""
    with unit_of_work(ctx) as session:
        done = proposals.reject(session, ids, settings(ctx).actor, reason=reason)
        typer.echo(f"rejected {', '.join(f'#{p.id}' for p in done)}")


app = typer_app()
app.add_typer(review_app, name="review")
