"""Export entries as YAML, JSON and CSV in exactly the shape `imports` reads back.

Export → import is a round trip that creates no revision: the records carry every curated field
in canonical form, and nothing else (created/updated times belong to the database, not the data).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from directory import entries
from directory import fields as F

FORMATS = ("yaml", "json", "csv", "hsds")


def export_records(session: Session, filters: entries.Filters | None = None) -> list[dict[str, Any]]:
    return [entries.to_record(entry) for entry in entries.list_entries(session, filters or entries.Filters())]


def to_yaml(records: Iterable[Mapping[str, Any]]) -> str:
    return _dump_yaml([F.nest(record) for record in records])


def _dump_yaml(data: Any) -> str:

    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100, default_flow_style=None)


def to_json(records: Iterable[Mapping[str, Any]]) -> str:
    return json.dumps([F.nest(record) for record in records], ensure_ascii=False, indent=2) + "\n"


def to_csv(records: Iterable[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(F.KEYS)
    for record in records:
        writer.writerow([F.csv_cell(record.get(key)) for key in F.KEYS])
    return out.getvalue()


def write_entry_files(records: Sequence[Mapping[str, Any]], directory: Path) -> list[Path]:
    """One `<slug>.yaml` per entry: the layout of `data/entries/`, reviewable entry by entry in git."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for record in records:
        path = directory / f"{record['slug']}.yaml"
        path.write_text(_dump_yaml(F.nest(record)), encoding="utf-8")
        written.append(path)
    return written


def render(records: Sequence[Mapping[str, Any]], fmt: str) -> str:
    if fmt == "yaml":
        return to_yaml(records)
    if fmt == "json":
        return to_json(records)
    if fmt == "csv":
        return to_csv(records)
    raise ValueError(f"unknown export format {fmt!r} (expected one of {', '.join(FORMATS)})")
