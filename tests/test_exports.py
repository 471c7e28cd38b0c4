"""`nansen export` writes files that git and spreadsheets take as they are.

YAML in exactly the style of `data/entries/`, so exporting what was imported leaves `git diff` empty;
per-entry files into a folder that may not exist yet; CSV for Excel with a byte order mark and CRLF.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from directory import exports, imports
from directory import fields as F
from directory.store import Store
from tests.conftest import REPO, Cli, entry_record, program_record
from tests.test_roundtrip import records

ENTRIES = REPO / "data" / "entries"


def test_export_of_the_imported_data_is_byte_for_byte_the_data(cli: Cli, tmp_path: Path) -> None:
    """`nansen import data/ && nansen export --format yaml --output data/entries/ && git diff --exit-code`:
    every file written has the bytes git has, and no file is added."""
    assert cli("import", str(REPO / "data")).exit_code == 0
    out = tmp_path / "entries"
    result = cli("export", "--format", "yaml", "--output", f"{out}/")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in ENTRIES.glob("*.yaml"))
    differ = [p.name for p in sorted(ENTRIES.glob("*.yaml")) if (out / p.name).read_bytes() != p.read_bytes()]
    diff = [
        line
        for name in differ[:3]
        for line in difflib.unified_diff(
            (ENTRIES / name).read_text(encoding="utf-8").splitlines(keepends=True),
            (out / name).read_text(encoding="utf-8").splitlines(keepends=True),
            f"data/entries/{name}",
            f"export/{name}",
        )
    ]
    assert differ == [], f"{len(differ)} file(s) differ: {' '.join(differ)}\n{''.join(diff)}"


def test_the_style_of_an_entry_file(store: Store, tmp_path: Path) -> None:
    """The rules of data/entries/: block mappings, one-line lists (`[]` when empty) with URLs unquoted,
    scalars written as null, nulls left out elsewhere, dates plain, long text on one line, line breaks
    as a literal block, text that YAML would read otherwise quoted."""
    program = program_record(
        "style-program",
        **{
            "name.en": "Germany: humanitarian visa",
            "summary.en": "First line.\nSecond line: with a colon.\n  Indented third.",
            "summary.ru": "- начинается с дефиса и " + "очень длинная строка " * 8 + "#не комментарий",
            "feeds": ["https://example.org/feed?lang=ru", "https://example.org/rss:all"],
            "languages": ["no", "de"],
            "program.state_since": "2025-07",
            "program.next_call.closes": "2027",
            "verified_at": "2026-11-23T09:30:00+00:00",
            "verified_by": "yes",
            "source": "https://example.org/about",
            "warnings": [{"en": "Risk.", "ru": "Риск.", "date": "2024-06-01", "source": "https://example.org/risk"}],
        },
    )
    ngo = entry_record(
        "style-ngo",
        **{
            "verified_at": "2026-11-23",
            "source": "https://example.org/about",
            "contacts.telegram": "@example_org",
            "designations": [
                {
                    "authority": "ru-minjust",
                    "kind": "foreign-agent",
                    "date": "2021",
                    "source": "https://example.org/d",
                    "lifted": None,
                }
            ],
        },
    )
    source = tmp_path / "in.json"
    source.write_text(json.dumps([F.nest(program), F.nest(ngo)]), encoding="utf-8")
    with store.session() as session:
        imports.import_paths(session, [source], "tester")
    with store.session() as session:
        exported = {r["slug"]: r for r in exports.export_records(session)}
    assert exports.entry_yaml(exported["style-program"]) == (
        "slug: style-program\n"
        "kind: program\n"
        "name:\n"
        "  en: 'Germany: humanitarian visa'\n"
        "  ru: Тестовая гуманитарная виза\n"
        "summary:\n"
        "  en: |-\n"
        "    First line.\n"
        "    Second line: with a colon.\n"
        "      Indented third.\n"
        f"  ru: '- начинается с дефиса и {'очень длинная строка ' * 8}#не комментарий'\n"
        "website: https://example.org\n"
        "other_domains: []\n"
        "feeds: ['https://example.org/feed?lang=ru', https://example.org/rss:all]\n"
        "host_countries: [DE]\n"
        "countries_served: [RU]\n"
        "languages: ['no', de]\n"
        "topics: [visas-residence]\n"
        "status: active\n"
        "status_note: null\n"
        "verified_at: 2026-11-23T09:30:00+00:00\n"
        "verified_by: 'yes'\n"
        "source: https://example.org/about\n"
        "warnings:\n"
        "  - en: Risk.\n"
        "    ru: Риск.\n"
        "    date: 2024-06-01\n"
        "    source: https://example.org/risk\n"
        "program:\n"
        "  state: paused\n"
        "  state_since: 2025-07\n"
        "  eligibility:\n"
        "    en: Individually endangered people with a link to the country.\n"
        "    ru: Люди в личной опасности, связанные со страной.\n"
        "  official_url: null\n"
        "  next_call:\n"
        "    closes: 2027\n"
    )
    assert exports.entry_yaml(exported["style-ngo"]) == (
        "slug: style-ngo\n"
        "kind: ngo\n"
        "name:\n"
        "  en: Test Legal Aid\n"
        "  ru: Тестовая юридическая помощь\n"
        "summary:\n"
        "  en: Lawyers who defend political prisoners and their families.\n"
        "  ru: Юристы, которые защищают политзаключённых и их семьи.\n"
        "website: https://example.org\n"
        "other_domains: []\n"
        "feeds: []\n"
        "host_countries: [GE]\n"
        "countries_served: [RU]\n"
        "languages: [ru, en]\n"
        "topics: [legal-aid, political-prisoners]\n"
        "contacts:\n"
        "  telegram: https://t.me/example_org\n"
        "status: active\n"
        "status_note: null\n"
        "verified_at: 2026-11-23\n"
        "verified_by: null\n"
        "source: https://example.org/about\n"
        "designations:\n"
        "  - authority: ru-minjust\n"
        "    kind: foreign-agent\n"
        "    date: 2021\n"
        "    source: https://example.org/d\n"
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(records(), min_size=1, max_size=3))
def test_entry_files_are_stable_through_import(
    store: Store, tmp_path_factory: Any, batch: list[dict[str, Any]]
) -> None:
    """export → import → export gives the same bytes, for entries with empty lists, line breaks, quotes,
    Cyrillic, colons, leading dashes and everything else `records()` draws."""
    folder: Path = tmp_path_factory.mktemp("files")
    source = folder / "source.json"
    source.write_text(json.dumps([F.nest(r) for r in batch], default=lambda v: v.isoformat()), encoding="utf-8")
    slugs = {record["slug"] for record in batch}
    with store.session() as session:
        imports.import_paths(session, [source], "prop")
    with store.session() as session:
        first = exports.write_entry_files(
            [r for r in exports.export_records(session) if r["slug"] in slugs], folder / "a"
        )
    with store.session() as session:
        plan = imports.import_paths(session, first, "prop")
    assert [c.changes for c in plan.changes if c.action != "unchanged"] == []
    with store.session() as session:
        second = exports.write_entry_files(
            [r for r in exports.export_records(session) if r["slug"] in slugs], folder / "b"
        )
    assert [p.read_bytes() for p in second] == [p.read_bytes() for p in first]


def test_output_ending_in_a_slash_is_a_new_folder_of_entry_files(cli: Cli, tmp_path: Path) -> None:
    assert cli("import", str(ENTRIES / "meduza.yaml"), str(ENTRIES / "fr-pause.yaml")).exit_code == 0
    result = cli("export", "--format", "yaml", "--output", f"{tmp_path}/new/deeper/")
    assert (result.exit_code, result.output) == (0, f"wrote 2 entry files to {tmp_path}/new/deeper\n")
    assert sorted(p.name for p in (tmp_path / "new" / "deeper").iterdir()) == ["fr-pause.yaml", "meduza.yaml"]
    single = cli("export", "--format", "yaml", "--output", str(tmp_path / "all.yaml"))
    assert single.exit_code == 0 and (tmp_path / "all.yaml").read_text(encoding="utf-8").startswith("- slug: ")


def test_output_paths_that_cannot_be_written_are_one_line_and_write_nothing(cli: Cli, tmp_path: Path) -> None:
    assert cli("import", str(ENTRIES / "meduza.yaml")).exit_code == 0
    (tmp_path / "folder").mkdir()
    cases = {
        ("yaml", f"{tmp_path}/missing/all.yaml"): f"the folder {tmp_path}/missing does not exist",
        ("csv", f"{tmp_path}/missing/all.csv"): f"the folder {tmp_path}/missing does not exist",
        ("json", f"{tmp_path}/folder"): "json is one file; name a file, not a folder",
        ("csv", f"{tmp_path}/new/"): "csv is one file; name a file, not a folder",
    }
    for (fmt, path), message in cases.items():
        result = cli("export", "--format", fmt, "--output", path)
        assert (result.exit_code, result.output) == (2, f"--output {path}: {message}\n")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("nansen.db")) == ["folder"]
    assert list((tmp_path / "folder").iterdir()) == []
    result = cli("export", "--format", "yaml", "--excel")
    assert (result.exit_code, result.output) == (2, "--excel goes with --format csv\n")
    (tmp_path / "out" / "meduza.yaml").mkdir(parents=True)  # a folder where a file would go
    result = cli("export", "--format", "yaml", "--output", f"{tmp_path}/out/")
    assert (result.exit_code, result.output) == (
        1,
        f"{tmp_path}/out/meduza.yaml is in the way: it is a link or not a file; nothing was written\n",
    )
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["meduza.yaml"]


FORMULAS = {"name.en": '=HYPERLINK("https://example.org")', "name.ru": "+7 495 000", "status_note": "-1 @once"}


def test_csv_for_excel_has_a_byte_order_mark_and_crlf_and_the_same_cells(cli: Cli, tmp_path: Path) -> None:
    record = entry_record("formula-org", **FORMULAS, **{"summary.en": "Two lines:\nsecond."})
    (tmp_path / "in.json").write_text(json.dumps([F.nest(record)]), encoding="utf-8")
    assert cli("import", str(ENTRIES / "meduza.yaml"), str(tmp_path / "in.json")).exit_code == 0
    plain = cli("export", "--format", "csv").stdout_bytes
    excel = cli("export", "--format", "csv", "--excel").stdout_bytes
    assert not plain.startswith(b"\xef\xbb\xbf") and b"\r\n" not in plain
    assert excel.startswith(b"\xef\xbb\xbfslug,kind,") and excel.count(b"\r\n") == 3  # header and two rows
    assert excel.endswith(b"\r\n") and b"\nsecond." in excel  # a line break inside a cell stays as it was
    rows = list(csv.DictReader(io.StringIO(excel.decode("utf-8-sig"), newline="")))
    assert rows == list(csv.DictReader(io.StringIO(plain.decode("utf-8"), newline="")))
    formula_row = next(row for row in rows if row["slug"] == "formula-org")
    assert {key: formula_row[key] for key in FORMULAS} == FORMULAS  # exact: no quote or tab put before
    for name, data in (("plain.csv", plain), ("excel.csv", excel)):
        (tmp_path / name).write_bytes(data)
        result = cli("import", str(tmp_path / name))
        assert result.output.endswith("0 updated, 2 unchanged\n"), (name, result.output)
