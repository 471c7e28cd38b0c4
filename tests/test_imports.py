"""Imports: YAML, JSON, CSV; errors name file and line; all-or-nothing; idempotent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from directory import entries, exports, imports
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
