"""Tables for people as lines of text: laid out here, not by Rich, because Rich's `Table` takes about six
seconds for a listing of 1,000 rows (8,000 cells go through its renderables, segments and measures)
where this takes tens of milliseconds.

The look is Rich's default table (a heavy head, light rows) and psql's expanded display for what does
not fit. Widths are counted in terminal cells (`rich.cells.cell_len`: a CJK character takes two).
Words are never broken in a table: a table that cannot give each column its longest word is not
drawn (`table_lines` returns None), and the caller shows blocks instead, where a word longer than
the line (a long URL) is folded, never cut.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len


def table_lines(columns: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> list[str] | None:
    """The table in at most `width` cells, each cell's text wrapped at spaces in its column; None when
    it would have to break a word. Cells are plain text (a line break starts a new line in the cell)."""
    widths = _column_widths(columns, rows, width - (3 * len(columns) + 1))
    if widths is None:
        return None
    lines = ["┏" + "┳".join("━" * (w + 2) for w in widths) + "┓"]
    lines += _row_lines(columns, widths, "┃")
    lines.append("┡" + "╇".join("━" * (w + 2) for w in widths) + "┩")
    for row in rows:
        lines += _row_lines(row, widths, "│")
    lines.append("└" + "┴".join("─" * (w + 2) for w in widths) + "┘")
    return lines


def block_lines(columns: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> list[str]:
    """Each row as a numbered rule and `column  value` lines, values wrapped beside their names."""
    lines: list[str] = []
    for number, row in enumerate(rows, 1):
        label = f"{number} "
        lines.append(label + "─" * max(width - cell_len(label), 1))
        lines += pair_lines(list(zip(columns, row, strict=True)), width)
    return lines


def pair_lines(pairs: Sequence[tuple[str, str]], width: int) -> list[str]:
    """`name  value` lines: names padded to the longest, each value wrapped (folded) to what is left."""
    name_width = max((cell_len(name) for name, _ in pairs), default=0)
    value_width = max(width - name_width - 2, 10)
    lines = []
    for name, value in pairs:
        wrapped = wrap(value, value_width, fold=True)
        lines.append(f"{_padded(name, name_width)}  {wrapped[0]}".rstrip())
        lines += [f"{' ' * name_width}  {line}".rstrip() for line in wrapped[1:]]
    return lines


def wrap(text: str, width: int, *, fold: bool = False) -> list[str]:
    """`text` in lines of at most `width` cells, broken at spaces (runs of spaces are one); a word
    longer than `width` stays whole on its own line, or, with `fold`, is cut into pieces that fit."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line, used = "", 0
        for word in paragraph.split():
            size = cell_len(word)
            if line and used + 1 + size <= width:
                line, used = f"{line} {word}", used + 1 + size
                continue
            if line:
                lines.append(line)
            pieces = _folded(word, width) if fold and size > width else [word]
            lines += pieces[:-1]
            line, used = pieces[-1], cell_len(pieces[-1])
        lines.append(line)
    return lines


def _column_widths(columns: Sequence[str], rows: Sequence[Sequence[str]], available: int) -> list[int] | None:
    """Each column's width: its widest line if all fit in `available`, else at least its longest word,
    the room left shared in proportion to what each column would still like; None when even the
    longest words do not fit."""
    natural = [cell_len(column) for column in columns]
    least = list(natural)
    for row in rows:
        for index, text in enumerate(row):
            for line in text.split("\n"):
                natural[index] = max(natural[index], cell_len(line))
                least[index] = max(least[index], max((cell_len(word) for word in line.split()), default=0))
    if sum(natural) <= available:
        return natural
    if sum(least) > available:
        return None
    slack = [n - m for n, m in zip(natural, least, strict=True)]
    room = available - sum(least)
    widths = [m + room * s // sum(slack) for m, s in zip(least, slack, strict=True)]
    for index in sorted(range(len(widths)), key=lambda i: -slack[i])[: available - sum(widths)]:
        widths[index] += 1
    return widths


def _row_lines(cells: Sequence[str], widths: Sequence[int], bar: str) -> list[str]:
    wrapped = [wrap(text, width) for text, width in zip(cells, widths, strict=True)]
    height = max(len(lines) for lines in wrapped)
    return [
        bar
        + bar.join(
            f" {_padded(lines[i] if i < len(lines) else '', width)} "
            for lines, width in zip(wrapped, widths, strict=True)
        )
        + bar
        for i in range(height)
    ]


def _padded(text: str, width: int) -> str:
    return text + " " * (width - cell_len(text))


def _folded(word: str, width: int) -> list[str]:
    """`word` cut into pieces of at most `width` cells (at least one character each)."""
    pieces, piece, used = [], "", 0
    for char in word:
        size = cell_len(char)
        if piece and used + size > width:
            pieces.append(piece)
            piece, used = "", 0
        piece, used = piece + char, used + size
    return [*pieces, piece]
