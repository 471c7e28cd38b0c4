"""Import entries from YAML, JSON and CSV files: all-or-nothing, every error with file and line.

Reading and checking happen before anything is written: `read_sources` turns files into records that
remember where each field was written, `plan_import` checks every record against the database and
collects *all* problems, and only an error-free plan is applied, inside the caller's transaction.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from directory import entries
from directory import fields as F
from directory.errors import DomainError

SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".csv": "csv"}


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class ImportFailed(DomainError):
    """Nothing was written; `problems` says every file:line that must be fixed."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = list(problems)

    def lines(self) -> list[str]:
        return [
            *(str(p) for p in self.problems),
            f"import refused: {len(self.problems)} problem(s), nothing was written",
        ]


@dataclass
class SourceRecord:
    """One entry as read from a file, with the line of each field (CSV: the row's line)."""

    path: str
    line: int
    data: dict[str, Any]
    lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, key: str) -> int:
        """The line of `key`, else of its nearest parent (`name` for a missing `name.ru`), else the entry's."""
        parts = key.split(".")
        for end in range(len(parts), 0, -1):
            line = self.lines.get(".".join(parts[:end]))
            if line is not None:
                return line
        return self.line


# --------------------------------------------------------------------------- reading


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files named, and the importable files under directories named, in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        else:
            found.append(path)
    return found


def read_sources(paths: Iterable[Path]) -> list[SourceRecord]:
    """Every record in the files; raises ImportFailed listing every file that cannot be read."""
    records, problems = _read_all(list(paths))
    if problems:
        raise ImportFailed(problems)
    return records


def _read_all(paths: list[Path]) -> tuple[list[SourceRecord], list[Problem]]:
    records: list[SourceRecord] = []
    problems: list[Problem] = []
    files = expand_paths(paths)
    if not files:
        raise ImportFailed([Problem(str(p), 0, "no .yaml, .yml, .json or .csv files here") for p in paths])
    for path in files:
        fmt = SUFFIXES.get(path.suffix.lower())
        if fmt is None:
            problems.append(Problem(str(path), 0, "unknown file type (expected .yaml, .yml, .json or .csv)"))
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(str(path), 0, f"cannot read: {exc}"))
            continue
        try:
            records += READERS[fmt](str(path), text)
        except ImportFailed as exc:
            problems += exc.problems
    return records, problems


def _yaml_records(path: str, text: str) -> list[SourceRecord]:

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        reason = getattr(exc, "problem", None) or str(exc)
        raise ImportFailed([Problem(path, line, f"malformed YAML: {reason}")]) from exc
    if root is None:
        return []
    nodes = root.value if isinstance(root, yaml.SequenceNode) else [root]
    records = []
    for node in nodes:
        if not isinstance(node, yaml.MappingNode):
            raise ImportFailed([Problem(path, node.start_mark.line + 1, "an entry must be a mapping of fields")])
        try:
            data = yaml.SafeLoader(io.StringIO()).construct_document(node)
        except yaml.YAMLError as exc:
            raise ImportFailed([Problem(path, node.start_mark.line + 1, f"malformed YAML: {exc}")]) from exc
        records.append(SourceRecord(path, node.start_mark.line + 1, F.flatten(data), _yaml_lines(node)))
    return records


def _yaml_lines(node: Any, prefix: str = "") -> dict[str, int]:

    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        key = f"{prefix}{key_node.value}"
        lines[key] = key_node.start_mark.line + 1
        if isinstance(value_node, yaml.MappingNode) and key not in F.FIELD_BY_KEY:
            lines.update(_yaml_lines(value_node, f"{key}."))
    return lines


def _json_records(path: str, text: str) -> list[SourceRecord]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFailed([Problem(path, exc.lineno, f"malformed JSON: {exc.msg}")]) from exc
    items = data if isinstance(data, list) else [data]
    starts = _json_item_lines(text) if isinstance(data, list) else [1]
    records = []
    for item, line in zip(items, starts, strict=True):
        if not isinstance(item, dict):
            raise ImportFailed([Problem(path, line, "an entry must be an object of fields")])
        flat = F.flatten(item)
        records.append(SourceRecord(path, line, flat, _json_key_lines(text, line, flat)))
    return records


def _json_item_lines(text: str) -> list[int]:
    """Line where each element of a top-level JSON array starts (json gives values, not places)."""
    decoder = json.JSONDecoder()
    index = text.index("[") + 1
    lines: list[int] = []
    while True:
        while index < len(text) and text[index] in " \t\r\n,":
            index += 1
        if index >= len(text) or text[index] == "]":
            return lines
        lines.append(text.count("\n", 0, index) + 1)
        _, index = decoder.raw_decode(text, index)


def _json_key_lines(text: str, start_line: int, flat: Mapping[str, Any]) -> dict[str, int]:
    """Best-effort line of each key: the first line at or after the entry's start that names it."""
    lines = text.splitlines()
    found: dict[str, int] = {}
    for key in flat:
        needle = f'"{key.rsplit(".", 1)[-1]}"'
        for number in range(start_line - 1, len(lines)):
            if needle in lines[number]:
                found[key] = number + 1
                break
    return found


def _csv_records(path: str, text: str) -> list[SourceRecord]:
    reader = csv.DictReader(io.StringIO(text))
    records = []
    header = reader.fieldnames or []
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise ImportFailed([Problem(path, 1, f"duplicate columns: {', '.join(duplicates)}")])
    line = reader.line_num
    for row in reader:
        if None in row:
            raise ImportFailed([Problem(path, line + 1, "more cells than columns in the header")])
        data = {key: (value if value != "" else None) for key, value in row.items()}
        records.append(SourceRecord(path, line + 1, data))
        line = reader.line_num
    return records


READERS = {"yaml": _yaml_records, "json": _json_records, "csv": _csv_records}


# --------------------------------------------------------------------------- planning and applying


@dataclass
class ImportPlan:
    records: list[SourceRecord]
    changes: list[entries.Change]

    def count(self, action: str) -> int:
        return sum(1 for change in self.changes if change.action == action)


def plan_import(session: Session, records: Sequence[SourceRecord], problems: Sequence[Problem] = ()) -> ImportPlan:
    """Check every record (fields, whole-entry rules, duplicate slugs); raise with all problems,
    including `problems` already found while reading, so one run reports everything to fix."""
    problems = list(problems)
    changes: list[entries.Change] = []
    seen: dict[str, SourceRecord] = {}
    for record in records:
        slug = record.data.get("slug")
        if isinstance(slug, str) and slug in seen:
            first = seen[slug]
            problems.append(
                Problem(
                    record.path,
                    record.line_of("slug"),
                    f"'slug': duplicate slug {slug!r} (first at {first.path}:{first.line_of('slug')})",
                )
            )
            continue
        if isinstance(slug, str):
            seen[slug] = record
        try:
            changes.append(entries.plan(session, record.data))
        except entries.InvalidEntry as exc:
            problems += [Problem(record.path, record.line_of(e.field), str(e)) for e in exc.errors]
    if problems:
        raise ImportFailed(problems)
    return ImportPlan(list(records), changes)


def apply_import(session: Session, plan: ImportPlan, actor_name: str, *, reason: str | None = None) -> ImportPlan:
    """Write a checked plan; the caller's transaction makes it all-or-nothing."""
    for record, change in zip(plan.records, plan.changes, strict=True):
        if change.action != "unchanged":
            entries.apply(session, record.data, entries.Actor(actor_name, f"import:{record.path}"), reason=reason)
    return plan


def import_paths(
    session: Session,
    paths: Iterable[Path],
    actor_name: str,
    *,
    dry_run: bool = False,
    reason: str | None = None,
) -> ImportPlan:
    """Read, check and (unless `dry_run`) apply; raises ImportFailed before writing anything."""
    records, problems = _read_all(list(paths))
    plan = plan_import(session, records, problems)
    if not dry_run:
        apply_import(session, plan, actor_name, reason=reason)
    return plan
