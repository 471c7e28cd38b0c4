"""Import entries from YAML, JSON and CSV files: all-or-nothing, every error with file and line.

Reading and checking happen before anything is written: `read_sources` turns files into records that
remember where each field was written, `plan_import` checks every record against the database and
collects *all* problems, and only an error-free plan is applied, inside the caller's transaction.

Time is linear in the entries, and what a file may hold is bounded (docs/data-format.md, "Limits"):
its size (`MAX_FILE_BYTES`), its nesting (`MAX_DEPTH`, checked before a parser recurses), and the
length of each field (`fields`).
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from directory import entries, store
from directory import fields as F
from directory.errors import DomainError
from directory.models import Entry
from directory.spreadsheet import MalformedCsv, spreadsheet_rows

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

# Bounds on what one file may hold (docs/data-format.md, "Limits"); each field has its own (`fields`).
MAX_FILE_BYTES = 64 * 1024 * 1024  # 10,000 entries of today's length take about 26 MB as JSON
MAX_DEPTH = 10  # lists and mappings inside one another; an entry needs 4 (list, entry, program, state_note)
MAX_NUMBER_LENGTH = 100  # characters of a number in YAML or JSON: no field holds a longer one


def expand_paths(paths: Iterable[Path]) -> tuple[list[Path], list[Problem]]:
    """Files named, and the importable files under folders named, in a stable order; each file once,
    however often it is named (directly, through a folder, or through a link), by the path first named.
    Hidden files and folders under a folder (`.git/`, `.github/`) are skipped; a hidden file named is read.
    Anything under a folder with an importable name is a file to read, be it a pipe, a socket or a
    dangling link (reading it says what it is); a folder that cannot be listed is a problem."""
    found: dict[object, Path] = {}  # the file's identity -> the path it was first named by
    problems: list[Problem] = []
    for path in paths:
        for file in sorted(_files_under(path, problems)) if path.is_dir() else [path]:
            found.setdefault(_identity(file), file)
    return list(found.values()), problems


def _identity(file: Path) -> object:
    """What makes two paths one file: device and inode (a symbolic or a hard link), else the real path."""
    try:
        status = file.stat()
    except OSError:  # reported when it is read
        return os.path.realpath(file)
    return (status.st_dev, status.st_ino)


def _files_under(folder: Path, problems: list[Problem]) -> Iterator[Path]:
    """The importable names under `folder`, at any depth, but none that is hidden or in a hidden folder;
    a folder that cannot be listed is added to `problems`."""

    def unreadable(error: OSError) -> None:
        problems.append(Problem(str(error.filename), 0, f"cannot read this folder: {error.strerror or error}"))

    for root, folders, files in os.walk(folder, onerror=unreadable):
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in files:
            if not name.startswith(".") and Path(name).suffix.lower() in SUFFIXES:
                yield Path(root, name)


def read_sources(paths: Iterable[Path]) -> list[SourceRecord]:
    """Every record in the files; raises ImportFailed listing every file that cannot be read."""
    records, problems = _read_all(list(paths))
    if problems:
        raise ImportFailed(problems)
    return records


def _read_all(paths: list[Path]) -> tuple[list[SourceRecord], list[Problem]]:
    records: list[SourceRecord] = []
    files, problems = expand_paths(paths)
    if not files and not problems:
        raise ImportFailed([Problem(str(p), 0, "no .yaml, .yml, .json or .csv files here") for p in paths])
    for path in files:
        fmt = SUFFIXES.get(path.suffix.lower())
        if fmt is None:
            problems.append(Problem(str(path), 0, "unknown file type (expected .yaml, .yml, .json or .csv)"))
            continue
        try:
            text = _read_text(path)
            read = READERS[fmt](str(path), text) if text.strip() else []
        except ImportFailed as exc:
            problems += exc.problems
            continue
        if not read:  # an empty file, or a CSV with its header only: a save that went wrong, most likely
            problems.append(Problem(str(path), 0, "holds no entries: remove the file or fill it"))
            continue
        printed = next((record for record in read if set(_FOR_PEOPLE) & record.data.keys()), None)
        if printed is not None:  # one line for the file, not one per entry and column
            problems.append(Problem(str(path), printed.line, _printed_for_people(fmt, printed.data.keys())))
            continue
        records += read
    return records, problems


def _printed_for_people(fmt: str, keys: Iterable[str]) -> str:
    extra = ", ".join(key for key in _FOR_PEOPLE if key in keys)
    return (
        f"the output of `nansen entries list` or `search` (it has {extra}), not read back: "
        f"import a file of `nansen export --format {fmt}`"
    )


def _read_text(path: Path) -> str:
    """The file's text: UTF-8, without the byte-order mark Excel writes ("CSV UTF-8"), line ends as
    written (CSV needs them: RFC 4180 rows end with CRLF, and a quoted cell may hold one).

    Raises ImportFailed for a file larger than `MAX_FILE_BYTES` (read no further than that), one that
    cannot be read, one that is not a regular file (a named pipe would block the import until someone
    writes to it; a device may never end), or one that is not UTF-8 (naming the line of the first bad byte)."""
    not_regular = "not a regular file (a pipe, socket or device): save the entries to a file and import that"
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a socket cannot even be opened
            raise ImportFailed([Problem(str(path), 0, not_regular)])
        # O_NONBLOCK: opening a named pipe for reading would wait for a writer
        with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):  # replaced since it was looked at
                raise ImportFailed([Problem(str(path), 0, not_regular)])
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ImportFailed([Problem(str(path), 0, f"cannot read: {exc.strerror or exc}")]) from None
    if len(data) > MAX_FILE_BYTES:
        reason = f"too large: more than {MAX_FILE_BYTES:,} bytes (the limit for one file); split it into several files"
        raise ImportFailed([Problem(str(path), 0, reason)])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        reason = 'cannot read: not UTF-8 text; save the file as UTF-8 (in Excel: "CSV UTF-8")'
        raise ImportFailed([Problem(str(path), line, reason)]) from None


def _too_deep(path: str, line: int) -> ImportFailed:
    return ImportFailed([Problem(path, line, f"nested too deeply: more than {MAX_DEPTH} levels of lists and mappings")])


def _duplicate_key(path: str, line: int, key: str, first: int) -> Problem:
    """A key written twice in one mapping, which YAML and JSON parsers read as the last value, silently."""
    name = key if len(key) <= F.CODE_LIMIT else f"{key[: F.CODE_LIMIT]}…"
    return Problem(path, line, f"duplicate key {name!r} (first at line {first})")


_TOO_LONG_NUMBER = f"a number is too long: more than {MAX_NUMBER_LENGTH} characters"


# ----------------------------------------------------------------- YAML

# libyaml's parser when PyYAML has it (its wheels do); it is iterative, and many times faster.
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _yaml_records(path: str, text: str) -> list[SourceRecord]:
    constructor = yaml.constructor.SafeConstructor()
    records = []
    try:
        for node in _yaml_entries(path, text):
            line = node.start_mark.line + 1
            if not isinstance(node, yaml.MappingNode):
                raise ImportFailed([Problem(path, line, "an entry must be a mapping of fields")])
            try:
                data = constructor.construct_document(node)
            except ValueError as exc:  # a date like 2026-13-45, a number of more than 4,300 digits
                raise ImportFailed([Problem(path, line, f"malformed YAML: {exc}")]) from None
            records.append(SourceRecord(path, line, F.flatten(data), _yaml_lines(node)))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if reason == "exceeded maximum nesting depth":  # libyaml's scanner, which reads ahead of its parser
            raise _too_deep(path, line) from None
        raise ImportFailed([Problem(path, line, f"malformed YAML: {reason}")]) from None
    return records


def _yaml_entries(path: str, text: str) -> Iterator[yaml.Node]:
    """The node of each entry, as soon as it is read: each item of a top-level list, or the top-level
    mapping. Composed here from the parser's events, as PyYAML's composer does but without recursion,
    so that nesting deeper than `MAX_DEPTH` is refused at its line before anything is built; aliases
    (`*name`) are refused too, since one can stand for a structure many times its size, and so are a
    key written twice in one mapping and a number longer than `MAX_NUMBER_LENGTH`."""
    resolver, constructor = yaml.resolver.Resolver(), yaml.constructor.SafeConstructor()
    open_nodes: list[yaml.CollectionNode] = []
    keys: list[yaml.Node | None] = []  # per open mapping: the key read, waiting for its value
    seen: list[dict[str, int]] = []  # per open mapping: the line of each key read
    documents = 0
    for event in yaml.parse(text, Loader=_YAML_LOADER):
        line = event.start_mark.line + 1
        documents += isinstance(event, yaml.DocumentStartEvent)
        if documents > 1:
            raise ImportFailed([Problem(path, line, "malformed YAML: expected a single document, found another")])
        if isinstance(event, yaml.AliasEvent):
            raise ImportFailed([Problem(path, line, f"aliases (*{event.anchor}) are not read: write the value out")])
        if isinstance(event, yaml.CollectionStartEvent):
            if len(open_nodes) == MAX_DEPTH:
                raise _too_deep(path, line)
            kind = yaml.SequenceNode if isinstance(event, yaml.SequenceStartEvent) else yaml.MappingNode
            open_nodes.append(kind(_tag(resolver, kind, event), [], event.start_mark, None, event.flow_style))
            keys.append(None)
            seen.append({})
            continue
        if isinstance(event, yaml.ScalarEvent):
            tag = _tag(resolver, yaml.ScalarNode, event)
            if tag in _YAML_NUMBERS and len(event.value) > MAX_NUMBER_LENGTH:
                raise ImportFailed([Problem(path, line, _TOO_LONG_NUMBER)])
            if tag in _AS_WRITTEN and event.tag in (None, "!"):
                tag = _YAML_STR
            node: yaml.Node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
            if tag == _YAML_TIMESTAMP:
                _check_date(path, line, constructor, node)
        elif isinstance(event, yaml.CollectionEndEvent):
            node = open_nodes.pop()
            node.end_mark = event.end_mark
            keys.pop()
            seen.pop()
        else:
            continue  # the start and end of the stream and of the document
        if not open_nodes:  # the document's node
            if not isinstance(node, yaml.SequenceNode):  # a top-level list's items were given out one by one
                yield node
        elif len(open_nodes) == 1 and isinstance(open_nodes[0], yaml.SequenceNode):  # an item of a top-level list
            yield node
        elif isinstance(open_nodes[-1], yaml.SequenceNode):
            open_nodes[-1].value.append(node)
        elif keys[-1] is None:
            if isinstance(node, yaml.ScalarNode):
                if node.value in seen[-1]:
                    raise ImportFailed([_duplicate_key(path, line, node.value, seen[-1][node.value])])
                seen[-1][node.value] = line
            keys[-1] = node
        else:
            open_nodes[-1].value.append((keys[-1], node))
            keys[-1] = None


_YAML_NUMBERS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_YAML_STR, _YAML_TIMESTAMP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:timestamp"
# No field is a number or a yes/no: a plain scalar YAML 1.1 would read as one is kept as written, so
# `telegram: 007` stays `007` (not 7) and `host_countries: [NO]` is Norway (not false).
_AS_WRITTEN = (*_YAML_NUMBERS, "tag:yaml.org,2002:bool")


def _check_date(path: str, line: int, constructor: yaml.constructor.SafeConstructor, node: yaml.ScalarNode) -> None:
    """Refuse, at its own line, a value YAML reads as a date but no calendar has (`2026-13-45`)."""
    try:
        constructor.construct_yaml_timestamp(node)
    except ValueError as exc:
        raise ImportFailed([Problem(path, line, f"{node.value!r} is not a date: {exc}")]) from None


def _tag(resolver: yaml.resolver.Resolver, kind: type[yaml.Node], event: Any) -> str:
    """The node's tag: the one written (`!!str`), else the one its plain value implies (`2026-11-20`: a date)."""
    if event.tag not in (None, "!"):
        return str(event.tag)
    return str(resolver.resolve(kind, getattr(event, "value", None), event.implicit))


def _yaml_lines(node: Any, prefix: str = "") -> dict[str, int]:

    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        key = f"{prefix}{key_node.value}"
        lines[key] = key_node.start_mark.line + 1
        if isinstance(value_node, yaml.MappingNode) and key not in F.FIELD_BY_KEY:
            lines.update(_yaml_lines(value_node, f"{key}."))
    return lines


# ----------------------------------------------------------------- JSON

# The tokens that matter for places in a JSON text: a string (a key when a colon follows), a bracket,
# and the other values (numbers, true, false, null; NaN and Infinity, which Python's json reads).
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"(\s*:)?|[\[\]{}]|[-0-9tfnNI][^\s,\]}]*')


@dataclass
class _JsonPlaces:
    """Where each entry of a JSON text starts, and the line of each key on its chain of objects; and
    the first thing that Python's json reads but an import must not (`problem`): a key written twice in
    one object, NaN or Infinity (not JSON, RFC 8259 section 6), a number longer than `MAX_NUMBER_LENGTH`."""

    starts: list[int] = field(default_factory=list)
    lines: list[dict[str, int]] = field(default_factory=list)
    problem: Problem | None = None


def _json_records(path: str, text: str) -> list[SourceRecord]:
    places = _json_places(path, text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFailed([Problem(path, exc.lineno, f"malformed JSON: {exc.msg}")]) from None
    except ValueError:  # int() refuses a number of more digits than `sys.get_int_max_str_digits()`
        places.problem = places.problem or Problem(path, 0, "a number is too long")
    except RecursionError:  # not reached: `_json_places` bounds the depth first
        raise _too_deep(path, 0) from None
    if places.problem is not None:  # the text is JSON, so the places are exact
        raise ImportFailed([places.problem])
    items = data if isinstance(data, list) else [data]
    records = []
    for item, line, lines in zip(items, places.starts, places.lines, strict=True):
        if not isinstance(item, dict):
            raise ImportFailed([Problem(path, line, "an entry must be an object of fields")])
        records.append(SourceRecord(path, line, F.flatten(item), lines))
    return records


def _json_places(path: str, text: str) -> _JsonPlaces:
    """One pass over the tokens of `text`: the line of each entry (the items of a top-level array, or
    the top-level value) and of each key in it and in the objects it nests, for `SourceRecord.lines`;
    raises ImportFailed at the line where nesting goes deeper than `MAX_DEPTH`, before `json` parses it.

    Exact on valid JSON (a string's brackets and quotes are inside its token), the only JSON whose
    places are used; on malformed JSON it only counts brackets."""
    places = _JsonPlaces()
    brackets: list[str] = []
    prefixes: list[str | None] = []  # per open bracket: the dotted prefix of the keys in it, None if not kept
    objects: list[dict[str, int]] = []  # per open bracket: the line of each key in it (none in an array)
    key: str | None = None  # the last key kept, whose value may be the object that opens next
    line, last = 1, 0
    for match in _JSON_TOKEN.finditer(text):
        start = match.start()
        line += text.count("\n", last, start)
        last = start
        token = match.group()
        first = token[0]
        at_entry = (not brackets and first != "[") or brackets == ["["]
        if first in "]}":
            if brackets:  # else the JSON is malformed, which `json` says in its words
                brackets.pop()
                prefixes.pop()
                objects.pop()
            continue
        if first == '"' and match.group(1):
            name = _json_string(token[: token.rindex('"') + 1])
            if objects and name in objects[-1] and places.problem is None:
                places.problem = _duplicate_key(path, line, name, objects[-1][name])
            if objects:
                objects[-1].setdefault(name, line)
            prefix = prefixes[-1] if prefixes else None
            if prefix is not None:
                key = prefix + name
                places.lines[-1].setdefault(key, line)
            continue
        if first not in '"[{' and places.problem is None:
            if token in ("NaN", "Infinity", "-Infinity"):
                places.problem = Problem(path, line, f"malformed JSON: {token} is not JSON: write a number, or null")
            elif len(token) > MAX_NUMBER_LENGTH:
                places.problem = Problem(path, line, _TOO_LONG_NUMBER)
        if at_entry:
            places.starts.append(line)
            places.lines.append({})
        if first in "[{":
            if len(brackets) == MAX_DEPTH:
                raise _too_deep(path, line)
            if first == "{" and at_entry:
                prefixes.append("")
            elif first == "{" and brackets[-1] == "{" and prefixes[-1] is not None and key is not None:
                prefixes.append(f"{key}.")
            else:
                prefixes.append(None)
            brackets.append(first)
            objects.append({})
            key = None
    return places


def _json_string(token: str) -> str:
    """The text of a JSON string token; a malformed one as written (`json` then says what is wrong)."""
    if "\\" not in token:
        return token[1:-1]
    try:
        return str(json.loads(token))
    except ValueError:
        return token[1:-1]


# ----------------------------------------------------------------- CSV


def _csv_records(path: str, text: str) -> list[SourceRecord]:
    """A record per row (`spreadsheet_rows`), at the line the row starts on; blank rows and rows of
    empty cells (which spreadsheets leave at the end) are skipped, a short row's missing cells are empty."""
    try:
        rows = spreadsheet_rows(text)
    except MalformedCsv as exc:
        raise ImportFailed([Problem(path, exc.line, str(exc))]) from None
    header = rows[0][1] if rows else []
    unnamed = [str(number) for number, name in enumerate(header, 1) if not name.strip()]
    if (unnamed and any(name.strip() for name in header)) or len(unnamed) > 1:
        reason = f"a column without a name in the header line (column {', '.join(unnamed)}): name it or remove it"
        raise ImportFailed([Problem(path, 1, reason)])
    duplicates = sorted(name for name, count in Counter(header).items() if count > 1)
    if duplicates:
        raise ImportFailed([Problem(path, 1, f"duplicate columns: {', '.join(duplicates)}")])
    problems = _header_problems(path, header)
    if problems:
        raise ImportFailed(problems)
    records = []
    for line, cells in rows[1:]:
        if len(cells) > len(header):
            raise ImportFailed([Problem(path, line, "more cells than columns in the header")])
        if any(cells):
            cells += [""] * (len(header) - len(cells))
            records.append(SourceRecord(path, line, {k: v or None for k, v in zip(header, cells, strict=True)}))
    return records


# The columns that only the CSV read commands print for people has (`entries list` and `search`: their
# cells may begin with an apostrophe that is not part of the value, see directory/spreadsheet.py).
_FOR_PEOPLE = ("rank", "created_at", "updated_at")


def _header_problems(path: str, header: list[str]) -> list[Problem]:
    """At line 1: the file is the CSV of a read command, or each column that is not a field's key
    (`F.KEYS`), once, naming the key it differs from only by case or surrounding spaces."""
    for_people = [name for name in header if name in _FOR_PEOPLE]
    if for_people:
        reason = (
            f"a CSV printed for people by `nansen entries list` or `search` (it has {', '.join(for_people)}), not"
            " read back: its cells may begin with an added apostrophe; import a file of `nansen export --format csv`"
        )
        return [Problem(path, 1, reason)]
    problems = []
    for number, name in enumerate(header, 1):
        if name not in F.FIELD_BY_KEY:
            shown = name if len(name) <= F.CODE_LIMIT else f"{name[: F.CODE_LIMIT]}…"
            near = name.strip().lower()
            hint = f": write it {near!r}" if near in F.FIELD_BY_KEY else ""
            problems.append(Problem(path, 1, f"unknown column {shown!r} (column {number}){hint}"))
    return problems


READERS = {"yaml": _yaml_records, "json": _json_records, "csv": _csv_records}


# --------------------------------------------------------------------------- planning and applying


CREATE_BATCH = 1_000  # entries written in one flush: bounds what the session holds pending


@dataclass
class ImportPlan:
    records: list[SourceRecord]
    changes: list[entries.Change]
    existing: dict[str, Entry] = field(default_factory=dict)  # slug -> the entry planned against

    def count(self, action: str) -> int:
        return sum(1 for change in self.changes if change.action == action)


def plan_import(
    session: Session, records: Sequence[SourceRecord], problems: Sequence[Problem] = (), *, for_writing: bool = False
) -> ImportPlan:
    """Check every record (fields, whole-entry rules, duplicate slugs); raise with all problems,
    including `problems` already found while reading, so one run reports everything to fix.

    Time is linear in the records: the entries they name are loaded in a few queries, not one each.
    `for_writing`: those entries are held until the transaction ends (`entries.find_entries`), so a
    plan that is then applied replaces what it compared against."""
    problems = list(problems)
    slugs: list[str | None] = []
    for record in records:
        try:
            slugs.append(entries.slug_of(record.data))
        except entries.InvalidEntry:
            slugs.append(None)  # reported with the record's other problems by `plan_against`
    existing = entries.find_entries(session, (slug for slug in slugs if slug is not None), for_writing=for_writing)
    changes: list[entries.Change] = []
    seen: dict[str, SourceRecord] = {}
    for record, slug in zip(records, slugs, strict=True):
        if slug is not None and slug in seen:
            first = seen[slug]
            problems.append(
                Problem(
                    record.path,
                    record.line_of("slug"),
                    f"'slug': duplicate slug {slug!r} (first at {first.path}:{first.line_of('slug')})",
                )
            )
            continue
        if slug is not None:
            seen[slug] = record
        try:
            changes.append(entries.plan_against(existing.get(slug) if slug else None, record.data))
        except entries.InvalidEntry as exc:
            problems += [Problem(record.path, record.line_of(e.field), str(e)) for e in exc.errors]
    if problems:
        raise ImportFailed(problems)
    return ImportPlan(list(records), changes, existing)


def apply_import(session: Session, plan: ImportPlan, actor_name: str, *, reason: str | None = None) -> ImportPlan:
    """Write a checked plan, as planned; the caller's transaction makes it all-or-nothing. New entries
    are created together, in batches of `CREATE_BATCH` (`entries.create_all`)."""
    created: list[tuple[entries.Change, entries.Actor]] = []
    for record, change in zip(plan.records, plan.changes, strict=True):
        actor = entries.Actor(actor_name, f"import:{record.path}")
        if change.action == "create":
            created.append((change, actor))
        elif change.action == "update":
            entries.write(session, change, actor, reason=reason, entry=plan.existing.get(change.slug))
    for start in range(0, len(created), CREATE_BATCH):
        entries.create_all(session, created[start : start + CREATE_BATCH], reason)
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
    if not dry_run:  # an import creating a slug another creates at the same time waits for it
        store.hold(session, entries.CREATING)
    plan = plan_import(session, records, problems, for_writing=not dry_run)
    if not dry_run:
        apply_import(session, plan, actor_name, reason=reason)
    return plan
