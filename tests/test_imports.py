"""Imports: YAML, JSON, CSV; errors name file and line; all-or-nothing; idempotent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from directory import entries, exports, imports
from directory import fields as F
from directory.models import Entry, Revision
from directory.store import Store

GOOD = """\
slug: good-org
kind: ngo
name:
  en: Good Org
  ru: Хорошая организация
summary:
  en: Helps people relocate.
  ru: Помогает с релокацией.
website: https://good.example.org
host_countries: [GE]
languages: [ru]
topics: [relocation]
verified_at: 2026-11-20
source: https://good.example.org/about
"""


def counts(store: Store) -> tuple[int, int]:
    with store.session() as session:
        return (
            session.scalar(select(func.count(Entry.id))) or 0,
            session.scalar(select(func.count(Revision.id))) or 0,
        )


def run(store: Store, *paths: Path, dry_run: bool = False) -> imports.ImportPlan:
    with store.session() as session:
        return imports.import_paths(session, list(paths), "importer", dry_run=dry_run)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_import_creates_then_is_idempotent(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "good.yaml", GOOD)
    plan = run(store, path)
    assert (plan.count("create"), plan.count("update")) == (1, 0)
    assert counts(store) == (1, 1)
    plan = run(store, path)
    assert plan.count("unchanged") == 1
    assert counts(store) == (1, 1)
    with store.session() as session:
        [rev] = entries.history(session, "good-org")
        assert rev.origin == f"import:{path}"
        assert entries.get_entry(session, "good-org").verified_at.isoformat() == "2026-11-20T00:00:00+00:00"


def test_upsert_changes_only_given_fields(store: Store, tmp_path: Path) -> None:
    run(store, write(tmp_path / "good.yaml", GOOD))
    run(
        store,
        write(tmp_path / "patch.json", json.dumps([{"slug": "good-org", "status_note": "moved office"}])),
    )
    with store.session() as session:
        entry = entries.get_entry(session, "good-org")
        assert (entry.status_note, entry.website) == ("moved office", "https://good.example.org")
        assert [r.field for r in entries.history(session, "good-org")] == ["created", "status_note"]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (
            GOOD.replace("host_countries: [GE]", "host_countries: [XX]"),
            10,
            "'host_countries': 'XX' is not an ISO 3166-1 alpha-2 country code",
        ),
        (GOOD.replace("languages: [ru]", "languages: [russian]"), 11, "not an ISO 639-1 language code"),
        (
            GOOD.replace("topics: [relocation]", "topics: [moving]"),
            12,
            "'moving' is not a topic of the taxonomy",
        ),
        (
            GOOD.replace("website: https://good.example.org", "website: good.example.org"),
            9,
            "'website': 'good.example.org' is not an http(s) URL",
        ),
        (GOOD + "colour: red\n", 15, "'colour': unknown field"),
        (GOOD.replace("slug: good-org", "slug: Good Org"), 1, "'slug': 'Good Org' is not a slug"),
        (GOOD.replace("  ru: Хорошая организация\n", ""), 3, "'name.ru': is required"),
        (GOOD.replace("languages: [ru]", "languages: [ru"), 12, "malformed YAML"),
        (
            GOOD.replace("verified_at: 2026-11-20", "verified_at: yesterday"),
            13,
            "not an ISO 8601 date or time",
        ),
    ],
)
def test_yaml_errors_name_the_line_and_write_nothing(
    store: Store, tmp_path: Path, text: str, line: int, reason: str
) -> None:
    ok = write(tmp_path / "a-ok.yaml", GOOD.replace("good-org", "fine-org"))
    bad = write(tmp_path / "b-bad.yaml", text)
    with pytest.raises(imports.ImportFailed) as caught:
        run(store, ok, bad)
    [problem] = caught.value.problems
    assert (problem.path, problem.line) == (str(bad), line)
    assert reason in problem.message
    assert f"{bad}:{line}: " in str(caught.value)
    assert counts(store) == (0, 0)


def test_every_problem_is_reported_at_once(store: Store, tmp_path: Path) -> None:
    bad = GOOD.replace("[GE]", "[XX]").replace("[ru]", "[zz]")
    with pytest.raises(imports.ImportFailed) as caught:
        run(store, write(tmp_path / "x.yaml", bad), write(tmp_path / "y.yaml", "slug: [unclosed\n"))
    assert [(Path(p.path).name, p.line) for p in caught.value.problems] == [
        ("y.yaml", 2),
        ("x.yaml", 10),
        ("x.yaml", 11),
    ]


def test_duplicate_slug_across_files(store: Store, tmp_path: Path) -> None:
    first = write(tmp_path / "one.yaml", GOOD)
    second = write(tmp_path / "two.yaml", "\n" + GOOD)
    with pytest.raises(imports.ImportFailed, match=r"two.yaml:2: 'slug': duplicate slug 'good-org' \(first at"):
        run(store, first, second)
    assert counts(store) == (0, 0)


def test_csv_errors_name_the_row_line(store: Store, tmp_path: Path) -> None:
    with store.session() as session:
        entries.add_entry(
            session, {**imports.read_sources([write(tmp_path / "g.yaml", GOOD)])[0].data}, entries.Actor("x")
        )
        records = exports.export_records(session)
    second = {**records[0], "slug": "second"}
    third = {**records[0], "slug": "third", "countries_served": ["RU", "QQ"]}
    text = exports.to_csv([*records, second, third])
    path = write(tmp_path / "rows.csv", text)
    with pytest.raises(imports.ImportFailed) as caught:
        run(store, path)
    [problem] = caught.value.problems
    assert problem.line == 4
    assert "'QQ' is not an ISO 3166-1 alpha-2 country code" in problem.message
    assert counts(store) == (1, 1)


def test_csv_with_multiline_cells_reports_the_physical_line(store: Store, tmp_path: Path) -> None:
    header = "slug,kind,name.en,name.ru,summary.en,summary.ru,host_countries\n"
    rows = 'a-org,ngo,A,А,"two\nlines",два,GE\nb-org,ngo,B,Б,one,один,XX\n'
    with pytest.raises(imports.ImportFailed, match=r"rows.csv:4: 'host_countries'"):
        run(store, write(tmp_path / "rows.csv", header + rows))


def test_json_errors_name_the_line(store: Store, tmp_path: Path) -> None:
    items = [
        {"slug": "a-org", "kind": "ngo", "name": {"en": "A", "ru": "А"}, "summary": {"en": "a", "ru": "а"}},
        {
            "slug": "b-org",
            "kind": "ngo",
            "name": {"en": "B", "ru": "Б"},
            "summary": {"en": "b", "ru": "б"},
            "website": "mailto:x@y.org",
        },
    ]
    text = json.dumps(items, ensure_ascii=False, indent=2)
    expected = text.splitlines().index('    "website": "mailto:x@y.org"') + 1
    with pytest.raises(imports.ImportFailed, match=rf"items.json:{expected}: 'website'"):
        run(store, write(tmp_path / "items.json", text))
    with pytest.raises(imports.ImportFailed, match=r"broken.json:3: malformed JSON"):
        run(store, write(tmp_path / "broken.json", '[\n  {"slug": "x",\n  oops}\n]'))


def test_unreadable_and_unknown_files(store: Store, tmp_path: Path) -> None:
    with pytest.raises(imports.ImportFailed, match="unknown file type"):
        run(store, write(tmp_path / "notes.txt", "hi"))
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"slug: \xff")
    with pytest.raises(imports.ImportFailed, match="cannot read"):
        run(store, latin1)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(imports.ImportFailed, match=r"no \.yaml"):
        run(store, empty)


def test_dry_run_writes_nothing(store: Store, tmp_path: Path) -> None:
    plan = run(store, write(tmp_path / "good.yaml", GOOD), dry_run=True)
    assert plan.count("create") == 1
    assert counts(store) == (0, 0)


def test_a_failure_half_way_leaves_the_database_as_it_was(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checks pass, then the database fails on the third write: the first two must not stay."""
    run(store, write(tmp_path / "base.yaml", GOOD))
    before = counts(store)
    files = [write(tmp_path / f"n{i}.yaml", GOOD.replace("good-org", f"new-{i}")) for i in range(4)]
    files.append(write(tmp_path / "edit.yaml", GOOD.replace("Helps people relocate.", "Changed.")))
    real_index = entries.search.index_entry
    calls = {"n": 0}

    def flaky_index(session, entry):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        real_index(session, entry)

    monkeypatch.setattr(entries.search, "index_entry", flaky_index)
    with pytest.raises(RuntimeError, match="disk full"):
        run(store, *files)
    assert counts(store) == before
    monkeypatch.setattr(entries.search, "index_entry", real_index)
    with store.session() as session:
        assert entries.get_entry(session, "good-org").summary_en == "Helps people relocate."
        assert [e.slug for e, _ in entries.search_entries(session, "relocate")] == ["good-org"]


# --------------------------------------------------------------------------- CSV as spreadsheets write it

# What Excel writes for "CSV UTF-8": a byte-order mark, rows ending with CRLF, and a cell with a line
# break (Alt+Enter) quoted, here with CRLF inside as RFC 4180 writes a line break; Cyrillic throughout.
EXCEL_ROWS = [
    "slug,kind,name.en,name.ru,summary.en,summary.ru,host_countries,status_note",
    'pomosch,ngo,Help,Помощь,"Helps people, and families.","Помогает людям.\r\nИ их семьям.",GE,"Офис: Тбилиси"',
    "izdanie,media,Outlet,Издание,An outlet.,Издание в изгнании.,LV,",
]


def excel_csv(rows: list[str], separator: str = ",") -> bytes:
    return b"\xef\xbb\xbf" + "\r\n".join(row.replace(",", separator) for row in rows).encode("utf-8") + b"\r\n"


def revisions(store: Store) -> int:
    return counts(store)[1]


@pytest.mark.parametrize("separator", [",", ";"], ids=["comma", "semicolon (Excel in a Russian locale)"])
def test_an_excel_csv_imports_and_export_then_import_writes_no_revision(
    store: Store, tmp_path: Path, separator: str
) -> None:
    rows = EXCEL_ROWS if separator == "," else [row.replace("people, and", "people and") for row in EXCEL_ROWS]
    path = tmp_path / "excel.csv"
    path.write_bytes(excel_csv(rows, separator))
    assert run(store, path).count("create") == 2
    with store.session() as session:
        entry = entries.get_entry(session, "pomosch")
        assert (entry.name_ru, entry.status_note, entry.host_countries) == ("Помощь", "Офис: Тбилиси", ["GE"])
        assert entry.summary_ru == "Помогает людям.\nИ их семьям."  # a line break, kept in one form: LF
        exported = exports.export_records(session)
    written = revisions(store)
    assert run(store, path).count("unchanged") == 2  # the same file again
    again = write(tmp_path / "export.csv", exports.to_csv(exported))
    plan = run(store, again)
    assert [c.changes for c in plan.changes if c.action != "unchanged"] == []
    assert revisions(store) == written


def test_a_bad_row_after_a_line_break_in_a_cell_is_named_by_its_own_line(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(excel_csv([*EXCEL_ROWS, "treti,ngo,Third,Третий,Third.,Третий.,XX,"]))
    with pytest.raises(imports.ImportFailed) as caught:
        run(store, path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:5: 'host_countries': 'XX' is not an ISO 3166-1 alpha-2 country code"
    ]  # the header is line 1, the row with the two-line cell lines 2-3, then 4 and 5


def test_rows_of_empty_cells_are_skipped_and_short_rows_read(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "trailing.csv"
    path.write_bytes(excel_csv([*EXCEL_ROWS[:1], "only-slug,ngo", EXCEL_ROWS[2], ",,,,,,,", ""]))
    with pytest.raises(imports.ImportFailed) as caught:
        run(store, path)
    assert {(p.line, p.message) for p in caught.value.problems} == {
        (2, "'name.en': is required"),
        (2, "'name.ru': is required"),
        (2, "'summary.en': is required"),
        (2, "'summary.ru': is required"),
    }


# --------------------------------------------------------------------------- bounds


def good_record(folder: Path) -> dict[str, Any]:
    """GOOD as the full, normalized record an export holds."""
    return {**entries.blank_record(), **F.normalize(imports.read_sources([write(folder / "g.yaml", GOOD)])[0].data)}


def long_summary(length: int) -> str:
    return ("Помогает людям. " * (length // 16 + 1))[: length - 1] + "."


@pytest.mark.parametrize("fmt", ["yaml", "json", "csv"])
def test_an_over_long_field_is_refused_at_its_line_with_the_limit_and_its_length(
    store: Store, tmp_path: Path, fmt: str
) -> None:
    record = {**good_record(tmp_path), "summary.ru": long_summary(2_001)}
    assert len(record["summary.ru"]) == 2_001
    text = exports.render([record], fmt)
    path = write(tmp_path / f"long.{fmt}", text)
    line = 2 if fmt == "csv" else next(n for n, row in enumerate(text.splitlines(), 1) if "Помогает людям" in row)
    with pytest.raises(imports.ImportFailed) as caught:
        run(store, path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:{line}: 'summary.ru': too long: 2,001 characters (the limit is 2,000)"
    ]
    assert counts(store) == (0, 0)


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("name.en", "N" * 301, "too long: 301 characters (the limit is 300)"),
        ("feeds", ["https://good.example.org/" + "f" * 1_976], "too long: 2,001 characters (the limit is 2,000)"),
        ("languages", ["ru"] * 101, "too many items: 101 (the limit is 100)"),
        (
            "warnings",
            [{"en": "w" * 2_001, "ru": "Риск", "date": "2024-06", "source": "https://good.example.org/w"}],
            "item 1: too long: 2,001 characters (the limit is 2,000)",
        ),
        ("contacts.email", "e" * 238 + "@good.example.org", "too long: 255 characters (the limit is 254)"),
        ("watch.ignore", "x" * 501, "too long: 501 characters (the limit is 500)"),
        ("kind", "k" * 101, "too long: 101 characters (the limit is 100)"),
    ],
)
def test_every_field_is_bounded(store: Store, tmp_path: Path, key: str, value: Any, reason: str) -> None:
    path = write(tmp_path / "bounded.json", exports.to_json([{**good_record(tmp_path), key: value}]))
    with pytest.raises(imports.ImportFailed) as caught:
        run(store, path)
    assert [p.message for p in caught.value.problems] == [f"{key!r}: {reason}"]


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:  # sparse: the size without the disk
        handle.truncate(imports.MAX_FILE_BYTES + 1)
    with pytest.raises(imports.ImportFailed) as caught:
        run(store, path, write(tmp_path / "good.yaml", GOOD))
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:0: too large: more than 67,108,864 bytes (the limit for one file); split it into several files"
    ]
    assert counts(store) == (0, 0)


def deep_yaml_mapping(depth: int) -> str:
    """GOOD with a field whose value is mappings nested `depth` deep (the entry itself is one more)."""
    return (
        GOOD
        + "".join(f"{'  ' * level}{'deep' if level == 0 else 'a'}:\n" for level in range(depth))
        + ("  " * depth + "x: 1\n")
    )


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("block.yaml", deep_yaml_mapping(1_500), 25),
        ("flow.yaml", "[" * 1_500 + "]" * 1_500, 1),
        ("flow-list.json", "[" * 1_500 + "]" * 1_500, 1),
        ("very-deep.json", "[" * 200_000 + "]" * 200_000, 1),
        ("objects.json", '[\n {"slug": "a",\n  "x": ' + '{"a": ' * 1_500 + "1" + "}" * 1_500 + "}\n]", 3),
    ],
)
def test_deep_nesting_is_refused_with_one_line(store: Store, tmp_path: Path, name: str, text: str, line: int) -> None:
    path = write(tmp_path / name, text)
    with pytest.raises(imports.ImportFailed) as caught:
        run(store, path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:{line}: nested too deeply: more than {imports.MAX_DEPTH} levels of lists and mappings"
    ]


def test_nesting_up_to_the_limit_is_read(store: Store, tmp_path: Path) -> None:
    """The entry and 9 mappings in it are 10 levels: read, and refused only as the unknown field it is."""
    with pytest.raises(imports.ImportFailed) as caught:
        run(store, write(tmp_path / "nine.yaml", deep_yaml_mapping(imports.MAX_DEPTH - 1)))
    assert [p.message for p in caught.value.problems] == [f"'deep{'.a' * 8}.x': unknown field"]


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("alias.yaml", GOOD + "status_note: &n Moved.\nverified_by: *n\n", "16: aliases (*n) are not read"),
        ("two.yaml", GOOD + "---\n" + GOOD, "15: malformed YAML: expected a single document"),
        ("tag.yaml", GOOD.replace("kind: ngo", "kind: !!python/name:os.system"), "2: malformed YAML: could not"),
        (
            "date.yaml",
            GOOD.replace("2026-11-20", "2026-13-45"),
            "13: '2026-13-45' is not a date: month must be in 1..12",
        ),
        ("closed.json", '[{"slug": "a"}]]\n', "1: malformed JSON: Extra data"),
        ("digits.json", '[{"slug": ' + "9" * 5_000 + "}]", "1: a number is too long: more than 100 characters"),
        ("escape.json", '[{"sl\\x": "a"}]', "1: malformed JSON: Invalid \\escape"),
        ("cell.csv", "slug,summary.en\nbig," + "x" * 200_000 + "\n", "2: malformed CSV: a cell is longer than"),
    ],
)
def test_hostile_values_are_one_line_not_a_traceback(
    store: Store, tmp_path: Path, name: str, text: str, problem: str
) -> None:
    path = write(tmp_path / name, text)
    assert _only_problem(store, path).startswith(f"{path}:{problem}")


def _only_problem(store: Store, path: Path) -> str:
    """The one problem an import of `path` is refused with."""
    with pytest.raises(imports.ImportFailed) as caught:
        run(store, path)
    [found] = caught.value.problems
    return str(found)


def test_the_import_command_says_each_problem_in_one_line(cli: Any, store: Store, tmp_path: Path) -> None:
    long = write(tmp_path / "long.yaml", GOOD.replace("Helps people relocate.", long_summary(2_500)))
    deep = write(tmp_path / "deep.json", "[" * 100_000 + "]" * 100_000)
    result = cli("import", str(long), str(deep))
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{deep}:1: nested too deeply: more than {imports.MAX_DEPTH} levels of lists and mappings",
        f"{long}:7: 'summary.en': too long: 2,500 characters (the limit is 2,000)",
        "import refused: 2 problem(s), nothing was written",
    ]
    assert counts(store) == (0, 0)


# --------------------------------------------------------------------------- linear time


def test_planning_loads_the_entries_it_needs_in_a_few_queries(store: Store, tmp_path: Path) -> None:
    """The quadratic import looked each record up (and re-checked it) alone; a plan now asks the database
    once per 500 slugs, whatever the number of records."""
    many = [{**good_record(tmp_path), "slug": f"org-{i}"} for i in range(1_200)]
    path = write(tmp_path / "many.json", exports.to_json(many))
    run(store, path)
    path = write(tmp_path / "many.json", exports.to_json([{**r, "status_note": "Moved."} for r in many]))
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with store.session() as session:
        plan = imports.plan_import(session, imports.read_sources([path]))
    assert plan.count("update") == 1_200
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 3  # 500 + 500 + 200


def test_json_lines_are_exact_whatever_the_strings_hold(store: Store, tmp_path: Path) -> None:
    """Brackets, quotes and key names inside strings do not move a key's line (the old search for a
    key's name gave `summary.en` the line of `name.en`)."""
    first = {"slug": "a-org", "kind": "ngo", "name": {"en": 'A "[{', "ru": 'А ]} "en":'}}
    first["summary"] = {"en": "Summary with a \\ and a } in it", "ru": "Сводка"}
    first["topics"] = ["moving"]
    second = {"slug": "b-org", "kind": "ngo", "name": {"en": "B", "ru": "Б"}, "summary": {"en": "x" * 2_001, "ru": "б"}}
    text = json.dumps([first, second], ensure_ascii=False, indent=2)
    rows = text.splitlines()
    topics = rows.index('    "topics": [') + 1
    summary = next(n for n, row in enumerate(rows, 1) if row.startswith('      "en": "xxx'))
    path = write(tmp_path / "strings.json", text)
    with pytest.raises(imports.ImportFailed) as caught:
        run(store, path)
    assert [(p.line, p.message.split(":")[0]) for p in caught.value.problems] == [
        (topics, "'topics'"),
        (summary, "'summary.en'"),
    ]


# --------------------------------------------------------------------------- list separators

CSV_HEADER = "slug,kind,name.en,name.ru,summary.en,summary.ru,host_countries,feeds,topics,source\n"


def csv_row(**cells: str) -> str:
    row = {"slug": "sep-org", "kind": "ngo", "name.en": "S", "name.ru": "С", "summary.en": "s", "summary.ru": "с"}
    row |= {"host_countries": "GE", "feeds": "", "topics": "", "source": "", **cells}
    return ",".join(f'"{row[name]}"' for name in CSV_HEADER.strip().split(",")) + "\n"


@pytest.mark.parametrize(
    ("cells", "stored"),
    [
        ({"feeds": "https://a.example/?q=a|b"}, {"feeds": ["https://a.example/?q=a|b"]}),
        (
            {"feeds": "https://a.example/x|y | https://b.example/|y"},
            {"feeds": ["https://a.example/x|y", "https://b.example/|y"]},
        ),
        ({"topics": " | relocation |  | legal-aid | "}, {"topics": ["relocation", "legal-aid"]}),
        ({"host_countries": "GE\t|\tAM"}, {"host_countries": ["GE", "AM"]}),
        ({"source": "https://x.org/a;jsessionid=1"}, {"source": "https://x.org/a;jsessionid=1"}),
        (
            {"source": " ; https://x.org/a;b=1  ;  https://y.org/ https://z.org ;"},
            {"source": "https://x.org/a;b=1 ; https://y.org/ ; https://z.org"},
        ),
    ],
)
def test_a_separator_has_white_space_on_each_side_and_an_item_may_hold_its_character(
    store: Store, tmp_path: Path, cells: dict[str, str], stored: dict[str, Any]
) -> None:
    run(store, write(tmp_path / "sep.csv", CSV_HEADER + csv_row(**cells)))
    with store.session() as session:
        record = entries.to_record(entries.get_entry(session, "sep-org"))
    assert {key: record[key] for key in stored} == stored


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (
            {"host_countries": "RU|BY"},
            "'host_countries': 'RU|BY' is not an ISO 3166-1 alpha-2 country code"
            " (separate items with ' | ', a space on each side)",
        ),
        (
            {"topics": "relocation |legal-aid"},
            "'topics': 'relocation |legal-aid' is not a topic of the taxonomy (see docs/taxonomy.md)"
            " (separate items with ' | ', a space on each side)",
        ),
        (
            {"feeds": "https://a.example/rss|https://b.example/rss"},
            "'feeds': 'https://a.example/rss|https://b.example/rss' runs two items together, or holds a '|' of its"
            " own, written %7C (separate items with ' | ', a space on each side)",
        ),
        (
            {"source": "https://a.example/x; https://b.example/y"},
            "'source': 'https://a.example/x; https://b.example/y' is not one or more http(s) URLs separated by"
            " ' ; ' ('https://a.example/x;' runs two URLs together)",
        ),
        (
            {"source": "https://a.example/x;https://b.example/y"},
            "'source': 'https://a.example/x;https://b.example/y' is not one or more http(s) URLs separated by"
            " ' ; ' ('https://a.example/x;https://b.example/y' runs two URLs together)",
        ),
    ],
)
def test_items_run_together_are_refused_saying_how_to_separate_them(
    store: Store, tmp_path: Path, cells: dict[str, str], message: str
) -> None:
    path = write(tmp_path / "sep.csv", CSV_HEADER + csv_row(**cells))
    with pytest.raises(imports.ImportFailed) as caught:
        run(store, path)
    assert [str(p) for p in caught.value.problems] == [f"{path}:2: {message}"]
    assert counts(store) == (0, 0)


def test_an_item_holding_a_bar_and_a_source_holding_a_semicolon_survive_export_and_import(
    cli: Any, store: Store, tmp_path: Path
) -> None:
    assert cli("import", str(write(tmp_path / "good.yaml", GOOD))).exit_code == 0
    edit = cli("entries", "edit", "good-org", "--add", "feeds=https://a.example/?q=a|b", "--reason", "r")
    assert edit.exit_code == 0, edit.output
    edit = cli("entries", "edit", "good-org", "--set", "source=https://x.org/a;jsessionid=1", "--reason", "r")
    assert edit.exit_code == 0, edit.output
    exported = tmp_path / "entries.csv"
    assert cli("export", "--format", "csv", "--output", str(exported)).exit_code == 0
    result = cli("import", "--dry-run", str(exported))
    assert result.exit_code == 0, result.output
    with store.session() as session:
        entry = entries.get_entry(session, "good-org")
        assert (entry.feeds, entry.source) == (["https://a.example/?q=a|b"], "https://x.org/a;jsessionid=1")
    assert run(store, exported).count("unchanged") == 1


# --------------------------------------------------------------------------- duplicate keys

DESIGNATED = GOOD + (
    "designations:\n"
    "  - authority: ru-minjust\n"
    "    kind: foreign-agent\n"
    "    date: 2021-04-23\n"
    "    kind: undesirable\n"
    "    source: https://minjust.gov.ru/ru/documents/7755/\n"
)


@pytest.mark.parametrize(
    ("name", "text", "line", "key", "first"),
    [
        ("slug.yaml", GOOD + "slug: good-org2\n", 15, "slug", 1),
        (
            "website.yaml",
            GOOD.replace("website: https://good.example.org\n", "website: https://a.org\nwebsite: https://b.org\n"),
            10,
            "website",
            9,
        ),
        ("name.yaml", GOOD.replace("  ru: Хорошая организация\n", "  en: Other\n"), 5, "en", 4),
        ("designation.yaml", DESIGNATED, 19, "kind", 17),
        ("flow.yaml", GOOD.replace("name:\n  en: Good Org\n", "name: {en: A, en: B,\n"), 3, "en", 3),
        ("flow.json", '{"slug": "meduza", "slug": "meduza-dup"}', 1, "slug", 1),
        (
            "nested.json",
            '[\n {"slug": "a-org",\n  "warnings": [{"en": "W",\n    "ru": "Р",\n    "en": "V"}]}\n]',
            5,
            "en",
            3,
        ),
        ("escaped.json", '{"slug": "a-org", "sl\\u0075g": "b-org"}', 1, "slug", 1),
    ],
)
def test_a_key_written_twice_in_one_mapping_is_refused_at_its_line(
    store: Store, tmp_path: Path, name: str, text: str, line: int, key: str, first: int
) -> None:
    path = write(tmp_path / name, text)
    with pytest.raises(imports.ImportFailed) as caught:
        run(store, path)
    assert [str(p) for p in caught.value.problems] == [f"{path}:{line}: duplicate key {key!r} (first at line {first})"]
    assert counts(store) == (0, 0)


def test_the_same_key_in_two_mappings_is_no_duplicate(store: Store, tmp_path: Path) -> None:
    text = json.dumps([{**json.loads(exports.to_json([good_record(tmp_path)]))[0], "slug": s} for s in ("a-x", "b-x")])
    assert run(store, write(tmp_path / "two.json", text)).count("create") == 2


def test_the_import_command_refuses_a_duplicate_key_and_writes_nothing(cli: Any, store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "dup.yaml", GOOD + "slug: meduza2\n")
    result = cli("import", str(path))
    assert (result.exit_code, result.output.splitlines()) == (
        1,
        [f"{path}:15: duplicate key 'slug' (first at line 1)", "import refused: 1 problem(s), nothing was written"],
    )
    assert counts(store) == (0, 0)


# --------------------------------------------------------------------------- CSV headers and quoting


@pytest.mark.parametrize(
    ("command", "columns"),
    [
        (("entries", "list"), "created_at, updated_at"),
        (("entries", "search", "relocate"), "rank, created_at, updated_at"),
    ],
)
def test_the_csv_printed_for_people_is_refused_in_one_line(
    cli: Any, store: Store, tmp_path: Path, command: tuple[str, ...], columns: str
) -> None:
    edited = GOOD.replace("Helps people relocate.", "\"'Paused' or not, helps people relocate.\"")
    assert cli("import", str(write(tmp_path / "good.yaml", edited))).exit_code == 0
    listed = cli(*command, "--format", "csv")
    assert listed.exit_code == 0
    assert "''Paused'" in listed.stdout
    path = write(tmp_path / "list.csv", listed.stdout)
    result = cli("import", str(path))
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{path}:1: a CSV printed for people by `nansen entries list` or `search` (it has {columns}), not read"
        " back: its cells may begin with an added apostrophe; import a file of `nansen export --format csv`",
        "import refused: 1 problem(s), nothing was written",
    ]


def test_each_unknown_column_is_reported_once_at_line_1(store: Store, tmp_path: Path) -> None:
    header = "slug,kind,colour,name.en,name.ru,summary.en,summary.ru,Name.EN ,size\n"
    rows = "".join(f"org-{i},ngo,red,O,О,o,о,x,{i}\n" for i in range(261))
    path = write(tmp_path / "wide.csv", header + rows)
    with pytest.raises(imports.ImportFailed) as caught:
        run(store, path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:1: unknown column 'colour' (column 3)",
        f"{path}:1: unknown column 'Name.EN ' (column 8): write it 'name.en'",
        f"{path}:1: unknown column 'size' (column 9)",
    ]


@pytest.mark.parametrize("column", ["SLUG", " slug ", "Slug"])
def test_a_column_differing_by_case_or_spaces_is_named_right(store: Store, tmp_path: Path, column: str) -> None:
    path = write(tmp_path / "case.csv", f"{column},kind,name.en,name.ru,summary.en,summary.ru\na-org,ngo,A,А,a,а\n")
    with pytest.raises(imports.ImportFailed) as caught:
        run(store, path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:1: unknown column {column!r} (column 1): write it 'slug'"
    ]


@pytest.mark.parametrize(
    ("rows", "line", "reason"),
    [
        (
            'a-org,ngo,A,А,a,а\nb-org,ngo,B,Б,b,"б\nand more\n',
            3,
            "a quoted cell is not closed: the file ends inside it",
        ),
        (
            'a-org,ngo,A,А,"a" and b,а\n',
            2,
            'a quoted cell has text after its closing quote (write a quote inside a cell as "")',
        ),
    ],
)
def test_a_quote_out_of_place_is_malformed_csv_at_its_row(
    store: Store, tmp_path: Path, rows: str, line: int, reason: str
) -> None:
    path = write(tmp_path / "quotes.csv", "slug,kind,name.en,name.ru,summary.en,summary.ru\n" + rows)
    with pytest.raises(imports.ImportFailed) as caught:
        run(store, path)
    assert [str(p) for p in caught.value.problems] == [f"{path}:{line}: malformed CSV: {reason}"]


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        (
            "nan.json",
            '[\n {"slug": "a-org",\n  "name": {"en": NaN, "ru": "А"}}\n]',
            "3: malformed JSON: NaN is not JSON",
        ),
        ("inf.json", '{"slug": "a-org",\n "status_note": -Infinity}', "2: malformed JSON: -Infinity is not JSON"),
        (
            "huge.json",
            '{"slug": "a-org",\n "status_note": 1e400}',
            "2: 'status_note': expected text, got the number inf",
        ),
        ("digits.json", '{"slug": "a-org",\n "name": {"en": ' + "9" * 5_000 + "}}", "2: a number is too long"),
        ("float.json", '{"slug": "a-org", "status_note": 1.' + "5" * 200 + "}", "1: a number is too long"),
        ("digits.yaml", GOOD + "status_note: " + "9" * 5_000 + "\n", "15: a number is too long"),
        ("hex.yaml", GOOD + "status_note: 0x" + "f" * 4_000 + "\n", "15: a number is too long"),
    ],
)
def test_numbers_that_are_no_text_are_refused_at_their_line(
    store: Store, tmp_path: Path, name: str, text: str, problem: str
) -> None:
    path = write(tmp_path / name, text)
    found = _only_problem(store, path)
    assert found.startswith(f"{path}:{problem}")
    assert "sys." not in found


def test_yaml_scalars_that_look_like_numbers_or_booleans_are_text_as_written(store: Store, tmp_path: Path) -> None:
    """No field is a number or a yes/no: YAML 1.1 would read `007` as 7 and `NO` (Norway) as false."""
    text = GOOD.replace("[GE]", "[NO]") + "contacts:\n  telegram: '@good'\nstatus_note: 007 .nan 1.50\n"
    text += "verified_by: 0x1F\n"
    run(store, write(tmp_path / "numbers.yaml", text))
    with store.session() as session:
        record = entries.to_record(entries.get_entry(session, "good-org"))
    assert (record["host_countries"], record["status_note"], record["verified_by"]) == (
        ["NO"],
        "007 .nan 1.50",
        "0x1F",
    )
    for value in ("007", ".nan", "1.50", "yes"):
        write(tmp_path / "numbers.yaml", GOOD + f"status_note: {value}\n")
        run(store, tmp_path / "numbers.yaml")
        with store.session() as session:
            assert entries.to_record(entries.get_entry(session, "good-org"))["status_note"] == value


# --------------------------------------------------------------------------- which files


def test_a_file_named_twice_is_read_once(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    (folder / "entries").mkdir(parents=True)
    path = write(folder / "entries" / "good.yaml", GOOD)
    (tmp_path / "link.yaml").symlink_to(path)
    (tmp_path / "hard.yaml").hardlink_to(path)
    plan = run(
        store,
        folder,
        path,
        folder / "entries" / ".." / "entries" / "good.yaml",
        tmp_path / "link.yaml",
        tmp_path / "hard.yaml",
    )
    assert [(r.path, r.line) for r in plan.records] == [(str(path), 1)]
    assert plan.count("create") == 1


def test_hidden_files_and_folders_under_a_folder_are_skipped(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "repo"
    for hidden in (".git/objects", ".github/workflows", "entries/.cache"):
        (folder / hidden).mkdir(parents=True)
    write(folder / ".git" / "objects" / "x.json", "not json")
    write(folder / ".github" / "workflows" / "ci.yml", "on: push\njobs: {}\n")
    write(folder / "entries" / ".cache" / "old.yaml", "slug: [\n")
    hidden = write(folder / "entries" / ".draft.yaml", GOOD.replace("good-org", "draft-org"))
    write(folder / "entries" / "good.yaml", GOOD)
    assert [r.path for r in run(store, folder).records] == [str(folder / "entries" / "good.yaml")]
    assert [r.path for r in run(store, hidden).records] == [str(hidden)]  # named: read


# --------------------------------------------------------------------------- groups of fields


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("name", ["a", "b"], "'name': must be a mapping of en, ru"),
        ("summary", "Helps.", "'summary': must be a mapping of en, ru"),
        ("contacts", ["info@good.example.org"], "'contacts': must be a mapping of email, telegram, other"),
        ("watch", "https://good.example.org", "'watch': must be a mapping of url, selector, ignore"),
        (
            "program",
            None,
            "'program': must be a mapping of state, state_since, state_note, eligibility, official_url,"
            " application_route, next_call",
        ),
        ("program", {"state": "open", "state_note": "Open."}, "'program.state_note': must be a mapping of en, ru"),
        (
            "program",
            {"state": "open", "next_call": "2027-01"},
            "'program.next_call': must be a mapping of opens, closes",
        ),
    ],
)
def test_a_group_of_fields_given_as_something_else_says_what_it_must_be(
    store: Store, tmp_path: Path, key: str, value: Any, message: str
) -> None:
    item = {"slug": "p-org", "kind": "program", "host_countries": ["GE"], "name": {"en": "P", "ru": "П"}}
    item |= {"summary": {"en": "p", "ru": "п"}, "program": {"state": "open"}, key: value}
    text = json.dumps(item, ensure_ascii=False, indent=1)
    path = write(tmp_path / "group.json", text)
    last = message.split("'")[1].split(".")[-1]  # the key whose line is named: `state_note` in a program
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.lstrip().startswith(f'"{last}"'))
    with pytest.raises(imports.ImportFailed) as caught:
        run(store, path)
    assert [str(p) for p in caught.value.problems] == [f"{path}:{line}: {message}"]
