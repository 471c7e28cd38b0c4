r"""What every command shares: its settings and unit of work, output as table/json/csv, and errors.

Human output is a Rich table; `--format json|csv` is for machines (JSON: a list of objects with
stable keys and ISO 8601 times, compact when piped). A `DomainError` from any service becomes its
lines on stderr and exit 1 (bad input, nothing written) or 2 (bad usage), here in one place
(`domain_errors`, wrapped around every command by the root), so no command prints a traceback
for a user's mistake.

Nothing from outside reaches a terminal as it is: a crawled value may hold escape sequences (clear the
screen, recolour, an OSC 8 link that opens another address than the one shown) or bidi overrides that
show it as another value. Every table cell and every stored string a command echoes goes through
`visible`, which shows such characters as escapes (`\x1b`, `\u202e`) instead. JSON writes them as
JSON escapes, which changes no value. CSV is data and keeps its values byte for byte, except when it is
written to a terminal, where someone reads it: then its cells are `visible` too.
"""

from __future__ import annotations

import csv
import io
import json
import re
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
            typer.echo(visible(line), err=True)  # errors quote the values they refuse
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


def visible(text: str, *, lines: bool = False) -> str:
    r"""`text` safe to write to a terminal: each character a terminal would act on, or that would change
    how its neighbours look while being invisible itself, is shown as its escape instead.

    Those are the characters of `directory.fields.HIDDEN`, the ones a URL or an address may never hold:
    C0 controls, DEL and C1 controls (U+0080–U+009F; some terminals read U+009B as CSI), bidi
    embeddings, overrides, isolates and marks (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C),
    zero-width characters (U+200B–U+200D, U+2060, U+FEFF), the soft hyphen, line and paragraph
    separators, lone surrogates (which would stop the output with an encoding error) and the other
    default-ignorable characters. Each is written as in a Python literal: `\t`, `\n`, `\r`, `\x1b`,
    `\x9b`, `\u202e`, `\U000e0041`. So an OSC 8 hyperlink `ESC ]8;;http://evil/ ESC \ text` prints as
    `\x1b]8;;http://evil/\x1b\text`, and nothing a site wrote can clear, colour or relink the screen.

    Tab and newline are controls too, and are shown: a value is one line, and a value with a line break
    in it could forge what looks like the next line of the output (another proposal, another field).
    `lines=True` keeps line feeds for text that is many lines by nature (a child's stderr), each line
    made safe; a carriage return, which lets a line overwrite itself, is still shown. Backslashes are left
    alone: this is for eyes, not a form to read back. Rich markup is another matter: wherever text goes
    through Rich, escape that too, after this (`rich.markup.escape(visible(text))`).
    """
    if lines:
        return "\n".join(visible(line) for line in text.split("\n"))
    return fields.HIDDEN.sub(_escaped, text)


_SHORT_ESCAPES = {"\t": r"\t", "\n": r"\n", "\r": r"\r"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _json_escaped(match: re.Match[str]) -> str:
    """One character as JSON writes it escaped (a UTF-16 surrogate pair beyond the BMP, RFC 8259 §7).

    C0 controls are left as they are: json.dumps has escaped every one inside strings, so any left is
    the line breaks of indented output, which are JSON's own white space."""
    char = match.group()
    if char < " ":
        return char
    units = char.encode("utf-16-be", "surrogatepass")
    return "".join(f"\\u{int.from_bytes(units[i : i + 2], 'big'):04x}" for i in range(0, len(units), 2))


def emit_json(data: Any) -> None:
    """Indented for a person at a terminal; compact (and several times faster to encode) for a pipe.

    Letters stay letters (`ensure_ascii=False`), but every other character `visible` would show is
    written as a JSON escape (json.dumps escapes only C0), which every JSON reader decodes to the same
    value: DEL, C1, bidi and zero-width characters never reach a terminal raw, and no value changes.
    """
    indent = 2 if sys.stdout.isatty() else None
    typer.echo(fields.HIDDEN.sub(_json_escaped, json.dumps(data, ensure_ascii=False, indent=indent)))


def emit_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """CSV of `columns`: the values as they are, or `visible` when a person reads it at a terminal."""
    shown = visible if sys.stdout.isatty() else str
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([shown(str(csv_cell(row.get(column)))) for column in columns])
    typer.echo(out.getvalue(), nl=False)


def csv_cell(value: Any) -> Any:
    """A CSV cell: lists joined with ` | ` (the exchange format's convention), objects as JSON."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else fields.csv_cell(value)


def emit_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], title: str | None = None) -> None:
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(cell(row.get(column)) for column in columns))
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


def cell(value: Any) -> str:
    """What a table shows for a value: lists joined with ", " (a list of objects one per line, their
    values joined with " · "), objects as JSON, made `visible`, and escaped for Rich markup (a cell is
    markup to Rich, and `[link=…]` would make a hyperlink)."""
    if value is None:
        return ""
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        rows = [
            " · ".join(visible(str(x)) for x in v.values()) if isinstance(v, dict) else visible(str(v)) for v in value
        ]
        return escape("\n".join(rows))
    if isinstance(value, list):
        text = ", ".join(str(v) for v in value)
    elif isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    return escape(visible(text))
