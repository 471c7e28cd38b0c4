"""The curated seed data in data/entries/: enough, real-shaped, honest about what is unchecked."""

from __future__ import annotations

from collections import Counter

import pytest

from directory import entries, imports
from directory.taxonomy import AUTHORITIES, DESIGNATION_KINDS, KINDS, PROGRAM_STATES, STATUSES, TOPICS
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
    assert len(records) >= 200
    assert kinds["media"] >= 60 and kinds["ngo"] >= 80 and kinds["program"] >= 50
    assert len({code for r in records for code in r["host_countries"]}) >= 30


def test_every_entry_says_where_its_facts_come_from(records: list[dict]) -> None:
    """A source for every entry (the importer refuses copies, IP addresses and unsourced verification)."""
    assert [r["slug"] for r in records if not r["source"]] == []
    for r in records:
        for item in (*r["designations"], *r["warnings"]):
            assert item["source"] and item["date"], r["slug"]


def test_every_program_is_complete_or_says_since_when_its_state_is_unknown(records: list[dict]) -> None:
    """Five facts a person acts on: who qualifies, the official page, how to apply, the state and since when.
    A state that cannot be confirmed is `unknown`, with when it was last confirmed and what is known."""
    incomplete = []
    for r in records:
        if r["kind"] != "program":
            continue
        if r["program.state"] == "unknown":
            if not (r["program.state_since"] and r["program.state_note.en"] and r["program.state_note.ru"]):
                incomplete.append(r["slug"])
            continue
        needed = ("program.state_since", "program.official_url", "program.eligibility.en", "program.eligibility.ru",
                  "program.application_route.en", "program.application_route.ru")  # fmt: skip
        if not all(r[key] for key in needed):
            incomplete.append(r["slug"])
    assert incomplete == []


def test_the_well_known_names_are_present(records: list[dict]) -> None:
    names = " | ".join(f"{r['name.en']} {r['name.ru']}" for r in records).lower()
    for name in ("nexta", "pozirk", "volna", "provereno", "vesna", "dekabristen", "quarteera", "front line defenders",
                 "scholars at risk", "pause", "hilde domin", "belarusian association of journalists"):  # fmt: skip
        assert name in names, name


def test_designated_organizations_say_so(records: list[dict]) -> None:
    designated = {r["slug"] for r in records if r["designations"]}
    assert {"meduza", "fbk", "ovd-info", "nexta", "vesna"} <= designated
    assert all(r["kind"] != "program" for r in records if r["designations"])


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
    for kind in DESIGNATION_KINDS:
        assert f"| `{kind.slug}` | {kind.en} | {kind.ru} |" in doc
    for authority in AUTHORITIES:
        assert f"| `{authority.slug}` | {authority.country or '—'} | {authority.en} | {authority.ru} |" in doc
