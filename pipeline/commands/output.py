"""What every command shares: its settings and unit of work, output as table/json/csv, and errors.

Human output is a Rich table; `--format json|csv` is for machines (JSON: a list of objects with
stable keys and ISO 8601 times, compact when piped). A `DomainError` from any service becomes its
lines on stderr and exit 1 (bad input, nothing written) or 2 (bad usage), here in one place
(`domain_errors`, wrapped around every command by the root), so no command prints a traceback
for a user's mistake.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from directory import fields
from directory.errors import DomainError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from pipeline.config import Settings


class TableFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class DocFormat(StrEnum):
    table = "table"
    json = "json"


class Lang(StrEnum):
    en = "en"
    ru = "ru"


@contextmanager
def domain_errors() -> Iterator[None]:
    """A service's `DomainError` ends the command with its lines on stderr and its exit code."""
    try:
        yield
    except DomainError as exc:
        for line in exc.lines():
            typer.echo(line, err=True)
        raise typer.Exit(exc.exit_code) from None


def settings(ctx: typer.Context) -> Settings:
    """The installation's settings, loaded once by the root command."""
    return cast("Settings", ctx.find_root().obj)


@contextmanager
def unit_of_work(ctx: typer.Context) -> Iterator[Session]:
    """A session on the configured database, committed when the block ends without an error."""
    from directory.store import Store  # noqa: PLC0415 - SQLAlchemy loads when a command opens the database

    store = Store(settings(ctx).database_url)
    try:
        store.check_initialized()
        with store.session() as session:
            yield session
    finally:
        store.close()


def console() -> Console:
    return Console()


def emit_json(data: Any) -> None:
    """Indented for a person at a terminal; compact (and several times faster to encode) for a pipe."""
    indent = 2 if sys.stdout.isatty() else None
    typer.echo(json.dumps(data, ensure_ascii=False, indent=indent))


def emit_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row.get(column)) for column in columns])
    typer.echo(out.getvalue(), nl=False)


def csv_cell(value: Any) -> Any:
    """A CSV cell: lists joined with ` | ` (the exchange format's convention), objects as JSON."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else fields.csv_cell(value)


def emit_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], title: str | None = None) -> None:
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    console().print(table)


def emit_rows(
    rows: Sequence[Mapping[str, Any]],
    fmt: TableFormat,
    columns: Sequence[str],
    *,
    title: str | None = None,
    table_columns: Sequence[str] | None = None,
) -> None:
    """Rows as JSON (every key), CSV (`columns`) or a table (`table_columns`, else `columns`)."""
    if fmt == TableFormat.json:
        emit_json(list(rows))
    elif fmt == TableFormat.csv:
        emit_csv(rows, columns)
    else:
        emit_table(rows, table_columns or columns, title=title)


def emit_measures(data: Mapping[str, Any], fmt: DocFormat, title: str) -> None:
    """A document of counts: JSON as it is, or a two-column table (nested counts on one line)."""
    if fmt == DocFormat.json:
        emit_json(data)
        return
    rows = []
    for key, value in data.items():
        if isinstance(value, dict):
            shown = ", ".join(f"{k}: {v}" for k, v in value.items()) or "—"
        else:
            shown = value if value is not None else "—"
        rows.append({"measure": key, "value": shown})
    emit_table(rows, ["measure", "value"], title=title)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return escape(", ".join(str(v) for v in value))
    if isinstance(value, dict):
        return escape(json.dumps(value, ensure_ascii=False))
    return escape(str(value))
