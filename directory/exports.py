"""Export entries as YAML, JSON and CSV in exactly the shape `imports` reads back.

Export → import is a round trip that creates no revision: the records carry every curated field
in canonical form, and nothing else (created/updated times belong to the database, not the data).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from directory import entries
from directory import fields as F
from directory.errors import DomainError
from directory.spreadsheet import csv_text

FORMATS = ("yaml", "json", "csv", "hsds")


def export_records(session: Session, filters: entries.Filters | None = None) -> list[dict[str, Any]]:
    return [entries.to_record(entry) for entry in entries.list_entries(session, filters or entries.Filters())]


def to_yaml(records: Iterable[Mapping[str, Any]]) -> str:
    """The entries as one YAML list, each item in the style of `entry_yaml`."""
    return _dump_yaml([_document(record) for record in records])


def entry_yaml(record: Mapping[str, Any]) -> str:
    """One entry as the text of its `data/entries/<slug>.yaml`, byte for byte (see `_document`, `_Dumper`)."""
    return _dump_yaml(_document(record))


# Written even when empty (null or []), so every file shows what an entry lacks. Everything else is
# left out when empty: contacts, designations, warnings, the page watch, a program's texts and next call.
_ALWAYS = frozenset(key for key in F.KEYS if "." not in key) - {"designations", "warnings"}
_ALWAYS_IN_PROGRAM = frozenset({"program.state", "program.state_since", "program.official_url"})
_DATE_KEYS = frozenset({"program.state_since", "program.next_call.opens", "program.next_call.closes"})
_ITEM_DATE_KEYS = ("date", "lifted")
# The order of a designation's keys (authority, kind, date, source, lifted) and a warning's (en, ru, date,
# source) in one list: PostgreSQL's JSONB keeps an object's keys in an order of its own.
_ITEM_ORDER = ("authority", "kind", "en", "ru", "date", "source", "lifted")


def _document(record: Mapping[str, Any]) -> dict[str, Any]:
    """A flat record as the nested mapping of its YAML file, in field order (the rules of `data/entries/`).

    Scalar and list fields at the top level are always written; a program's `state`, `state_since`
    and `official_url` too; every other empty value is left out, as is a designation's `lifted` that
    is null. Dates are YAML timestamps, as people write them: `verified_at` a date when it is
    midnight UTC (`2026-11-23`), else a time (`2026-11-23T09:30:00+00:00`); the partial dates of
    programs, designations and warnings as written (`2025-07-14`, `2025-07`, `2025`).
    """
    always = _ALWAYS | (_ALWAYS_IN_PROGRAM if record.get("kind") == "program" else frozenset())
    kept: dict[str, Any] = {}
    for key in F.KEYS:
        value = record.get(key)
        if value in (None, []) and key not in always:
            continue
        kept[key] = None if value is None else _yaml_value(key, value)
    return F.nest(kept, drop_empty=False)


def _yaml_value(key: str, value: Any) -> Any:
    """A record value as it is dumped: dates as `date`, `datetime` or `int` (see `_document`)."""
    if key == "verified_at":
        return _moment(value)
    if key in _DATE_KEYS:
        return _partial_date(value)
    if F.FIELD_BY_KEY[key].structured:
        return [_item(item) for item in value]
    return value


def _item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A designation or warning in its keys' order (`_ITEM_ORDER`), dates as YAML timestamps, a null
    `lifted` left out."""
    ordered = sorted(item, key=lambda key: _ITEM_ORDER.index(key) if key in _ITEM_ORDER else len(_ITEM_ORDER))
    return {
        key: _partial_date(item[key]) if key in _ITEM_DATE_KEYS else item[key]
        for key in ordered
        if item[key] is not None
    }


def _moment(text: str) -> dt.date | dt.datetime:
    moment = dt.datetime.fromisoformat(text).astimezone(dt.UTC)
    return moment.date() if moment.time() == dt.time() else moment


def _partial_date(text: str) -> dt.date | int | str:
    """`2025-07-14` as a date, `2025` as a year number, `2025-07` as text: each plain in YAML, read back
    by the importer as the same partial date (`fields._partial_date`)."""
    if len(text) == 10:
        return dt.date.fromisoformat(text)
    return int(text) if len(text) == 4 else text


class _Dumper(yaml.SafeDumper):
    """The YAML style of `data/entries/`, so that an export of unchanged data leaves `git diff` empty.

    Mappings in block style; a list of plain values on one line (`languages: [ru, en]`, `feeds: []`),
    its items unquoted wherever YAML reads them back unchanged (URLs included); a list of mappings in
    block style indented under its key; lines never wrapped; text with line breaks as a literal block
    (`|-`); dates as timestamps (`2026-11-23`, `2026-11-23T09:30:00+00:00`).
    """

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def analyze_scalar(self, scalar: str) -> Any:
        analysis = super().analyze_scalar(scalar)
        analysis.allow_flow_plain = analysis.allow_block_plain and _flow_plain(scalar)
        return analysis

    def represent_dict(self, data: Mapping[str, Any]) -> yaml.Node:
        return self.represent_mapping("tag:yaml.org,2002:map", data, flow_style=False)

    def represent_list(self, data: Sequence[Any]) -> yaml.Node:
        flow = not any(isinstance(item, Mapping | list) for item in data)
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)

    def represent_str(self, data: str) -> yaml.Node:
        if "\n" in data:
            return self.represent_scalar("tag:yaml.org,2002:str", data, style="|")
        return super().represent_str(data)

    def represent_datetime(self, data: dt.datetime) -> yaml.Node:
        return self.represent_scalar("tag:yaml.org,2002:timestamp", data.isoformat())


_Dumper.add_representer(dict, _Dumper.represent_dict)
_Dumper.add_representer(list, _Dumper.represent_list)
_Dumper.add_representer(str, _Dumper.represent_str)
_Dumper.add_representer(dt.datetime, _Dumper.represent_datetime)

# Inside `[...]`, PyYAML's reader ends a plain value at , ? [ ] { } and at a ':' that a space, a flow
# indicator or the end follows; PyYAML's writer quotes at any ':' (which every URL has).
_FLOW_PLAIN_REFUSED = re.compile(r"[,?\[\]{}]|:(?:[\s,\[\]{}]|$)")


def _flow_plain(scalar: str) -> bool:
    """Whether `scalar`, already fit to be plain in block style, reads back unchanged as a plain flow item."""
    return _FLOW_PLAIN_REFUSED.search(scalar) is None


def _dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=math.inf)


def to_json(records: Iterable[Mapping[str, Any]]) -> str:
    return json.dumps([F.nest(record) for record in records], ensure_ascii=False, indent=2) + "\n"


def to_csv(records: Iterable[Mapping[str, Any]], *, excel: bool = False) -> str:
    """The entries as CSV, one row each, columns `fields.KEYS` (dotted), list items joined by ` | `.

    Every cell is the value exactly, also one that begins with = + - or @: this is the exchange format
    that `nansen import` reads back, so nothing is escaped. A spreadsheet that opens it may evaluate
    such a cell as a formula. `excel` starts the text with a UTF-8 byte order mark and ends rows with
    CRLF (RFC 4180), which Excel needs to read UTF-8 (Cyrillic) rather than the local code page;
    without it rows end with LF and there is no mark.
    """
    return csv_text(F.KEYS, ([F.csv_cell(record.get(key)) for key in F.KEYS] for record in records), excel=excel)


def write_entry_files(records: Sequence[Mapping[str, Any]], directory: Path) -> list[Path]:
    """One `<slug>.yaml` per entry (`entry_yaml`), in `directory`, created with its parents if missing:
    the layout of `data/entries/`, reviewable entry by entry in git. Files of other slugs are left alone.
    Raises `DomainError`, having written nothing, when a target is a folder or a link (which could point
    out of `directory`), or `directory` is a file."""
    paths = [directory / f"{record['slug']}.yaml" for record in records]
    in_the_way = [path for path in paths if path.is_symlink() or (path.exists() and not path.is_file())]
    if directory.exists() and not directory.is_dir():
        in_the_way.insert(0, directory)
    if in_the_way:  # found before anything is written: a failed export leaves no half of itself
        raise DomainError(
            f"{in_the_way[0]} is in the way: it is a link or not a file{_more(in_the_way)}; nothing was written"
        )
    directory.mkdir(parents=True, exist_ok=True)
    for record, path in zip(records, paths, strict=True):
        path.write_bytes(entry_yaml(record).encode("utf-8"))
    return paths


def _more(paths: Sequence[Path]) -> str:
    return f" (and {len(paths) - 1} more)" if len(paths) > 1 else ""


def render(records: Sequence[Mapping[str, Any]], fmt: str, *, excel: bool = False) -> str:
    """The entries as one text in `fmt` (yaml, json or csv; `excel` as in `to_csv`)."""
    if fmt == "yaml":
        return to_yaml(records)
    if fmt == "json":
        return to_json(records)
    if fmt == "csv":
        return to_csv(records, excel=excel)
    raise ValueError(f"unknown export format {fmt!r} (expected one of {', '.join(FORMATS)})")
