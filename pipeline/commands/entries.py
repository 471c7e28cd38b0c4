"""Curation commands: `nansen init|import|export|stats` and `nansen entries …`.

Each command parses options, calls one service of `directory` inside one unit of work, and renders
the result through `output`. Services raise `DomainError`s; the root group shows them. The root
loads this module only when one of its commands runs (`pipeline.cli`).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.markup import escape

from directory import entries, exports, hsds, imports, store
from directory import fields as F
from directory.errors import DomainError, UsageError
from directory.models import Entry
from directory.taxonomy import DESIGNATION_KIND_BY_SLUG, KINDS, PROGRAM_STATES, STATUSES
from pipeline.commands.output import (
    DocFormat,
    Lang,
    TableFormat,
    console,
    emit_json,
    emit_measures,
    emit_rows,
    emit_table,
    settings,
    unit_of_work,
    visible,
)
from pipeline.config import MIGRATION_LOCATIONS


class ExportFormat(StrEnum):
    yaml = "yaml"
    json = "json"
    csv = "csv"
    hsds = "hsds"


entries_app = typer.Typer(help="Read and curate entries.", no_args_is_help=True)


def _entry_json(entry: Entry) -> dict[str, Any]:
    return {
        **F.nest(entries.to_record(entry), drop_empty=False),
        "created_at": entry.created_at.isoformat(),
        "updated_at": entry.updated_at.isoformat(),
    }


def _entry_row(entry: Entry, lang: Lang) -> dict[str, Any]:
    return {
        "slug": entry.slug,
        "kind": entry.kind,
        "name": entry.name_ru if lang == Lang.ru else entry.name_en,
        "host": entry.host_countries,
        "serves": entry.countries_served,
        "topics": entry.topics,
        "status": entry.status if entry.kind != "program" else f"{entry.status}/{entry.program_state}",
        "verified": entry.verified_at.date().isoformat() if entry.verified_at else "never",
    }


def _emit_entries(
    found: Sequence[Entry], fmt: TableFormat, lang: Lang, *, ranks: Sequence[float] | None = None
) -> None:
    rank_of = [{"rank": round(r, 6)} for r in ranks] if ranks is not None else [{} for _ in found]
    if fmt == TableFormat.json:
        emit_json([{**rank, **_entry_json(e)} for rank, e in zip(rank_of, found, strict=True)])
        return
    if fmt == TableFormat.csv:
        stamps = [{"created_at": e.created_at.isoformat(), "updated_at": e.updated_at.isoformat()} for e in found]
        rows = [
            {**rank, **entries.to_record(e), **stamp} for rank, e, stamp in zip(rank_of, found, stamps, strict=True)
        ]
        columns = [*(["rank"] if ranks is not None else []), *F.KEYS, "created_at", "updated_at"]
        emit_rows(rows, fmt, columns)
        return
    table = [_entry_row(e, lang) for e in found]
    emit_table(table, list(table[0]) if table else ["slug"], title=f"{len(table)} entries")


# --------------------------------------------------------------------------- reads

_OPTION_OF = {
    "kind": "kind",
    "host_countries": "country",
    "countries_served": "serves",
    "topics": "topic",
    "languages": "language",
    "status": "status",
    "program.state": "state",
}


@entries_app.command("list")
def list_command(
    ctx: typer.Context,
    kind: str | None = typer.Option(None, help=f"One of: {', '.join(KINDS)}."),
    country: str | None = typer.Option(None, help="Host country (ISO 3166-1 alpha-2)."),
    serves: str | None = typer.Option(None, help="Country whose people it serves (alpha-2)."),
    topic: str | None = typer.Option(None, help="Taxonomy topic slug."),
    language: str | None = typer.Option(None, help="ISO 639-1 language code."),
    status: str | None = typer.Option(None, help=f"One of: {', '.join(STATUSES)}."),
    state: str | None = typer.Option(None, help=f"Program state: {', '.join(PROGRAM_STATES)}."),
    stale: int | None = typer.Option(None, "--stale", metavar="DAYS", help="Not verified in DAYS days, or never."),
    designation: str | None = typer.Option(
        None, help=f"Carries this designation, not lifted: {', '.join(DESIGNATION_KIND_BY_SLUG)}."
    ),
    fmt: TableFormat = typer.Option(TableFormat.table, "--format"),
    lang: Lang = typer.Option(Lang.en, "--lang", help="Language of names in the table."),
) -> None:
    """List entries, filtered."""
    values = {
        "kind": kind,
        "host_countries": country,
        "countries_served": serves,
        "topics": topic,
        "languages": language,
        "status": status,
        "program.state": state,
    }
    for key, value in values.items():
        if value is not None:
            try:
                F.FIELD_BY_KEY[key].normalize([value] if F.FIELD_BY_KEY[key].many else value)
            except ValueError as exc:  # a typo in a filter is an error, not an empty list
                raise UsageError(f"--{_OPTION_OF[key]}: {exc}") from None
    if stale is not None and stale < 0:
        raise UsageError("--stale: DAYS must be 0 or more")
    if designation is not None and designation not in DESIGNATION_KIND_BY_SLUG:
        raise UsageError(f"--designation: {designation!r} is not one of {', '.join(DESIGNATION_KIND_BY_SLUG)}")
    filters = entries.Filters(kind, status, country, serves, topic, language, state, stale, designation)
    with unit_of_work(ctx) as session:
        _emit_entries(entries.list_entries(session, filters), fmt, lang)


@entries_app.command("show")
def show_command(ctx: typer.Context, slug: str, fmt: DocFormat = typer.Option(DocFormat.table, "--format")) -> None:
    """Show one entry with every field."""
    with unit_of_work(ctx) as session:
        entry = entries.get_entry(session, slug)
        if fmt == DocFormat.json:
            emit_json(_entry_json(entry))
            return
        record = entries.to_record(entry)
        rows = [{"field": key, "value": record[key]} for key in F.KEYS if record[key] not in (None, [])]
        rows += [
            {"field": "created_at", "value": entry.created_at.isoformat()},
            {"field": "updated_at", "value": entry.updated_at.isoformat()},
        ]
        emit_table(rows, ["field", "value"], title=f"{entry.slug} ({entry.kind})")


@entries_app.command("search")
def search_command(
    ctx: typer.Context,
    text: str,
    limit: int = typer.Option(20, min=1, max=500),
    fmt: TableFormat = typer.Option(TableFormat.table, "--format"),
    lang: Lang = typer.Option(Lang.en, "--lang", help="Language of names in the table."),
) -> None:
    """Full-text search in both languages (any word form), best match first."""
    with unit_of_work(ctx) as session:
        hits = entries.search_entries(session, text, limit=limit)
        _emit_entries([entry for entry, _ in hits], fmt, lang, ranks=[rank for _, rank in hits])


_HISTORY_COLUMNS = ["id", "time", "field", "old", "new", "actor", "origin", "reason", "minor"]


@entries_app.command("history")
def history_command(
    ctx: typer.Context, slug: str, fmt: TableFormat = typer.Option(TableFormat.table, "--format")
) -> None:
    """Every revision of an entry, oldest first."""
    with unit_of_work(ctx) as session:
        rows = [
            {
                "id": r.id,
                "time": r.created_at.isoformat(),
                "field": r.field,
                "old": r.old,
                "new": r.new,
                "actor": r.actor,
                "origin": r.origin,
                "reason": r.reason,
                "minor": r.minor,
            }
            for r in entries.history(session, slug)
        ]
    if fmt == TableFormat.table:
        rows = [{**row, "old": _short(row["old"]), "new": _short(row["new"])} for row in rows]
    elif fmt == TableFormat.csv:
        rows = [{**row, "old": _scalar(row["old"]), "new": _scalar(row["new"])} for row in rows]
    emit_rows(rows, fmt, _HISTORY_COLUMNS, title=f"history of {slug}")


def _scalar(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "(new entry)"
    text = "" if value is None else str(_scalar(value))
    return text if len(text) <= 80 else text[:77] + "…"


# --------------------------------------------------------------------------- writes


_ADD_PROMPTS = (
    ("slug", "Slug"),
    ("kind", "Kind (media/ngo/program)"),
    ("name.en", "Name in English"),
    ("name.ru", "Name in Russian"),
    ("summary.en", "Summary in English"),
    ("summary.ru", "Summary in Russian"),
)


@entries_app.command("add")
def add_command(
    ctx: typer.Context,
    slug: str | None = typer.Option(None),
    kind: str | None = typer.Option(None, help=f"One of: {', '.join(KINDS)}."),
    name_en: str | None = typer.Option(None, "--name-en"),
    name_ru: str | None = typer.Option(None, "--name-ru"),
    summary_en: str | None = typer.Option(None, "--summary-en"),
    summary_ru: str | None = typer.Option(None, "--summary-ru"),
    website: str | None = typer.Option(None),
    feed: list[str] = typer.Option([], "--feed", help="Feed URL (repeatable)."),
    host_country: list[str] = typer.Option([], "--host-country", help="Alpha-2 (repeatable)."),
    serves: list[str] = typer.Option([], "--serves", help="Alpha-2 of a country served (repeatable)."),
    language: list[str] = typer.Option([], "--language", help="ISO 639-1 (repeatable)."),
    topic: list[str] = typer.Option([], "--topic", help="Taxonomy slug (repeatable)."),
    email: str | None = typer.Option(None),
    telegram: str | None = typer.Option(None),
    source: str | None = typer.Option(None, help="Where the facts were checked."),
    program_state: str | None = typer.Option(None, "--program-state", help=f"{', '.join(PROGRAM_STATES)}."),
    official_url: str | None = typer.Option(None, "--official-url"),
    set_: list[str] = typer.Option([], "--set", metavar="FIELD=VALUE", help="Any other field (repeatable)."),
    reason: str | None = typer.Option(None, help="Why it is added (kept in the history)."),
) -> None:
    """Add an entry from flags; asks for what is missing when run in a terminal."""
    record: dict[str, Any] = {
        "slug": slug,
        "kind": kind,
        "name.en": name_en,
        "name.ru": name_ru,
        "summary.en": summary_en,
        "summary.ru": summary_ru,
        "website": website,
        "feeds": feed,
        "host_countries": host_country,
        "countries_served": serves,
        "languages": language,
        "topics": topic,
        "contacts.email": email,
        "contacts.telegram": telegram,
        "source": source,
        "program.state": program_state,
        "program.official_url": official_url,
    }
    record = {key: value for key, value in record.items() if value not in (None, [])}
    record.update(_parse_sets(set_))
    if sys.stdin.isatty():
        for key, label in _ADD_PROMPTS:
            if not record.get(key):
                record[key] = typer.prompt(label)
    with unit_of_work(ctx) as session:
        entry = entries.add_entry(session, record, entries.Actor(settings(ctx).actor), reason=reason)
        typer.echo(f"added {entry.slug}")


def _parse_sets(pairs: Sequence[str]) -> dict[str, Any]:
    """`field=value` pairs; list fields take comma-separated values, lists of mappings (`designations`,
    `warnings`) a JSON array; an empty value clears a field."""
    updates: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep:
            raise UsageError(f"--set {pair!r}: expected FIELD=VALUE")
        if key not in F.FIELD_BY_KEY:
            raise UsageError(f"--set {pair!r}: unknown field {key!r} (fields: {', '.join(F.KEYS)})")
        if F.FIELD_BY_KEY[key].structured:
            updates[key] = value.strip()
        elif F.FIELD_BY_KEY[key].many:
            updates[key] = [item.strip() for item in value.split(",") if item.strip()]
        else:
            updates[key] = value.strip() or None
    return updates


@entries_app.command("edit")
def edit_command(
    ctx: typer.Context,
    slug: str,
    set_: list[str] = typer.Option(
        [],
        "--set",
        metavar="FIELD=VALUE",
        help="Change a field (repeatable); without --set the entry opens in $EDITOR.",
    ),
    reason: str | None = typer.Option(None, help="Why (kept in the history)."),
    minor: bool = typer.Option(False, "--minor", help="A cosmetic fix: kept in the history, not published."),
) -> None:
    """Change fields of an entry, by flags or as YAML in $EDITOR."""
    actor = entries.Actor(settings(ctx).actor)
    with unit_of_work(ctx) as session:
        updates = _parse_sets(set_) if set_ else _edit_in_editor(entries.to_record(entries.get_entry(session, slug)))
        change = entries.edit_entry(session, slug, updates, actor, reason=reason, minor=minor)
    if change.action == "unchanged":
        typer.echo(f"{slug}: nothing changed")
    else:
        typer.echo(f"{slug}: changed {', '.join(c.field for c in change.changes)}")


def _edit_in_editor(record: Mapping[str, Any]) -> dict[str, Any]:
    """The entry as YAML in $EDITOR; a field removed in the editor is cleared."""

    original = exports.to_yaml([record])[2:].replace("\n  ", "\n")  # one mapping, not a list of one
    edited = _launch_editor(original)
    if edited is None:
        raise DomainError("edit cancelled: the file was not changed")
    try:
        data = yaml.safe_load(edited)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        raise DomainError(f"edited YAML:{line}: malformed YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise DomainError("edited YAML: expected a mapping of fields")
    updates = {key: F.empty_value(F.FIELD_BY_KEY[key]) for key in F.KEYS}
    updates.update(F.flatten(data))
    return updates


def _launch_editor(text: str) -> str | None:
    """Open `text` in $VISUAL/$EDITOR (else vi); the edited text, or None if left unchanged."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "entry.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            exited = subprocess.run([*shlex.split(editor), str(path)], check=False).returncode
        except (OSError, ValueError) as exc:  # not found, not executable, unbalanced quotes in $EDITOR
            raise DomainError(f"cannot start the editor {editor!r} ($VISUAL/$EDITOR): {exc}; nothing changed") from None
        if exited != 0:
            raise DomainError(f"the editor {editor!r} exited with an error; nothing changed")
        edited = path.read_text(encoding="utf-8")
    return None if edited == text else edited


@entries_app.command("verify")
def verify_command(
    ctx: typer.Context,
    slug: str,
    note: str | None = typer.Option(None, help="What was checked, and how."),
    source: str | None = typer.Option(None, help="Where it was checked (replaces the entry's source)."),
) -> None:
    """Record that you checked an entry today."""
    actor = settings(ctx).actor
    with unit_of_work(ctx) as session:
        entries.verify_entry(session, slug, entries.Actor(actor), note=note, source=source)
    typer.echo(f"{slug}: verified by {actor}")


@entries_app.command("close")
def close_command(
    ctx: typer.Context,
    slug: str,
    reason: str = typer.Option(..., help="Why it is closed (kept in the history)."),
) -> None:
    """Mark an organization closed; it stays in the directory with its history."""
    with unit_of_work(ctx) as session:
        change = entries.close_entry(session, slug, entries.Actor(settings(ctx).actor), reason=reason)
    typer.echo(f"{slug}: closed" if change.action == "update" else f"{slug}: already closed")


# --------------------------------------------------------------------------- root-level commands


def init_command(ctx: typer.Context) -> None:
    """Create the database, or upgrade it to the current schema."""

    url = settings(ctx).database_url
    db = store.Store(url)
    try:
        db.check_reachable()
        store.upgrade(db.engine, locations=MIGRATION_LOCATIONS)
        typer.echo(f"database ready at {store.masked(url)} (schema {store.current_revision(db.engine)})")
    finally:
        db.close()


def import_command(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(..., exists=True, help="Files or directories (.yaml, .yml, .json, .csv)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change; write nothing."),
    reason: str | None = typer.Option(None, help="Why (kept in the history)."),
) -> None:
    """Upsert entries by slug from files; all-or-nothing, errors name file and line."""
    with unit_of_work(ctx) as session:
        plan = imports.import_paths(session, paths, settings(ctx).actor, dry_run=dry_run, reason=reason)
        if dry_run:
            _print_plan(plan)
            session.rollback()
    verb = "would be" if dry_run else ""
    typer.echo(
        f"{len(plan.changes)} entries read: {plan.count('create')} {verb} created, "
        f"{plan.count('update')} {verb} updated, {plan.count('unchanged')} unchanged".replace("  ", " ")
    )


def _print_plan(plan: imports.ImportPlan) -> None:
    out = console()
    for change in plan.changes:
        if change.action == "create":
            out.print(f"[green]+ {escape(visible(change.slug))}[/green] (new entry)")
        elif change.action == "update":
            out.print(f"[yellow]~ {escape(visible(change.slug))}[/yellow]")
            for c in change.changes:
                # repr shows controls and format characters, `visible` also the invisible rest
                out.print(f"    {escape(c.field)}: [red]- {escape(visible(repr(c.old)))}[/red]")
                out.print(f"    {' ' * len(c.field)}  [green]+ {escape(visible(repr(c.new)))}[/green]")


def export_command(
    ctx: typer.Context,
    fmt: ExportFormat = typer.Option(ExportFormat.yaml, "--format"),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="File to write (default: stdout). With yaml, a directory gets one file per entry; hsds needs one.",
    ),
    lang: Lang = typer.Option(Lang.en, "--lang", help="Language of names and descriptions in HSDS."),
) -> None:
    """Export every entry as YAML, JSON, CSV or HSDS (Open Referral) tables."""
    if fmt == ExportFormat.hsds and output is None:
        raise UsageError("--format hsds writes several tables: give a directory with --output")
    with unit_of_work(ctx) as session:
        records = exports.export_records(session)
    if fmt == ExportFormat.hsds and output is not None:
        written = hsds.write_hsds(records, output, language=lang.value)
        typer.echo(f"wrote {len(written)} files to {output}")
    elif fmt == ExportFormat.yaml and output is not None and (output.is_dir() or str(output).endswith("/")):
        written = exports.write_entry_files(records, output)
        typer.echo(f"wrote {len(written)} entry files to {output}")
    else:
        text = exports.render(records, fmt.value)
        if output is None:
            typer.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
            typer.echo(f"wrote {len(records)} entries to {output}")


def stats_command(ctx: typer.Context, fmt: DocFormat = typer.Option(DocFormat.table, "--format")) -> None:
    """Counts by kind, status, program state, country and topic, and how fresh the checks are."""
    with unit_of_work(ctx) as session:
        data = entries.stats(session)
    emit_measures(data, fmt, "directory")


app = typer.Typer()
app.command("init")(init_command)
app.command("import")(import_command)
app.command("export")(export_command)
app.command("stats")(stats_command)
app.add_typer(entries_app, name="entries")
