"""Two maintainers, two processes, one entry: no change is lost and every revision's `old` is what it
replaced (SQLite and PostgreSQL).

A change that depends on what it read (an item added to a list, an accepted proposal, an import's
diff) holds the entry from the read on (`store.for_writing`); an editor session, which cannot hold it
while a person types, merges its changes field by field at save."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from directory import entries, imports, proposals
from directory import store as store_module
from directory.store import Store
from tests.conftest import REPO, entry_record

NANSEN = str(Path(sys.executable).with_name("nansen"))
TESTER = entries.Actor("tester")


@pytest.fixture
def seeded_store(store: Store) -> Store:
    with store.session() as session:
        entries.add_entry(session, entry_record("shared-org"), TESTER)
    return store


def _env(store: Store, **extra: str) -> dict[str, str]:
    return {"PATH": str(Path(NANSEN).parent), "NANSEN_DATABASE_URL": store.url, "NANSEN_ACTOR": "tester", **extra}


def _nansen(store: Store, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [NANSEN, *args], env=_env(store, **env), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _revisions(store: Store, field: str) -> list[tuple[Any, Any]]:
    with store.session() as session:
        return [(r.old, r.new) for r in entries.history(session, "shared-org") if r.field == field]


def _chained(revisions: list[tuple[Any, Any]], first_old: Any) -> bool:
    """Each revision replaced what the one before it wrote: no write was made from a stale read."""
    olds = [old for old, _ in revisions]
    return olds == [first_old, *[new for _, new in revisions[:-1]]]


def test_items_added_by_six_processes_at_once_are_all_kept(seeded_store: Store) -> None:
    domains = [f"mirror{n}.example.org" for n in range(6)]
    running = [_nansen(seeded_store, "entries", "edit", "shared-org", "--add", f"other_domains={d}") for d in domains]
    outcomes = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in running]
    assert all(code == 0 for code, _ in outcomes), outcomes
    with seeded_store.session() as session:
        kept = entries.to_record(entries.get_entry(session, "shared-org"))["other_domains"]
    assert sorted(kept) == domains
    revisions = _revisions(seeded_store, "other_domains")
    assert len(revisions) == 6 and _chained(revisions, [])


def test_a_change_that_read_the_entry_holds_it_until_it_commits(seeded_store: Store) -> None:
    """Deterministic form of the race above: a second writer that starts while the first holds the
    entry waits for it, then builds on what the first wrote (on SQLite it waits for the file's write
    lock, on PostgreSQL for the row)."""
    second_done = threading.Event()

    def second() -> None:
        with seeded_store.session() as session:
            record = entries.to_record(entries.get_entry(session, "shared-org", for_writing=True))
            domains = [*record["other_domains"], "second.example.org"]
            entries.edit_entry(session, "shared-org", {"other_domains": domains}, TESTER)
        second_done.set()

    with seeded_store.session() as session:
        record = entries.to_record(entries.get_entry(session, "shared-org", for_writing=True))
        thread = threading.Thread(target=second)
        thread.start()
        assert not second_done.wait(1.0), "the second writer read the entry while the first held it"
        entries.edit_entry(
            session, "shared-org", {"other_domains": [*record["other_domains"], "first.example.org"]}, TESTER
        )
    thread.join(60)
    assert second_done.is_set()
    with seeded_store.session() as session:
        kept = entries.to_record(entries.get_entry(session, "shared-org"))["other_domains"]
    assert kept == ["first.example.org", "second.example.org"]
    assert _chained(_revisions(seeded_store, "other_domains"), [])


def test_two_reviewers_accepting_one_proposal_apply_it_once(seeded_store: Store) -> None:
    with seeded_store.session() as session:
        entry = entries.get_entry(session, "shared-org")
        proposal = proposals.propose(
            session,
            entry,
            proposals.Suggestion("feed", "feeds", "https://example.org/rss", {"seen": "test"}, operation="add"),
            "crawler:feeds",
        )
        assert proposal is not None
        session.flush()
        number = str(proposal.id)
    running = [_nansen(seeded_store, "review", "accept", number) for _ in range(3)]
    outcomes = sorted((p.wait(timeout=120), (p.stderr.read() if p.stderr else "").strip()) for p in running)
    assert [code for code, _ in outcomes] == [0, 1, 1], outcomes
    assert all(err == f"already decided: {number} (accepted)" for _, err in outcomes[1:]), outcomes
    assert _revisions(seeded_store, "feeds") == [([], ["https://example.org/rss"])]


def test_an_import_holds_the_entries_it_compared_against(seeded_store: Store, tmp_path: Path) -> None:
    """An import planned while an edit holds the entry waits, and its revision replaces the edit's value."""
    source = tmp_path / "shared-org.yaml"
    source.write_text(f"slug: shared-org\nstatus_note: {json.dumps('from the import')}\n", encoding="utf-8")
    imported = threading.Event()

    def run_import() -> None:
        with seeded_store.session() as session:
            imports.import_paths(session, [source], "importer")
        imported.set()

    with seeded_store.session() as session:
        entries.get_entry(session, "shared-org", for_writing=True)
        thread = threading.Thread(target=run_import)
        thread.start()
        assert not imported.wait(1.0), "the import planned against the entry while an edit held it"
        entries.edit_entry(session, "shared-org", {"status_note": "from the edit"}, TESTER)
    thread.join(60)
    assert imported.is_set()
    assert _revisions(seeded_store, "status_note") == [(None, "from the edit"), ("from the edit", "from the import")]


def _editor(tmp_path: Path, *, meanwhile: str, mine: tuple[str, str], save_again: bool = True) -> str:
    """An editor that, while open, has another process change the entry (`--set meanwhile`), then
    replaces the line `mine[0]` with `mine[1]`; reopened, it saves what it is given as it is (or, not
    `save_again`, quits without saving); every text it was given is logged to `seen`."""
    script = tmp_path / "editor.py"
    script.write_text(
        "import pathlib, subprocess, sys\n"
        f"seen = pathlib.Path({str(tmp_path / 'seen')!r}); p = pathlib.Path(sys.argv[1])\n"
        "t = p.read_text(encoding='utf-8')\n"
        "with seen.open('a', encoding='utf-8') as log: log.write(t + '\\n=====\\n')\n"
        "if not t.startswith('# Not saved: '):\n"
        f"    other = [{NANSEN!r}, 'entries', 'edit', 'shared-org', '--set', {meanwhile!r}]\n"
        "    subprocess.run(other, check=True, stdout=subprocess.DEVNULL)\n"
        f"    t = t.replace({mine[0]!r}, {mine[1]!r})\n"
        f"if {save_again!r} or not t.startswith('# Not saved: '): p.write_text(t, encoding='utf-8')\n",
        encoding="utf-8",
    )
    return f"{sys.executable} {script}"


def _edit(store: Store, editor: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NANSEN, "entries", "edit", "shared-org"],
        env=_env(store, EDITOR=editor, VISUAL=""),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_an_editor_session_keeps_what_another_process_changed_in_other_fields(
    seeded_store: Store, tmp_path: Path
) -> None:
    editor = _editor(tmp_path, meanwhile="status_note=moved offices", mine=("status: active", "status: inactive"))
    result = _edit(seeded_store, editor)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "shared-org: changed status\n"
    with seeded_store.session() as session:
        record = entries.to_record(entries.get_entry(session, "shared-org"))
    assert (record["status"], record["status_note"]) == ("inactive", "moved offices")
    assert len((tmp_path / "seen").read_text(encoding="utf-8").split("\n=====\n")) == 2  # opened once


def test_an_editor_session_that_clashes_reopens_on_the_entry_as_it_is_now(seeded_store: Store, tmp_path: Path) -> None:
    editor = _editor(
        tmp_path,
        meanwhile="summary.en=Changed by the other maintainer.",
        mine=(
            "  en: Lawyers who defend political prisoners and their families.",
            "  en: Lawyers for political prisoners.",
        ),
    )
    result = _edit(seeded_store, editor)
    assert result.returncode == 0, result.stderr
    second = (tmp_path / "seen").read_text(encoding="utf-8").split("\n=====\n")[1]
    assert second.startswith(
        "# Not saved: shared-org: changed by someone else since you opened it "
        "(summary.en is now 'Changed by the other maintainer.'): below, the entry as it is now with your"
        " changes; save to keep them\n"
    )
    assert "  en: Lawyers for political prisoners.\n" in second
    revisions = _revisions(seeded_store, "summary.en")
    assert revisions[-2:] == [
        ("Lawyers who defend political prisoners and their families.", "Changed by the other maintainer."),
        ("Changed by the other maintainer.", "Lawyers for political prisoners."),
    ]


def test_quitting_the_reopened_editor_without_saving_cancels(seeded_store: Store, tmp_path: Path) -> None:
    editor = _editor(
        tmp_path, meanwhile="status_note=theirs", mine=("status_note: null", "status_note: mine"), save_again=False
    )
    result = _edit(seeded_store, editor)
    assert result.returncode == 1
    assert result.stderr.startswith("edit cancelled: the file was not changed (shared-org: changed by someone else")
    assert _revisions(seeded_store, "status_note") == [(None, "theirs")]


def test_the_three_way_merge_of_an_edit(seeded_store: Store) -> None:
    """`based_on`: the edit's own changes apply over others'; a clash names the value stored now."""
    with seeded_store.session() as session:
        opened = entries.to_record(entries.get_entry(session, "shared-org"))
        entries.edit_entry(session, "shared-org", {"status_note": "theirs", "topics": ["journalism"]}, TESTER)
    with seeded_store.session() as session:
        change = entries.edit_entry(session, "shared-org", {**opened, "status": "inactive"}, TESTER, based_on=opened)
        assert [c.field for c in change.changes] == ["status"]
    with pytest.raises(entries.EditConflict) as clash, seeded_store.session() as session:
        entries.edit_entry(session, "shared-org", {**opened, "topics": ["legal-aid"]}, TESTER, based_on=opened)
    assert clash.value.theirs == {"topics": ["journalism"]}
    assert clash.value.merged["topics"] == ["legal-aid"] and clash.value.merged["status_note"] == "theirs"
    with seeded_store.session() as session:
        stored = entries.to_record(entries.get_entry(session, "shared-org"))
    assert (stored["status"], stored["status_note"], stored["topics"]) == ("inactive", "theirs", ["journalism"])


def _script(tmp_path: Path, body: str) -> str:
    script = tmp_path / "editor.py"
    script.write_text(
        "import pathlib, subprocess, sys\n"
        f"NANSEN = {NANSEN!r}\n"
        f"seen = pathlib.Path({str(tmp_path / 'seen')!r}); p = pathlib.Path(sys.argv[1])\n"
        "t = p.read_text(encoding='utf-8')\n"
        "with seen.open('a', encoding='utf-8') as log: log.write(t + '\\n=====\\n')\n" + body,
        encoding="utf-8",
    )
    return f"{sys.executable} {script}"


def test_a_reopened_editor_holds_nothing(seeded_store: Store, tmp_path: Path) -> None:
    """After a refused save the editor is open again: another process can still write, on SQLite too."""
    with seeded_store.session() as session:
        entries.add_entry(session, entry_record("other-org"), TESTER)
    editor = _script(
        tmp_path,
        "if t.startswith('# Not saved: '):\n"
        "    other = [NANSEN, 'entries', 'edit', 'other-org', '--set', 'status_note=meanwhile']\n"
        "    done = subprocess.run(other, capture_output=True, text=True, timeout=60)\n"
        f"    pathlib.Path({str(tmp_path / 'other')!r}).write_text(str(done.returncode) + done.stderr)\n"
        "    t = t.replace('[xx]', '[ru]')\n"
        "else:\n"
        "    t = t.replace('languages: [ru, en]', 'languages: [xx]')\n"
        "p.write_text(t, encoding='utf-8')\n",
    )
    result = _edit(seeded_store, editor)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "other").read_text() == "0"
    assert _revisions(seeded_store, "languages") == [(["ru", "en"], ["ru"])]


def test_a_merge_that_breaks_a_rule_reopens_on_the_entry_as_it_is_now(store: Store, tmp_path: Path) -> None:
    """Verifying in the editor while another process clears the source: the merge needs a source, so
    the editor reopens on the entry as it is now (source empty) with the rule named; filling it saves."""
    with store.session() as session:
        entries.add_entry(session, entry_record("shared-org", source="https://example.org/about"), TESTER)
    editor = _script(
        tmp_path,
        "if t.startswith('# Not saved: '):\n"
        "    t = t.replace('source: null', 'source: https://example.org/team')\n"
        "else:\n"
        "    subprocess.run([NANSEN, 'entries', 'edit', 'shared-org', '--set', 'source='], check=True)\n"
        "    t = t.replace('verified_at: null', 'verified_at: 2026-11-01')\n"
        "p.write_text(t, encoding='utf-8')\n",
    )
    result = _edit(store, editor)
    assert result.returncode == 0, result.stderr
    second = (tmp_path / "seen").read_text(encoding="utf-8").split("\n=====\n")[1]
    assert second.startswith(
        "# Not saved: shared-org: changed by someone else since you opened it, and with those changes"
        " shared-org: 'source': "
    )
    assert "\nsource: null\n" in second and "\nverified_at: 2026-11-01\n" in second
    with store.session() as session:
        record = entries.to_record(entries.get_entry(session, "shared-org"))
    assert (record["source"], record["verified_at"][:10]) == ("https://example.org/team", "2026-11-01")


def test_the_same_new_slug_created_by_several_processes_at_once(store: Store, tmp_path: Path) -> None:
    """One creates it; the others wait and say it exists (add) or find it unchanged (import)."""
    add = [
        "entries", "add", "--slug", "dup-add", "--kind", "ngo", "--name-en", "Dup", "--name-ru", "Дуп",
        "--summary-en", "x", "--summary-ru", "y", "--host-country", "DE", "--language", "ru", "--topic", "legal-aid",
    ]  # fmt: skip
    running = [_nansen(store, *add) for _ in range(4)]
    outcomes = sorted((p.wait(timeout=120), (p.stderr.read() if p.stderr else "").strip()) for p in running)
    assert [code for code, _ in outcomes] == [0, 1, 1, 1], outcomes
    assert all(err == "dup-add: 'slug': 'dup-add' exists already" for _, err in outcomes[1:]), outcomes
    folder = tmp_path / "new"
    folder.mkdir()
    for number in range(5):
        record = entry_record(f"fresh-{number}")
        (folder / f"fresh-{number}.json").write_text(json.dumps(record), encoding="utf-8")
    running = [_nansen(store, "import", str(folder)) for _ in range(4)]
    outcomes = sorted((p.wait(timeout=120), p.stdout.read() if p.stdout else "") for p in running)
    assert [code for code, _ in outcomes] == [0, 0, 0, 0], outcomes
    said = sorted(out.strip() for _, out in outcomes)
    assert said == ["5 entries read: 0 created, 0 updated, 5 unchanged"] * 3 + [
        "5 entries read: 5 created, 0 updated, 0 unchanged"
    ]


def test_a_proposal_over_a_value_changed_since_is_not_applied(seeded_store: Store) -> None:
    with seeded_store.session() as session:
        entry = entries.get_entry(session, "shared-org")
        proposal = proposals.propose(
            session, entry, proposals.Suggestion("email", "contacts.email", "info@example.org", {}), "crawler:site"
        )
        assert proposal is not None
        session.flush()
        number = proposal.id
    with seeded_store.session() as session:
        entries.edit_entry(session, "shared-org", {"contacts.email": "desk@example.org"}, TESTER)
    with seeded_store.session() as session:
        pending = proposals.list_proposals(session, slug="shared-org")
        assert [proposals.current_value(p) for p in pending] == ["desk@example.org"]  # what `review` shows
    with pytest.raises(proposals.ReviewError) as refused, seeded_store.session() as s:
        proposals.accept(s, [number], "tester")
    assert str(refused.value) == (
        f"#{number}: shared-org contacts.email was changed since it was proposed (it is now 'desk@example.org',"
        " the proposal was made over empty): reject it, or edit the entry"
    )
    assert _revisions(seeded_store, "contacts.email") == [(None, "desk@example.org")]


@pytest.mark.only_on("sqlite")  # PostgreSQL waits for a row lock without a timeout: nothing to report
def test_a_database_busy_past_the_wait_is_one_line(seeded_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite: a writer that waits longer than the busy timeout gets `Busy`, one line naming the remedy."""
    monkeypatch.setattr(store_module, "SQLITE_BUSY_SECONDS", 0.2)
    impatient = Store(seeded_store.url)
    try:
        with seeded_store.session() as holding:
            entries.get_entry(holding, "shared-org", for_writing=True)
            with pytest.raises(store_module.Busy) as busy, impatient.session() as session:
                entries.edit_entry(session, "shared-org", {"status_note": "x"}, TESTER)
    finally:
        impatient.close()
    assert busy.value.lines() == [store_module.Busy.MESSAGE]
