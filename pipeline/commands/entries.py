"""Curation commands: `nansen init|import|export|stats` and `nansen entries …`.

Each command parses options, calls one service of `directory` inside one unit of work, and renders
the result through `output`. Services raise `DomainError`s; the root group shows them. The root
loads this module only when one of its commands runs (`pipeline.cli`).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from directory import entries, exports, hsds, imports, search, store
from directory import fields as F
from directory.errors import DomainError, UsageError
from directory.models import Entry
from directory.taxonomy import DESIGNATION_KIND_BY_SLUG, KINDS, PROGRAM_STATES, STATUSES
from pipeline.commands.output import (
    DocFormat,
    Lang,
    TableFormat,
    check_excel,
    console,
    emit_json,
    emit_measures,
    emit_pairs,
    emit_rows,
    emit_table,
    excel_option,
    format_option,
    settings,
    typer_app,
    unit_of_work,
    visible,
)
from pipeline.config import MIGRATION_LOCATIONS

if TYPE_CHECKING:
    pass


class ExportFormat(StrEnum):
    yaml = "yaml"
    json = "json"
    csv = "csv"
    hsds = "hsds"
    hsds_json = "hsds-json"


entries_app = typer_app(help="Read and curate entries.", no_args_is_help=True)


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
    found: Sequence[Entry],
    fmt: TableFormat,
    lang: Lang,
    *,
    ranks: Sequence[float] | None = None,
    excel: bool = False,
    title: str | None = None,
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
        emit_rows(rows, fmt, columns, excel=excel)
        return
    check_excel(fmt, excel)
    table = [_entry_row(e, lang) for e in found]
    emit_table(table, list(table[0]) if table else ["slug"], title=title or f"{len(table)} entries")


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
    stale: int | None = typer.Option(
        None, "--stale", metavar="DAYS", min=0, max=36_500, help="Not verified in DAYS days, or never."
    ),
    designation: str | None = typer.Option(
        None, help=f"Carries this designation, not lifted: {', '.join(DESIGNATION_KIND_BY_SLUG)}."
    ),
    fmt: TableFormat = format_option(),
    excel: bool = excel_option(),
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
        _emit_entries(entries.list_entries(session, filters), fmt, lang, excel=excel)


@entries_app.command("show")
def show_command(ctx: typer.Context, slug: str, fmt: DocFormat = typer.Option(DocFormat.table, "--format")) -> None:
    """Show one entry with every field."""
    with unit_of_work(ctx) as session:
        entry = entries.get_entry(session, slug)
        if fmt == DocFormat.json:
            emit_json(_entry_json(entry))
            return
        record = entries.to_record(entry)
        pairs = [(key, record[key]) for key in F.KEYS if record[key] not in (None, [])]
        pairs += [("created_at", entry.created_at.isoformat()), ("updated_at", entry.updated_at.isoformat())]
        emit_pairs(pairs, title=f"{entry.slug} ({entry.kind})")


_MAX_LIMIT = 500


@entries_app.command("search")
def search_command(
    ctx: typer.Context,
    text: str,
    limit: int = typer.Option(20, min=1, max=_MAX_LIMIT, help="Show at most this many, best first."),
    fmt: TableFormat = format_option(),
    excel: bool = excel_option(),
    lang: Lang = typer.Option(Lang.en, "--lang", help="Language of names in the table."),
) -> None:
    """Full-text search in both languages (any word form), best match first."""
    if not text.strip():
        raise UsageError('give the words to search for, e.g. nansen entries search "legal aid"')
    with unit_of_work(ctx) as session:
        hits = entries.search_entries(session, text, limit=limit)
        total = search.count_matches(session, text) if len(hits) == limit else len(hits)
        more = (
            f"use --limit {total} to see all"
            if total <= _MAX_LIMIT
            else f"use a narrower query (--limit is at most {_MAX_LIMIT})"
        )
        title = f"{len(hits)} of {total} entries: {more}" if total > len(hits) else None
        _emit_entries(
            [entry for entry, _ in hits], fmt, lang, ranks=[rank for _, rank in hits], excel=excel, title=title
        )
    if title and fmt != TableFormat.table:
        typer.echo(title, err=True)  # the output stays data; the note goes where people look


_HISTORY_COLUMNS = ["id", "time", "field", "old", "new", "actor", "origin", "reason", "minor"]


@entries_app.command("history")
def history_command(
    ctx: typer.Context, slug: str, fmt: TableFormat = format_option(), excel: bool = excel_option()
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
    emit_rows(rows, fmt, _HISTORY_COLUMNS, title=f"history of {slug}", excel=excel)


def _scalar(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "(new entry)"
    text = "" if value is None else str(_scalar(value))
    return text if len(text) <= 80 else text[:77] + "…"


# --------------------------------------------------------------------------- writes


SET_HELP = (
    "FIELD=VALUE (repeatable). A list field takes its items separated by ' | ' as in a CSV cell "
    "(topics=legal-aid | housing), designations and warnings a JSON array; an empty value clears."
)


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
    set_: list[str] = typer.Option([], "--set", metavar="FIELD=VALUE", help=f"Any other field: {SET_HELP}"),
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


def _parse_sets(pairs: Sequence[str], option: str = "--set") -> dict[str, Any]:
    """`field=value` pairs, each value as a CSV cell holds it: list items separated by ` | ` (a comma
    never splits, so a URL stays whole), lists of mappings a JSON array; an empty value clears."""
    updates: dict[str, Any] = {}
    for pair in pairs:
        key, value = _pair(pair, option)
        updates[key] = value.strip() if F.FIELD_BY_KEY[key].many else value.strip() or None
    return updates


def _pair(pair: str, option: str) -> tuple[str, str]:
    key, sep, value = pair.partition("=")
    key = key.strip()
    if not sep:
        raise UsageError(f"{option} {pair!r}: expected FIELD=VALUE")
    if key not in F.FIELD_BY_KEY:
        raise UsageError(f"{option} {pair!r}: unknown field {key!r} (fields: {', '.join(F.KEYS)})")
    return key, value


def _item_edits(record: Mapping[str, Any], adds: Sequence[str], removes: Sequence[str]) -> dict[str, Any]:
    """The list fields of `record` with one item added per `--add FIELD=ITEM` and removed per
    `--remove FIELD=ITEM`; the item is taken whole (never split) and compared in canonical form."""
    lists: dict[str, list[Any]] = {}
    for option, pairs in (("--add", adds), ("--remove", removes)):
        for pair in pairs:
            key, value = _pair(pair, option)
            field = F.FIELD_BY_KEY[key]
            if not field.many or field.structured:
                raise UsageError(f"{option} {pair!r}: {key!r} is not a list of items (use --set)")
            try:
                item = field.normalize([value.strip()])[0]
            except ValueError as exc:
                raise DomainError(f"{option} {pair!r}: {exc}") from None
            items = lists.setdefault(key, list(record.get(key) or []))
            if option == "--add" and item not in items:
                items.append(item)
            elif option == "--remove":
                if item not in items:
                    raise DomainError(f"{option} {pair!r}: {key!r} has no item {item!r}")
                items.remove(item)
    return lists


@entries_app.command("edit")
def edit_command(
    ctx: typer.Context,
    slug: str,
    set_: list[str] = typer.Option(
        [], "--set", metavar="FIELD=VALUE", help=f"Change a field: {SET_HELP} Without flags: $EDITOR."
    ),
    add: list[str] = typer.Option(
        [], "--add", metavar="FIELD=ITEM", help="Add one item to a list field, taken whole (repeatable)."
    ),
    remove: list[str] = typer.Option(
        [], "--remove", metavar="FIELD=ITEM", help="Remove one item from a list field (repeatable)."
    ),
    reason: str | None = typer.Option(None, help="Why (kept in the history)."),
    minor: bool = typer.Option(False, "--minor", help="A cosmetic fix: kept in the history, not published."),
) -> None:
    """Change fields of an entry, by flags or as YAML in $EDITOR."""
    actor = entries.Actor(settings(ctx).actor)
    if set_ or add or remove:
        with unit_of_work(ctx) as session:  # held from the read on, so a concurrent --add is not lost
            record = entries.to_record(entries.get_entry(session, slug, for_writing=True))
            updates = {**_parse_sets(set_), **_item_edits(record, add, remove)}
            change = entries.edit_entry(session, slug, updates, actor, reason=reason, minor=minor)
    else:
        change = _edit_in_editor(ctx, slug, actor, reason=reason, minor=minor)
    if change.action == "unchanged":
        typer.echo(f"{slug}: nothing changed")
    else:
        typer.echo(f"{slug}: changed {', '.join(c.field for c in change.changes)}")


def _edit_in_editor(
    ctx: typer.Context, slug: str, actor: entries.Actor, *, reason: str | None, minor: bool
) -> entries.Change:
    """The entry as YAML in $EDITOR, applied when saved valid; a field removed in the editor is cleared.

    A mistake (malformed YAML, a refused value) reopens the editor on what was written, with the error
    on top as comment lines, as `git commit` and `kubectl edit` do, so no typing is lost. Quitting
    without saving cancels. The same error twice in a row ends the edit too (an editor that cannot
    fix it), and the text is then kept in a file the error names.

    The entry is not held while the editor is open: at save, only the fields changed in the editor
    are applied over what others changed meanwhile; when someone else changed one of those same
    fields, the editor reopens on the entry as it is now with this edit's values laid over it, the
    other values named on top, and saving again applies it (`entries.edit_entry`'s `based_on`). Each
    save is its own transaction: nothing is held, on any database, while the editor is open."""
    with unit_of_work(ctx) as session:
        record = entries.to_record(entries.get_entry(session, slug))
    text = exports.entry_yaml(record)
    last_error: str | None = None
    merged = False  # the text offered is a merge: saved as it is, it is applied
    while True:
        edited = _launch_editor(text)
        if edited is None or (edited == text.encode("utf-8") and not merged):
            raise DomainError("edit cancelled: the file was not changed" + (f" ({last_error})" if last_error else ""))
        try:
            body = _without_error_note(edited.decode("utf-8"))
            updates = _edited_fields(body)
            with unit_of_work(ctx) as session:  # a refused edit leaves nothing behind, and holds nothing
                return entries.edit_entry(session, slug, updates, actor, reason=reason, minor=minor, based_on=record)
        except UnicodeDecodeError:
            body = _without_error_note(edited.decode("utf-8", errors="replace"))
            error = "edited text is not UTF-8: save it as UTF-8 (what could not be read shows as \ufffd)"
        except entries.EditConflict as exc:
            record, body, merged = exc.current, exports.entry_yaml(exc.merged), True
            error = f"{exc}: below, the entry as it is now with your changes; save to keep them"
        except DomainError as exc:
            error, merged = "; ".join(exc.lines()), False
        if error == last_error:
            kept = _keep(body, slug)
            raise DomainError(f"{error} (nothing changed; the edited text is kept in {kept})") from None
        last_error = error
        text = _ERROR_NOTE.format(error=visible(error)) + body


def _keep(text: str, slug: str) -> Path:
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", prefix=f"nansen-edit-{slug}-", suffix=".yaml", delete=False
    ) as kept:
        kept.write(text)
    return Path(kept.name)


_ERROR_NOTE = "# Not saved: {error}\n# Fix it and save, or quit without saving to cancel.\n"


def _without_error_note(text: str) -> str:
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith(("# Not saved: ", "# Fix it and save")):
        lines.pop(0)
    return "".join(lines)


def _edited_fields(text: str) -> dict[str, Any]:
    """Every field, from the edited YAML, read as `nansen import` reads a file (duplicate keys, depth,
    dates and numbers checked, errors at their line); a field left out is cleared."""
    records = imports.READERS["yaml"]("edited YAML", text)
    if len(records) != 1:
        raise DomainError("edited YAML: expected one entry, a mapping of fields")
    updates = {key: F.empty_value(F.FIELD_BY_KEY[key]) for key in F.KEYS}
    updates.update(records[0].data)
    return updates


@contextmanager
def _interrupted_by_hangup() -> Iterator[None]:
    """SIGTERM and SIGHUP (a closed terminal) end the command as Ctrl-C does, so the editor's temporary
    folder, which holds what was typed, is removed rather than left behind."""

    def interrupt(_signal: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = {number: signal.signal(number, interrupt) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _launch_editor(text: str) -> bytes | None:
    """Open `text` in $VISUAL/$EDITOR (else vi, at a terminal); the saved bytes, or None if the file
    was not saved (its modification time, set in the past before the editor starts, is unchanged)."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor and not sys.stdin.isatty():
        raise DomainError("no $VISUAL or $EDITOR, and no terminal for vi: set one, or use --set, --add or --remove")
    editor = editor or "vi"
    with _interrupted_by_hangup(), tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "entry.yaml"
        path.write_text(text, encoding="utf-8")
        os.utime(path, ns=(0, 0))  # any save, even of the same text, moves it
        try:
            exited = subprocess.run([*shlex.split(editor), str(path)], check=False).returncode
        except (OSError, ValueError) as exc:  # not found, not executable, unbalanced quotes in $EDITOR
            raise DomainError(f"cannot start the editor {editor!r} ($VISUAL/$EDITOR): {exc}; nothing changed") from None
        if exited != 0:
            raise DomainError(f"the editor {editor!r} exited with an error; nothing changed")
        if not path.is_file():
            raise DomainError(f"the editor {editor!r} removed the file; nothing changed")
        edited = path.read_bytes()
        saved = path.stat().st_mtime_ns != 0
    return edited if saved or edited != text.encode("utf-8") else None


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
    db = store.Store(url, create=True)
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
    output_path: str | None = typer.Option(
        None,
        "--output",
        "-o",
        metavar="PATH",
        help="File to write (default: stdout); its folder must exist. With yaml, an existing folder or a path "
        "ending in / (created if missing) gets one <slug>.yaml per entry, in the style of data/entries/; "
        "hsds needs a folder.",
    ),
    excel: bool = typer.Option(
        False,
        "--excel",
        help="With csv: start with a UTF-8 byte order mark and end rows with CRLF, for spreadsheets. Cells "
        "beginning with = + - @ are written exactly (import reads them back); a spreadsheet may run them.",
    ),
    lang: Lang | None = typer.Option(
        None, "--lang", help="Language of every text in hsds and hsds-json [default: en]."
    ),
) -> None:
    """Export every entry as YAML, JSON, CSV or HSDS (Open Referral) tables."""
    if lang is not None and fmt not in (ExportFormat.hsds, ExportFormat.hsds_json):
        raise UsageError("--lang goes with --format hsds or hsds-json (the other formats hold both languages)")
    lang = lang or Lang.en
    output = Path(output_path) if output_path is not None else None
    folder = output_path is not None and (output_path.endswith(("/", os.sep)) or Path(output_path).is_dir())
    if excel and fmt != ExportFormat.csv:
        raise UsageError("--excel goes with --format csv")
    one_file = fmt in (ExportFormat.json, ExportFormat.csv, ExportFormat.hsds_json) or (
        fmt == ExportFormat.yaml and not folder
    )
    if output is not None and one_file:
        if folder:
            raise UsageError(f"--output {output_path}: {fmt.value} is one file; name a file, not a folder")
        if not output.parent.is_dir():
            raise UsageError(f"--output {output_path}: the folder {output.parent} does not exist")
    if fmt == ExportFormat.hsds and output is None:
        raise UsageError("--format hsds writes several tables: give a directory with --output")
    with unit_of_work(ctx) as session:
        records = exports.export_records(session)
    if fmt == ExportFormat.hsds and output is not None:
        written = hsds.write_hsds(records, output, language=lang.value)
        typer.echo(f"wrote {len(written)} files to {output}")
    elif fmt == ExportFormat.yaml and output is not None and folder:
        written = exports.write_entry_files(records, output)
        typer.echo(f"wrote {len(written)} entry files to {output}")
    elif fmt == ExportFormat.hsds_json:
        document = hsds.hsds_json(records, language=lang.value).encode("utf-8")
        if output is None:
            typer.echo(document, nl=False)
        else:
            output.write_bytes(document)
            typer.echo(f"wrote {len(records)} organizations to {output}")
    else:
        data = exports.render(records, fmt.value, excel=excel).encode("utf-8")  # bytes: line ends as rendered
        if output is None:
            typer.echo(data, nl=False)
        else:
            output.write_bytes(data)
            typer.echo(f"wrote {len(records)} entries to {output}")


def stats_command(ctx: typer.Context, fmt: DocFormat = typer.Option(DocFormat.table, "--format")) -> None:
    """Counts by kind, status, program state, country and topic, and how fresh the checks are."""
    with unit_of_work(ctx) as session:
        data = entries.stats(session)
    emit_measures(data, fmt, "directory")


app = typer_app()
app.command("init")(init_command)
app.command("import")(import_command)
app.command("export")(export_command)
app.command("stats")(stats_command)
app.add_typer(entries_app, name="entries")
