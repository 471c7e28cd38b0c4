r"""What every command shares: its settings and unit of work, output as table/json/csv, and errors.

Human output is a Rich table; `--format json|csv` is for machines (JSON: a list of objects with
stable keys and ISO 8601 times, compact when piped). What any failure prints and its exit code is
decided here in one place (`failure_lines`, which the root applies to every command), so no command
prints a traceback for a user's mistake.

Nothing from outside reaches a terminal as it is: a crawled value may hold escape sequences (clear the
screen, recolour, an OSC 8 link that opens another address than the one shown) or bidi overrides that
show it as another value. Every table cell and every stored string a command echoes goes through
`visible`, which shows such characters as escapes (`\x1b`, `\u202e`) instead. JSON writes them as
JSON escapes, which changes no value. CSV is data and keeps its values byte for byte, except when it is
written to a terminal, where someone reads it: then its cells are `visible` too.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

import typer
from rich.markup import escape
from typer._click import exceptions as click  # Typer's own Click: the classes it raises

from directory import fields
from directory.errors import DomainError, UsageError
from directory.spreadsheet import csv_text
from pipeline.commands import layout

if TYPE_CHECKING:
    from rich.console import Console
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


def typer_app(**kwargs: Any) -> typer.Typer:
    """A command group as every module declares it: Click's plain help (flags shown as flags, defaults
    shown) and no pretty tracebacks (the root turns failures into lines, `failure_lines`)."""
    return typer.Typer(rich_markup_mode=None, pretty_exceptions_enable=False, **kwargs)


def failure_lines(exc: BaseException) -> tuple[list[str], int]:
    """What a failed command prints on stderr, one line per problem, and its exit code.

    A `DomainError` (a user's mistake a service found): its own lines and code. A usage mistake Click
    found (unknown option, bad value, missing file argument): one line naming the command, and 2. An
    `OSError` (a file or folder the system refuses, a refused connection): `path: reason`, and 1. An
    interrupted prompt: `aborted`, and 1. Anything else is a bug: one line with its type, and 1;
    `--debug` shows its traceback instead.
    """
    if isinstance(exc, DomainError):
        return exc.lines(), exc.exit_code
    if isinstance(exc, click.ClickException):
        ctx = getattr(exc, "ctx", None)
        where = f"{ctx.command_path}: " if ctx is not None else ""
        hint = f" (see '{ctx.command_path} --help')" if isinstance(exc, click.UsageError) and ctx else ""
        return [f"{where}{_one_line(exc.format_message())}{hint}"], exc.exit_code
    if isinstance(exc, typer.Abort):
        return ["aborted"], 1
    if isinstance(exc, OSError) and exc.strerror:
        target = " -> ".join(str(name) for name in (exc.filename, exc.filename2) if name is not None)
        return [f"{target}: {exc.strerror}" if target else exc.strerror], 1
    return [
        f"unexpected {type(exc).__name__}: {_one_line(str(exc))} (run with --debug for the traceback; please report it)"
    ], 1


def _one_line(text: str) -> str:
    return " ".join(text.split())


def settings(ctx: typer.Context) -> Settings:
    """The installation's settings, loaded once by the root command."""
    return cast("Settings", ctx.find_root().obj)


def check_database(ctx: typer.Context) -> None:
    """Raise the one-line error of a database that is missing, unreachable or not initialized, before a
    command starts work that would otherwise fail deep inside (a crawl process, a scheduled job)."""
    with unit_of_work(ctx):
        pass


def check_excel(fmt: TableFormat, excel: bool) -> None:
    """`--excel` is an option of `--format csv` (raises `UsageError` otherwise)."""
    if excel and fmt != TableFormat.csv:
        raise UsageError("--excel goes with --format csv")


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
    """Rich's console, for the commands that print styled lines (loaded then, not for every listing)."""
    from rich.console import Console  # noqa: PLC0415

    return Console()


def terminal_width() -> int:
    """Columns to lay a table out in: $COLUMNS, else the terminal's, else 80 (as Rich reads it)."""
    return shutil.get_terminal_size().columns


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
    return fields.replace_hidden(text, _escaped)


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
    typer.echo(fields.replace_hidden(json.dumps(data, ensure_ascii=False, indent=indent), _json_escaped))


EXCEL_HELP = "With --format csv: a byte-order mark and CRLF line ends, so Excel reads the Cyrillic right."
CSV_NOTE = "CSV cells beginning with = + - @ are written after an apostrophe, so a spreadsheet shows them as text."


def format_option() -> Any:
    """The `--format` option of every listing command."""
    return typer.Option(
        TableFormat.table, "--format", help=f"table to read; json or csv for scripts and spreadsheets. {CSV_NOTE}"
    )


def excel_option() -> Any:
    """The `--excel` option that goes with `--format csv`."""
    return typer.Option(False, "--excel", help=EXCEL_HELP)


def emit_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, excel: bool = False) -> None:
    """CSV of `columns` for a person's spreadsheet: formula-leading cells `neutralized` (OWASP), and
    `visible` when it is written to a terminal; `excel`: with a byte-order mark and CRLF."""
    shown = visible if sys.stdout.isatty() else str
    cells = ([shown(str(csv_cell(row.get(column)))) for column in columns] for row in rows)
    typer.echo(csv_text(columns, cells, for_people=True, excel=excel).encode("utf-8"), nl=False)


def csv_cell(value: Any) -> Any:
    """A CSV cell: lists joined with ` | ` (the exchange format's convention), objects as JSON."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else fields.csv_cell(value)


def emit_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], title: str | None = None) -> None:
    """A table, when it fits the terminal without breaking a word (a slug, a date, a code); otherwise
    each row as a block of `column  value` lines (psql's expanded display), so nothing is ever cut."""
    width = terminal_width()
    cells = [[plain_cell(row.get(column)) for column in columns] for row in rows]
    lines = layout.table_lines(columns, cells, width) or layout.block_lines(columns, cells, width)
    _emit_lines(title, lines)


def emit_pairs(pairs: Sequence[tuple[str, Any]], title: str | None = None) -> None:
    """One record as `name  value` lines (the form `emit_table` falls back to for each row): the
    names on the left, each value wrapped beside its name, so a long URL or summary fits any width."""
    shown = [(name, plain_cell(value)) for name, value in pairs]
    _emit_lines(title, layout.pair_lines(shown, terminal_width()))


def _emit_lines(title: str | None, lines: Sequence[str]) -> None:
    if title:
        typer.secho(visible(title), bold=True)  # the style is left out when not at a terminal
    typer.echo("\n".join(lines))


def emit_rows(
    rows: Sequence[Mapping[str, Any]],
    fmt: TableFormat,
    columns: Sequence[str],
    *,
    title: str | None = None,
    table_columns: Sequence[str] | None = None,
    excel: bool = False,
) -> None:
    """Rows as JSON (every key), CSV (`columns`, `emit_csv`) or a table (`table_columns`, else `columns`)."""
    check_excel(fmt, excel)
    if fmt == TableFormat.json:
        emit_json(list(rows))
    elif fmt == TableFormat.csv:
        emit_csv(rows, columns, excel=excel)
    else:
        emit_table(rows, table_columns or columns, title=title)


def emit_measures(data: Mapping[str, Any], fmt: DocFormat, title: str) -> None:
    """A document of counts: JSON as it is, or a two-column table (nested counts on one line)."""
    if fmt == DocFormat.json:
        emit_json(data)
        return
    pairs = []
    for key, value in data.items():
        if isinstance(value, dict):
            shown = ", ".join(f"{k}: {v}" for k, v in value.items()) or "—"
        else:
            shown = value if value is not None else "—"
        pairs.append((key, shown))
    emit_pairs(pairs, title=title)


def plain_cell(value: Any) -> str:
    """What a table shows for a value: lists joined with ", " (a list of objects one per line, their
    values joined with " · "), objects as JSON, made `visible`."""
    if value is None:
        return ""
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        rows = [
            " · ".join(visible(str(x)) for x in v.values()) if isinstance(v, dict) else visible(str(v)) for v in value
        ]
        return "\n".join(rows)
    if isinstance(value, list):
        text = ", ".join(str(v) for v in value)
    elif isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    return visible(text)


def cell(value: Any) -> str:
    """`plain_cell`, escaped for Rich markup, for a line printed through Rich (`[link=…]` in a value
    would otherwise make a hyperlink)."""
    return escape(plain_cell(value))
