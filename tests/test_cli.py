"""The `nansen` CLI as a maintainer uses it: output, exit codes, and what ends up in the database."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, Cli

DATA = REPO / "data"


@pytest.fixture
def seeded(cli: Cli) -> Cli:
    result = cli("import", str(DATA))
    assert result.exit_code == 0, result.output
    return cli


def test_init_is_repeatable(cli: Cli) -> None:
    result = cli("init")
    assert result.exit_code == 0
    assert "database ready" in result.output and "schema 0006, c0001, n0003, p0001, t0001" in result.output


def test_commands_refuse_an_uninitialized_database(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    sqlite3.connect(tmp_path / "new.db").close()  # a database, empty
    result = Cli(f"sqlite:///{tmp_path / 'new.db'}", CliRunner())("stats")
    assert result.exit_code == 1
    assert "not initialized: run `nansen init`" in result.output


@pytest.mark.parametrize("command", [("stats",), ("entries", "list"), ("review",), ("run",)])
def test_a_missing_database_file_is_one_line_and_is_not_created(tmp_path: Path, command: tuple[str, ...]) -> None:
    from typer.testing import CliRunner

    folder = tmp_path / "no-such-folder"
    result = Cli(f"sqlite:///{folder / 'x.db'}", CliRunner())(*command)
    assert (result.exit_code, result.output) == (
        1,
        f"no database at sqlite:///{folder / 'x.db'}: the folder {folder} does not exist\n",
    )
    result = Cli(f"sqlite:///{tmp_path / 'x.db'}", CliRunner())(*command)
    assert (result.exit_code, result.output) == (
        1,
        f"no database at sqlite:///{tmp_path / 'x.db'}: run `nansen init` to create it\n",
    )
    assert list(tmp_path.iterdir()) == []


def test_init_in_a_folder_that_does_not_exist_is_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    url = f"sqlite:///{tmp_path / 'no-such-folder' / 'x.db'}"
    result = Cli(url, CliRunner())("init")
    assert (result.exit_code, result.output) == (
        1,
        f"cannot open the database at {url}: unable to open database file\n",
    )


def test_a_short_signing_secret_is_one_line(cli: Cli) -> None:
    result = cli("newsletter", "preview", env={"NANSEN_SECRET": "short"})
    assert result.exit_code == 1 and len(result.output.splitlines()) == 1
    assert "NANSEN_SECRET" in result.output and "Traceback" not in result.output


def test_seed_import_lists_programs_as_json(seeded: Cli) -> None:
    result = seeded("entries", "list", "--kind", "program", "--format", "json")
    programs = json.loads(result.output)
    assert len(programs) >= 20
    assert {p["kind"] for p in programs} == {"program"}
    assert all(p["program"]["state"] in {"open", "paused", "closed", "unknown"} for p in programs)
    assert set(programs[0]) >= {"slug", "name", "summary", "created_at", "updated_at"}
    states = {p["slug"]: (p["program"]["state"], p["program"]["state_since"]) for p in programs}
    assert states["pl-poland-business-harbour"] == ("closed", "2024-01-26")  # suspended in January 2024
    assert all(since for state, since in states.values())  # a state always says since when


def test_designations_are_in_the_json_with_date_and_source(seeded: Cli, tmp_path: Path) -> None:
    shown = json.loads(seeded("entries", "show", "meduza", "--format", "json").output)
    kinds = {(d["authority"], d["kind"]) for d in shown["designations"]}
    assert {("ru-minjust", "foreign-agent"), ("ru-prosecutor-general", "undesirable")} <= kinds
    assert all(d["date"] and d["source"].startswith("https://") for d in shown["designations"])
    assert seeded("export", "--format", "json", "--output", str(tmp_path / "all.json")).exit_code == 0
    exported = {e["slug"]: e for e in json.loads((tmp_path / "all.json").read_text(encoding="utf-8"))}
    assert exported["meduza"]["designations"] == shown["designations"]
    assert all(d["date"] and d["source"] for e in exported.values() for d in e.get("designations", []))


def test_designated_organizations_can_be_listed_counted_and_found(seeded: Cli) -> None:
    listed = json.loads(seeded("entries", "list", "--designation", "terrorist", "--format", "json").output)
    slugs = {e["slug"] for e in listed}
    assert {"fbk", "nexta"} <= slugs and "meduza" not in slugs
    assert all(any(d["kind"] == "terrorist" and not d.get("lifted") for d in e["designations"]) for e in listed)
    stats = json.loads(seeded("stats", "--format", "json").output)
    assert stats["by_designation"]["terrorist"] == len(listed)
    found = {e["slug"] for e in json.loads(seeded("entries", "search", "terrorist", "--format", "json").output)}
    assert slugs <= found
    assert seeded("entries", "list", "--designation", "spy").exit_code == 2
    agents = json.loads(seeded("entries", "list", "--designation", "foreign-agent", "--format", "json").output)
    found = json.loads(seeded("entries", "search", "иноагент", "--format", "json", "--limit", "200").output)
    assert {e["slug"] for e in agents} <= {e["slug"] for e in found}  # the everyday word finds them


def test_second_import_of_the_seed_changes_nothing(seeded: Cli) -> None:
    result = seeded("import", str(DATA))
    assert result.exit_code == 0
    assert " 0 created, 0 updated" in result.output


def test_search_ranks_a_political_prisoners_ngo_first_in_both_languages(seeded: Cli) -> None:
    english = json.loads(seeded("entries", "search", "political prisoners", "--format", "json").stdout)
    russian = json.loads(seeded("entries", "search", "политзаключённым", "--format", "json", "--limit", "200").output)
    assert english[0]["kind"] == "ngo"
    assert "political-prisoners" in english[0]["topics"]
    assert english[0]["rank"] >= english[-1]["rank"]
    english_slugs = {e["slug"] for e in english if "political-prisoners" in e["topics"]}
    russian_slugs = {e["slug"] for e in russian}
    assert len(english_slugs) >= 3
    assert english_slugs <= russian_slugs


def test_import_error_names_the_line_and_changes_nothing(seeded: Cli, tmp_path: Path) -> None:
    before = seeded("stats", "--format", "json").output
    source = (DATA / "entries" / "ovd-info.yaml").read_text(encoding="utf-8")
    lines = source.splitlines()
    number = next(i for i, line in enumerate(lines, 1) if line.startswith("languages:"))
    lines[number - 1] = "languages: [ru, xx]"
    bad = tmp_path / "ovd-info.yaml"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    new = tmp_path / "new.yaml"
    new.write_text(source.replace("slug: ovd-info", "slug: brand-new"), encoding="utf-8")
    result = seeded("import", str(new), str(bad))
    assert result.exit_code == 1
    assert f"{bad}:{number}: 'languages': 'xx' is not an ISO 639-1 language code" in result.output
    assert "nothing was written" in result.output
    assert seeded("stats", "--format", "json").output == before


def test_dry_run_shows_the_diff_and_writes_nothing(seeded: Cli, tmp_path: Path) -> None:
    source = (DATA / "entries" / "meduza.yaml").read_text(encoding="utf-8")
    changed = tmp_path / "meduza.yaml"
    changed.write_text(source.replace("https://meduza.io\n", "https://meduza.example\n", 1), encoding="utf-8")
    result = seeded("import", "--dry-run", str(changed))
    assert result.exit_code == 0
    assert "~ meduza" in result.output and "https://meduza.example" in result.output
    assert "1 would be updated" in result.output
    shown = json.loads(seeded("entries", "show", "meduza", "--format", "json").output)
    assert shown["website"] == "https://meduza.io"


def test_add_edit_verify_close_and_history(cli: Cli) -> None:
    result = cli(
        "entries",
        "add",
        "--slug",
        "tbilisi-help",
        "--kind",
        "ngo",
        "--name-en",
        "Tbilisi Help",
        "--name-ru",
        "Помощь в Тбилиси",
        "--summary-en",
        "Helps newcomers.",
        "--summary-ru",
        "Помогает приехавшим.",
        "--host-country",
        "GE",
        "--topic",
        "relocation",
        "--language",
        "ru",
        "--telegram",
        "@tbilisihelp",
        "--reason",
        "met them",
    )
    assert result.exit_code == 0, result.output
    assert (
        cli(
            "entries",
            "edit",
            "tbilisi-help",
            "--set",
            "website=https://help.example.ge",
            "--set",
            "topics=relocation | housing",
            "--reason",
            "new site",
        ).exit_code
        == 0
    )
    unsourced = cli("entries", "verify", "tbilisi-help", "--note", "called")
    assert unsourced.exit_code == 1
    assert "'source': is required for a verified entry: say where the facts were checked" in unsourced.output
    mirror = cli("entries", "verify", "tbilisi-help", "--source", "https://wikimili.com/en/Tbilisi_Help")
    assert mirror.exit_code == 1 and "copy of Wikipedia" in mirror.output
    sourced = cli("entries", "verify", "tbilisi-help", "--note", "called", "--source", "https://help.example.ge/about")
    assert sourced.exit_code == 0
    assert cli("entries", "close", "tbilisi-help", "--reason", "stopped working").exit_code == 0
    rows = list(csv.DictReader(io.StringIO(cli("entries", "history", "tbilisi-help", "--format", "csv").output)))
    assert [r["field"] for r in rows] == [
        "created",
        "website",
        "topics",
        "verified_at",
        "verified_by",
        "source",
        "status",
    ]
    assert rows[2]["new"] == '["relocation", "housing"]'
    assert {r["actor"] for r in rows} == {"tester"}
    assert rows[-1]["reason"] == "stopped working"
    shown = json.loads(cli("entries", "show", "tbilisi-help", "--format", "json").output)
    assert shown["contacts"]["telegram"] == "https://t.me/tbilisihelp"
    assert shown["status"] == "closed"
    table = cli("entries", "history", "tbilisi-help").output
    assert "(new entry)" in table and "stopped working" in table


def test_add_refuses_bad_values_with_the_reason(cli: Cli) -> None:
    result = cli(
        "entries",
        "add",
        "--slug",
        "x-org",
        "--kind",
        "ngo",
        "--name-en",
        "X",
        "--name-ru",
        "Х",
        "--summary-en",
        "x",
        "--summary-ru",
        "х",
        "--host-country",
        "XX",
        "--website",
        "x.org",
    )
    assert result.exit_code == 1
    assert "'website': 'x.org' is not an http(s) URL" in result.output
    assert "'host_countries': 'XX' is not an ISO 3166-1 alpha-2 country code" in result.output
    result = cli("entries", "add", "--slug", "x-org", "--kind", "ngo")
    assert result.exit_code == 1
    assert "'name.en': is required" in result.output


def test_usage_errors_exit_2(seeded: Cli) -> None:
    assert seeded("entries", "list", "--country", "Georgia").exit_code == 2
    assert seeded("entries", "list", "--format", "xml").exit_code == 2
    assert seeded("entries", "edit", "meduza", "--set", "colour=red").exit_code == 2
    assert seeded("entries", "show", "nobody").exit_code == 1


def test_edit_in_editor(seeded: Cli, tmp_path: Path) -> None:
    """A real editor process: a script that rewrites the file the way a person would."""
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys, pathlib\n"
        "p = pathlib.Path(sys.argv[1]); t = p.read_text(encoding='utf-8')\n"
        "t = t.replace('status: active', 'status: inactive')\n"
        "t = '\\n'.join(l for l in t.splitlines() if not l.startswith('feeds:'))\n"
        "p.write_text(t + '\\n', encoding='utf-8')\n",
        encoding="utf-8",
    )
    result = seeded(
        "entries",
        "edit",
        "meduza",
        "--reason",
        "hiatus",
        env={"EDITOR": f"{sys.executable} {script}", "VISUAL": ""},
    )
    assert result.exit_code == 0, result.output
    assert "changed feeds, status" in result.output
    shown = json.loads(seeded("entries", "show", "meduza", "--format", "json").output)
    assert (shown["status"], shown["feeds"]) == ("inactive", [])


def test_a_refused_edit_reopens_the_editor_with_the_error_and_keeps_the_typing(seeded: Cli, tmp_path: Path) -> None:
    """The first save has a bad language code; the editor opens again on what was typed, the error on
    top; the second save fixes only the code, and keeps the other change made the first time."""
    script = tmp_path / "editor.py"
    seen = tmp_path / "seen"
    script.write_text(
        "import sys, pathlib\n"
        f"seen = pathlib.Path({str(seen)!r}); p = pathlib.Path(sys.argv[1]); t = p.read_text(encoding='utf-8')\n"
        "with seen.open('a', encoding='utf-8') as log: log.write(t + '\\n=====\\n')\n"
        "if t.startswith('# Not saved: '): t = t.replace('xx', 'uk')\n"
        "else: t = t.replace('status: active', 'status: inactive').replace('languages: [', 'languages: [xx, ')\n"
        "p.write_text(t, encoding='utf-8')\n",
        encoding="utf-8",
    )
    result = seeded("entries", "edit", "meduza", env={"EDITOR": f"{sys.executable} {script}", "VISUAL": ""})
    assert result.exit_code == 0, result.output
    assert "changed languages, status" in result.output
    second = seen.read_text(encoding="utf-8").split("\n=====\n")[1]
    assert second.startswith("# Not saved: meduza: 'languages': 'xx' is not an ISO 639-1 language code\n")
    assert "status: inactive" in second  # what was typed the first time is still there
    shown = json.loads(seeded("entries", "show", "meduza", "--format", "json").output)
    assert (shown["status"], shown["languages"][0]) == ("inactive", "uk")


def test_the_same_mistake_saved_twice_ends_the_edit_and_changes_nothing(seeded: Cli, tmp_path: Path) -> None:
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys, pathlib\n"
        "p = pathlib.Path(sys.argv[1]); t = p.read_text(encoding='utf-8')\n"
        "p.write_text('status: [unclosed\\n' + t, encoding='utf-8')\n",
        encoding="utf-8",
    )
    before = seeded("entries", "show", "meduza", "--format", "json").output
    result = seeded("entries", "edit", "meduza", env={"EDITOR": f"{sys.executable} {script}", "VISUAL": ""})
    assert result.exit_code == 1 and len(result.output.splitlines()) == 1
    assert result.output.startswith("edited YAML:")
    kept = Path(result.output.rstrip("\n").rpartition(" is kept in ")[2].rstrip(")"))
    assert kept.read_text(encoding="utf-8").startswith("status: [unclosed\n# Not saved: edited YAML:")
    kept.unlink()
    assert seeded("entries", "show", "meduza", "--format", "json").output == before


@pytest.mark.parametrize("editor", ["/nonexistent/editor", '"unbalanced quote'])
def test_an_editor_that_cannot_start_is_one_line(seeded: Cli, editor: str) -> None:
    result = seeded("entries", "edit", "meduza", env={"EDITOR": editor, "VISUAL": ""})
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith(f"cannot start the editor {editor!r} ($VISUAL/$EDITOR): ")
    assert len(result.output.splitlines()) == 1


def test_list_filters_and_csv(seeded: Cli) -> None:
    rows = list(csv.DictReader(io.StringIO(seeded("entries", "list", "--country", "GE", "--format", "csv").output)))
    assert rows and all("GE" in r["host_countries"].split(" | ") for r in rows)
    stale = json.loads(seeded("entries", "list", "--stale", "30", "--format", "json").output)
    assert stale and all(e["verified_at"] is None for e in stale)
    table = seeded("entries", "list", "--kind", "media", "--lang", "ru").output
    assert "Медуза" in table


def test_stats_and_export_formats(seeded: Cli, tmp_path: Path) -> None:
    stats = json.loads(seeded("stats", "--format", "json").output)
    assert stats["by_kind"]["media"] >= 25 and stats["by_kind"]["ngo"] >= 25
    assert stats["revisions"] == stats["entries"]
    out = tmp_path / "entries"
    out.mkdir()
    assert seeded("export", "--format", "yaml", "--output", str(out)).exit_code == 0
    assert len(list(out.glob("*.yaml"))) == stats["entries"]
    assert seeded("import", str(out)).output.endswith(f"0 updated, {stats['entries']} unchanged\n")
    hsds_dir = tmp_path / "hsds"
    result = seeded("export", "--format", "hsds", "--output", str(hsds_dir))
    assert result.exit_code == 0, result.output
    assert (hsds_dir / "datapackage.json").exists()
    assert seeded("export", "--format", "hsds").exit_code == 2


def test_help_does_not_load_the_crawler_stack() -> None:
    code = (
        "import sys; from typer.testing import CliRunner; from pipeline.cli import app; "
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output; "
        "heavy = [m for m in ('scrapy', 'twisted', 'sqlalchemy', 'mjml') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, env={**os.environ})
