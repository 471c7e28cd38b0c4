"""The curated seed data in data/entries/: enough, real-shaped, honest about what is unchecked."""

from __future__ import annotations

from collections import Counter

import pytest

from directory import entries, imports
from directory.taxonomy import KINDS, PROGRAM_STATES, STATUSES, TOPICS
from tests.conftest import REPO

FILES = sorted((REPO / "data" / "entries").glob("*.yaml"))


@pytest.fixture(scope="module")
def records() -> list[dict]:
    sources = imports.read_sources(FILES)
    blank = entries.blank_record()
    return [entries.merged_record(blank, source.data) for source in sources]


def test_one_file_per_entry_named_by_slug(records: list[dict]) -> None:
    assert sorted(f.stem for f in FILES) == sorted(r["slug"] for r in records)


def test_coverage(records: list[dict]) -> None:
    kinds = Counter(r["kind"] for r in records)
    assert kinds["media"] >= 25 and kinds["ngo"] >= 25 and kinds["program"] >= 20
    program_countries = {r["host_countries"][0] for r in records if r["kind"] == "program"}
    assert len(program_countries) >= 12


def test_every_entry_is_bilingual_and_either_verified_or_says_it_is_not(records: list[dict]) -> None:
    for r in records:
        assert r["summary.en"] != r["summary.ru"], r["slug"]
        assert r["languages"] and r["topics"], r["slug"]
        if r["verified_at"] is None:
            assert r["status_note"], f"{r['slug']}: unverified entries must say so in status_note"
        else:
            assert r["verified_by"], r["slug"]


def test_no_entry_presents_a_website_it_does_not_have(records: list[dict]) -> None:
    hosts = Counter(r["website"] for r in records if r["website"])
    assert [url for url, n in hosts.items() if n > 1] == []
    assert not any(r["website"] and "paperpaper.ru" in r["website"] for r in records)


def test_taxonomy_doc_matches_the_code() -> None:
    doc = (REPO / "docs" / "taxonomy.md").read_text(encoding="utf-8")
    for topic in TOPICS:
        assert f"| `{topic.slug}` | {topic.en} | {topic.ru} | {topic.scope} |" in doc
    for term in (*KINDS, *STATUSES, *PROGRAM_STATES):
        assert f"`{term}`" in doc
