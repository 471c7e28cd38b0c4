"""Search in both languages, any word form, ranked, on both databases."""

from __future__ import annotations

import pytest

from directory import entries, search
from directory.store import Store
from tests.conftest import entry_record

ME = entries.Actor("maintainer")

RECORDS = [
    entry_record(
        "prisoner-letters",
        **{
            "name.en": "Letters to Political Prisoners",
            "name.ru": "Письма политзаключённым",
            "summary.en": "Volunteers write letters to political prisoners and send parcels to prisons.",
            "summary.ru": "Волонтёры пишут письма политзаключённым и отправляют посылки в колонии.",
            "topics": ["political-prisoners", "humanitarian-aid"],
        },
    ),
    entry_record(
        "exile-lawyers",
        **{
            "name.en": "Exile Lawyers",
            "name.ru": "Юристы в изгнании",
            "summary.en": "Consultations on residence permits; occasionally also defends political activists.",
            "summary.ru": "Консультации по ВНЖ; иногда защищает политических активистов и заключённых.",
            "topics": ["legal-aid", "visas-residence"],
        },
    ),
    entry_record(
        "news-outlet",
        kind="media",
        **{
            "name.en": "Riga Exile News",
            "name.ru": "Рижские новости изгнания",
            "summary.en": "Daily news about Russia, the war and prisons.",
            "summary.ru": "Ежедневные новости о России, войне и тюрьмах.",
            "host_countries": ["LV"],
            "topics": ["journalism"],
        },
    ),
]


@pytest.fixture
def indexed(store: Store) -> Store:
    with store.session() as session:
        for record in RECORDS:
            entries.add_entry(session, record, ME)
    return store


def slugs(store: Store, query: str) -> list[str]:
    with store.session() as session:
        return [entry.slug for entry, _ in entries.search_entries(session, query)]


def test_english_morphology_and_ranking(indexed: Store) -> None:
    found = slugs(indexed, "political prisoners")
    assert found[0] == "prisoner-letters"
    assert "news-outlet" not in found  # "prisons" alone is not "political prisoners"
    assert slugs(indexed, "prisoner letter")[0] == "prisoner-letters"


@pytest.mark.parametrize("query", ["политзаключённым", "политзаключенных", "Политзаключённые", "политзаключёнными"])
def test_russian_case_forms_and_yo_find_the_same_entries(indexed: Store, query: str) -> None:
    assert slugs(indexed, query) == ["prisoner-letters"]


def test_country_names_in_both_languages_are_searchable(indexed: Store) -> None:
    assert slugs(indexed, "Latvia") == ["news-outlet"]
    assert slugs(indexed, "Латвии") == ["news-outlet"]


def test_index_follows_edits(indexed: Store) -> None:
    with indexed.session() as session:
        entries.edit_entry(session, "news-outlet", {"summary.en": "Daily reports on mobilisation."}, ME)
    assert slugs(indexed, "mobilisation") == ["news-outlet"]
    assert slugs(indexed, "daily war") == []


def test_empty_and_stopword_queries(indexed: Store) -> None:
    assert slugs(indexed, "") == []
    assert slugs(indexed, "!!!") == []
    assert slugs(indexed, "the political prisoners")[0] == "prisoner-letters"


def test_stems_pick_the_stemmer_by_script() -> None:
    assert search.stems("Политзаключённым prisoners") == ["политзаключен", "prison"]
    assert search.stems("and the", keep_stopwords=False) == []
