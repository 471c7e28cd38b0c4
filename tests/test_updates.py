"""Updates: the one definition of what subscribers are told, derived from revisions."""

from __future__ import annotations

import datetime as dt

import pytest

from directory import entries
from directory.store import Store
from publishing import updates
from tests.conftest import entry_record, program_record

ME = entries.Actor("maintainer")


def collect(store: Store) -> list[updates.Update]:
    with store.session() as session:
        return updates.collect(session)


@pytest.fixture
def two(store: Store) -> Store:
    with store.session() as session:
        entries.add_entry(session, entry_record(), ME)
        entries.add_entry(session, program_record(**{"program.state": "open", "program.state_since": None}), ME)
    return store


def test_added_entries_are_updates_in_both_languages(two: Store) -> None:
    found = collect(two)
    assert [u.kind for u in found] == ["added", "added"]
    org = next(u for u in found if u.entry.slug == "test-org")
    assert org.title == {
        "en": "New in the directory: Test Legal Aid",
        "ru": "Новое в каталоге: Тестовая юридическая помощь",
    }
    assert org.text["ru"].startswith("Юристы, которые защищают политзаключённых")
    assert org.id.startswith("update-")


def test_kinds_of_change_and_what_is_not_news(two: Store) -> None:
    with two.session() as session:
        entries.edit_entry(session, "test-org", {"summary.en": "Typo fixed."}, ME, minor=True)
        entries.edit_entry(session, "test-org", {"source": "https://example.org/about"}, ME)
        entries.verify_entry(session, "test-org", ME, note="checked")
    assert [u.kind for u in collect(two)] == ["added", "added"]
    with two.session() as session:
        entries.edit_entry(
            session, "test-program", {"program.state": "paused", "program.state_since": "2025-08-01"}, ME
        )
    with two.session() as session:
        entries.close_entry(session, "test-org", ME, reason="closed")
    with two.session() as session:
        entries.edit_entry(session, "test-org", {"status": "active"}, ME)
    with two.session() as session:
        entries.edit_entry(
            session, "test-org", {"countries_served": ["RU", "BY"], "website": "https://new.example.org"}, ME
        )
    found = collect(two)
    assert [u.kind for u in found[:4]] == ["changed", "reopened", "closed", "program-state"]
    changed, _, _, state = found[:4]
    assert changed.text["en"] == "Website: https://new.example.org\nServes people from: Russia, Belarus"
    assert changed.text["ru"] == "Сайт: https://new.example.org\nПомогает людям из стран: Россия, Беларусь"
    assert state.title["ru"] == "Тестовая гуманитарная виза: программа теперь приостановлена"
    assert "since 1 August 2025" in state.text["en"] and "с 1 августа 2025" in state.text["ru"]


def test_a_change_in_one_language_is_told_only_in_that_language(two: Store) -> None:
    with two.session() as session:
        entries.edit_entry(session, "test-org", {"summary.ru": "Новое описание."}, ME)
    latest = collect(two)[0]
    assert latest.text == {"en": "", "ru": "Описание: Новое описание."}


def test_ids_are_stable_and_order_is_newest_first(two: Store) -> None:
    with two.session() as session:
        entries.edit_entry(session, "test-org", {"website": "https://a.example.org"}, ME)
    first = collect(two)
    with two.session() as session:
        entries.edit_entry(session, "test-org", {"website": "https://b.example.org"}, ME)
    second = collect(two)
    assert [u.id for u in second[1:]] == [u.id for u in first]
    assert second[0].time >= second[1].time


def test_since_limits_to_later_updates(two: Store) -> None:
    cutoff = collect(two)[0].time
    with two.session() as session:
        entries.edit_entry(session, "test-org", {"website": "https://a.example.org"}, ME)
    with two.session() as session:
        later = updates.collect(session, since=cutoff)
    assert [u.kind for u in later] == ["changed"]


def test_designations_and_warnings_are_news_only_when_they_are_new(two: Store) -> None:
    """A designation made lately is a headline; recording an old one, or correcting a date, is a change;
    a new warning is a headline, a reworded one is not, a withdrawn one says so."""
    recent = (dt.date.today() - dt.timedelta(days=10)).isoformat()
    old = {
        "authority": "ru-minjust",
        "kind": "foreign-agent",
        "date": "2021-04-23",
        "source": "https://a.example.org/1",
    }
    new = {
        "authority": "ru-prosecutor-general",
        "kind": "undesirable",
        "date": recent,
        "source": "https://a.example.org/2",
    }
    warning = {"en": "Careful.", "ru": "Осторожно.", "date": "2025-03", "source": "https://a.example.org/w"}

    def newest(updates: dict) -> tuple[str, str, str]:
        with two.session() as session:
            entries.edit_entry(session, "test-org", updates, ME)
        found = collect(two)[0]
        return found.kind, found.title["en"], found.text["en"]

    kind, _, text = newest({"designations": [old]})
    assert kind == "changed" and text == "Designations: foreign agent: Ministry of Justice of Russia, 23 April 2021"
    assert newest({"designations": [{**old, "date": "2021-04"}]})[0] == "changed"
    kind, title, _ = newest({"designations": [{**old, "date": "2021-04"}, new]})
    assert (kind, title) == ("designation", "Test Legal Aid: designated as undesirable organization")
    lifted = {**new, "lifted": dt.date.today().isoformat()}
    assert newest({"designations": [{**old, "date": "2021-04"}, lifted]})[:2] == (
        "designation",
        "Test Legal Aid: designation as undesirable organization lifted",
    )
    kind, title, text = newest({"warnings": [warning]})
    assert (kind, title, text) == ("warning", "Test Legal Aid: new warning", "Warning: Careful. (March 2025)")
    kind, _, text = newest({"warnings": [{**warning, "en": "Be careful."}]})
    assert (kind, text) == ("changed", "Warning: Be careful. (March 2025)")
    kind, _, text = newest({"warnings": []})
    assert (kind, text) == ("changed", "Warning withdrawn: Be careful. (March 2025)")


def test_a_program_update_always_says_its_state(two: Store) -> None:
    with two.session() as session:
        entries.edit_entry(
            session,
            "test-program",
            {
                "program.state": "unknown",
                "program.state_since": "2025-07",
                "program.state_note.en": "Halted in July 2025.",
                "program.state_note.ru": "Остановлена в июле 2025 года.",
            },
            ME,
        )
    with two.session() as session:
        entries.edit_entry(session, "test-program", {"program.state_since": "2025-08"}, ME)
    texts = collect(two)[0].text
    assert texts["en"] == "Program state: unknown (last confirmed August 2025). Halted in July 2025."
    assert texts["ru"].startswith("Состояние программы: неизвестно (последнее подтверждение: август 2025")
