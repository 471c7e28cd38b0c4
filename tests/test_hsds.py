"""The HSDS 3.0 export: the spec's columns, required fields, ids, links and statuses, both forms, both languages.

Column lists, required fields and enums are copied here from the Open Referral HSDS 3.0 schemas
(`schema/*.json`, "required" plus "tabular_required"), not read from `directory.hsds`, so a change to
the module that drifts from the spec fails here. What a consumer checks is checked with the spec's own
files (see tests/fixtures/hsds/README.md): the tables with Frictionless against the shipped
`datapackage.json` (whose resources must be the spec's), the JSON form with jsonschema against the
spec's compiled `organization.json`; and for both, that a bad value is refused.
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import json
import lzma
import os
import random
import re
import uuid
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from directory.fields import FIELD_BY_KEY, KEYS
from directory.hsds import OFFICIAL_DESCRIPTOR, hsds_json, hsds_organizations, hsds_tables, write_hsds
from directory.taxonomy import PROGRAM_STATES, TOPICS
from tests.conftest import REPO, Cli

FIXTURES = REPO / "tests" / "fixtures" / "hsds"
# Git blob ids of the spec's files at openreferral/specification@279fd2eb (the 3.0 branch, HSDS 3.0.0):
# `git hash-object` of a vendored copy must give the same id, so the copy is the spec's, byte for byte.
OFFICIAL_BLOBS = {
    "datapackage.json": "ae9bed0e578fc15f389eb90a426047b37fe43702",
    "schema/compiled/organization.json": "ace7bbf4153c7998151e7ef06976191a6db52452",
}

EXPECTED_COLUMNS: dict[str, list[str]] = {
    "organization": [
        "id", "name", "alternate_name", "description", "email", "website", "tax_status", "tax_id",
        "year_incorporated", "legal_status", "logo", "uri", "parent_organization_id",
    ],
    "program": ["id", "organization_id", "name", "alternate_name", "description"],
    "service": [
        "id", "organization_id", "program_id", "name", "alternate_name", "description", "url", "email",
        "status", "interpretation_services", "application_process", "fees_description", "wait_time",
        "fees", "accreditations", "eligibility_description", "minimum_age", "maximum_age",
        "assured_date", "assurer_email", "licenses", "alert", "last_modified",
    ],
    "attribute": ["id", "link_id", "taxonomy_term_id", "link_type", "link_entity", "value"],
    "service_at_location": ["id", "service_id", "location_id", "description"],
    "location": [
        "id", "location_type", "url", "organization_id", "name", "alternate_name", "description",
        "transportation", "latitude", "longitude", "external_identifier", "external_identifier_type",
    ],
    "service_area": ["id", "service_id", "name", "description", "extent", "extent_type", "uri"],
    "language": ["id", "service_id", "location_id", "phone_id", "name", "code", "note"],
    "taxonomy_term": [
        "id", "code", "name", "description", "parent_id", "taxonomy", "language", "taxonomy_id", "term_uri",
    ],
    "taxonomy": ["id", "name", "description", "uri", "version"],
}  # fmt: skip

EXPECTED_PATHS = {
    "organization": "organizations.csv",
    "program": "programs.csv",
    "service": "services.csv",
    "attribute": "attributes.csv",
    "service_at_location": "service_at_location.csv",
    "location": "locations.csv",
    "service_area": "service_areas.csv",
    "language": "languages.csv",
    "taxonomy_term": "taxonomy_terms.csv",
    "taxonomy": "taxonomies.csv",
}

REQUIRED: dict[str, list[str]] = {
    "organization": ["id", "name", "description"],
    "program": ["id", "name", "description", "organization_id"],
    "service": ["id", "name", "status", "organization_id"],
    "attribute": ["id", "link_id", "taxonomy_term_id", "link_entity"],
    "service_at_location": ["id", "service_id", "location_id"],
    "location": ["id", "location_type"],
    "service_area": ["id"],
    "language": ["id"],
    "taxonomy_term": ["id", "name", "description"],
    "taxonomy": ["id", "name", "description"],
}

# (table, column) -> table whose `id` it must name, when filled.
FOREIGN_KEYS: dict[tuple[str, str], str] = {
    ("organization", "parent_organization_id"): "organization",
    ("program", "organization_id"): "organization",
    ("service", "organization_id"): "organization",
    ("service", "program_id"): "program",
    ("attribute", "taxonomy_term_id"): "taxonomy_term",
    ("service_at_location", "service_id"): "service",
    ("service_at_location", "location_id"): "location",
    ("location", "organization_id"): "organization",
    ("service_area", "service_id"): "service",
    ("language", "service_id"): "service",
    ("language", "location_id"): "location",
    ("taxonomy_term", "taxonomy_id"): "taxonomy",
    ("taxonomy_term", "parent_id"): "taxonomy_term",
}

SERVICE_STATUSES = {"active", "inactive", "defunct", "temporarily closed"}
LOCATION_TYPES = {"physical", "postal", "virtual"}


def make_record(slug: str, kind: str = "ngo", **values: Any) -> dict[str, Any]:
    """A full flat record (every key of `directory.fields`), as `entries.to_record` returns it.

    Dotted keys go through `**{"program.state": ...}`; anything not given is empty.
    """
    record: dict[str, Any] = {key: [] if FIELD_BY_KEY[key].many else None for key in KEYS}
    record.update(
        {
            "slug": slug,
            "kind": kind,
            "name.en": f"{slug} (en)",
            "name.ru": f"{slug} (ru)",
            "summary.en": f"What {slug} does.",
            "summary.ru": f"Что делает {slug}.",
            "status": "active",
        }
    )
    record.update(values)
    return record


def sample_records() -> list[dict[str, Any]]:
    return [
        make_record(
            "meduza",
            kind="media",
            website="https://meduza.io",
            feeds=["https://meduza.io/rss/all"],
            host_countries=["LV"],
            countries_served=["RU", "BY"],
            languages=["ru", "en"],
            topics=["journalism", "anti-war"],
            verified_at="2026-11-23T10:00:00+00:00",
            source="https://meduza.io/en/about",
            **{"contacts.email": "info@meduza.io", "contacts.telegram": "https://t.me/meduzalive"},
        ),
        make_record(
            "ovd-info",
            website="https://ovd.info",
            host_countries=["DE", "GE"],
            languages=["ru"],
            topics=["legal-aid", "political-prisoners", "human-rights"],
            status="inactive",
            status_note="Website address not confirmed in public material.",
        ),
        make_record(
            "de-humanitarian-visa",
            kind="program",
            host_countries=["DE"],
            countries_served=["RU"],
            languages=["de", "en"],
            topics=["visas-residence"],
            **{
                "program.state": "paused",
                "program.state_since": "2025-08-01",
                "program.official_url": "https://example.de/visa",
                "program.eligibility.en": "Individually endangered people.",
                "program.eligibility.ru": "Люди в личной опасности.",
                "program.application_route.en": "Through a sponsoring organization.",
                "program.application_route.ru": "Через поручившуюся организацию.",
            },
        ),
        make_record("quiet-ngo", website=None),
    ]


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in rows}


def service_of(tables: dict[str, list[dict[str, Any]]], name: str) -> dict[str, Any]:
    return next(row for row in tables["service"] if row["name"] == name)


# --------------------------------------------------------------------------- shape


def test_tables_and_columns_match_the_spec() -> None:
    tables = hsds_tables(sample_records())

    assert set(tables) == set(EXPECTED_COLUMNS)
    for name, rows in tables.items():
        assert rows, f"{name} should have rows for the sample"
        for row in rows:
            assert list(row) == EXPECTED_COLUMNS[name], name


def test_required_fields_are_filled() -> None:
    for language in ("en", "ru"):
        tables = hsds_tables(sample_records(), language=language)
        for name, rows in tables.items():
            for row in rows:
                missing = [column for column in REQUIRED[name] if row[column] in (None, "")]
                assert not missing, f"{name} row {row['id']} lacks {missing}"


def test_ids_are_unique_uuids_and_stable() -> None:
    records = sample_records()
    first = hsds_tables(records)
    shuffled = list(reversed(records))
    random.Random(7).shuffle(shuffled)

    assert hsds_tables(records) == first
    assert hsds_tables(shuffled) == first  # input order does not matter
    for name, rows in first.items():
        ids = [row["id"] for row in rows]
        assert len(ids) == len(set(ids)), f"duplicate ids in {name}"
        for value in ids:
            assert str(uuid.UUID(value)) == value
    # Ids name the same things whatever the language.
    russian = hsds_tables(records, language="ru")
    assert {n: [r["id"] for r in rows] for n, rows in russian.items()} == {
        n: [r["id"] for r in rows] for n, rows in first.items()
    }


def test_ids_do_not_depend_on_other_entries() -> None:
    alone = hsds_tables([make_record("meduza")])
    together = hsds_tables([make_record("meduza"), make_record("another")])
    assert alone["organization"][0]["id"] in by_id(together["organization"])


def test_every_foreign_key_points_at_an_existing_row() -> None:
    tables = hsds_tables(sample_records())
    ids = {name: set(by_id(rows)) for name, rows in tables.items()}

    for (table, column), target in FOREIGN_KEYS.items():
        for row in tables[table]:
            if row[column] not in (None, ""):
                assert row[column] in ids[target], f"{table}.{column} -> missing {target} {row[column]}"
    # Attributes link services (their link_entity says which table link_id is in).
    for row in tables["attribute"]:
        assert row["link_id"] in ids[row["link_entity"]]
    # Every service belongs to an organization and every organization offers a service.
    assert {row["organization_id"] for row in tables["service"]} == ids["organization"]


def test_duplicate_slugs_and_unknown_languages_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate slug"):
        hsds_tables([make_record("same"), make_record("same")])
    with pytest.raises(ValueError, match="language"):
        hsds_tables([make_record("x")], language="de")


# --------------------------------------------------------------------------- mapping


def test_organization_and_service_fields() -> None:
    tables = hsds_tables(sample_records())
    organization = next(row for row in tables["organization"] if row["name"] == "meduza (en)")
    service = service_of(tables, "meduza (en)")

    assert organization["alternate_name"] == "meduza (ru)"
    assert organization["description"] == "What meduza does."
    assert organization["website"] == "https://meduza.io"
    assert organization["email"] == "info@meduza.io"
    assert service["organization_id"] == organization["id"]
    assert service["url"] == "https://meduza.io"
    assert service["email"] == "info@meduza.io"
    assert service["status"] == "active"
    assert service["assured_date"] == "2026-11-23"
    assert service["program_id"] is None


def test_statuses_are_in_the_spec_enum() -> None:
    tables = hsds_tables(sample_records())
    assert {row["status"] for row in tables["service"]} <= SERVICE_STATUSES
    assert {row["location_type"] for row in tables["location"]} <= LOCATION_TYPES


@pytest.mark.parametrize(
    ("kind", "status", "state", "expected"),
    [
        ("ngo", "active", None, "active"),
        ("media", "inactive", None, "inactive"),
        ("ngo", "closed", None, "defunct"),
        ("program", "active", "open", "active"),
        ("program", "active", "paused", "temporarily closed"),
        ("program", "active", "closed", "defunct"),
        # A program nobody could confirm must never read as open; HSDS has no "unknown".
        ("program", "active", "unknown", "inactive"),
        ("program", "closed", "open", "defunct"),
        ("program", "closed", "unknown", "defunct"),
        ("program", "inactive", "open", "inactive"),
        ("program", "inactive", "paused", "inactive"),
        ("program", "inactive", "unknown", "inactive"),
    ],
)
def test_status_mapping(kind: str, status: str, state: str | None, expected: str) -> None:
    record = make_record("x", kind=kind, status=status, **{"program.state": state})
    assert hsds_tables([record])["service"][0]["status"] == expected


def test_every_status_and_state_maps_into_the_spec_enum() -> None:
    for status in ("active", "inactive", "closed"):
        assert service_status_of(make_record("x", status=status)) in SERVICE_STATUSES
        for state in PROGRAM_STATES:
            record = make_record("x", kind="program", status=status, **{"program.state": state})
            assert service_status_of(record) in SERVICE_STATUSES
            assert (state == "open" and status == "active") or service_status_of(record) != "active"


def service_status_of(record: dict[str, Any]) -> str:
    status: str = hsds_tables([record])["service"][0]["status"]
    return status


@pytest.mark.parametrize(
    ("state", "since", "en", "ru"),
    [
        (
            "paused",
            "2025-08-01",
            "This program has been paused since 2025-08-01. Admissions halted. Check with the authorities before "
            "you rely on it.",
            "Программа приостановлена с 2025-08-01. Приём остановлен. Прежде чем на это рассчитывать, уточните у "
            "властей страны.",
        ),
        (
            "closed",
            "2025",
            "This program has been closed since 2025. Admissions halted. Check with the authorities before you "
            "rely on it.",
            "Программа закрыта с 2025. Приём остановлен. Прежде чем на это рассчитывать, уточните у властей страны.",
        ),
        (
            "unknown",
            "2025-03",
            "This program's current state is unknown (last confirmed 2025-03). Admissions halted. Check with the "
            "authorities before you rely on it.",
            "Текущее состояние программы неизвестно (последнее подтверждение: 2025-03). Приём остановлен. Прежде "
            "чем на это рассчитывать, уточните у властей страны.",
        ),
        ("unknown", None, "This program's current state is unknown. Admissions halted. Check with the authorities "
         "before you rely on it.", "Текущее состояние программы неизвестно. Приём остановлен. Прежде чем на это "
         "рассчитывать, уточните у властей страны."),
        ("open", "2026-01", "Admissions halted.", "Приём остановлен."),
    ],
)  # fmt: skip
def test_program_state_leads_the_alert_and_is_kept_as_an_attribute(
    state: str, since: str | None, en: str, ru: str
) -> None:
    warning = {"en": "Careful.", "ru": "Осторожно.", "date": "2024", "source": "https://example.org/y"}
    record = make_record(
        "visa",
        kind="program",
        warnings=[warning],
        **{
            "program.state": state,
            "program.state_since": since,
            "program.state_note.en": "Admissions halted.",
            "program.state_note.ru": "Приём остановлен.",
        },
    )
    for language, text, careful in (("en", en, "Careful. (2024)"), ("ru", ru, "Осторожно. (2024)")):
        tables = hsds_tables([record], language=language)
        [service] = tables["service"]
        assert service["alert"] == f"{text}\n{careful}"
        [taxonomy] = [row for row in tables["taxonomy"] if row["name"] == "nansen-program-states"]
        terms = {row["id"]: row for row in tables["taxonomy_term"] if row["taxonomy_id"] == taxonomy["id"]}
        assert [row["code"] for row in terms.values()] == list(PROGRAM_STATES)
        [attribute] = [row for row in tables["attribute"] if row["taxonomy_term_id"] in terms]
        assert (attribute["link_entity"], attribute["link_id"]) == ("service", service["id"])
        assert (terms[attribute["taxonomy_term_id"]]["code"], attribute["value"]) == (state, since)


def test_only_programs_have_a_state_attribute() -> None:
    tables = hsds_tables([make_record("x", **{"program.state": "paused"})])
    assert tables["service"][0]["status"] == "active"  # a stray program field on an NGO means nothing
    assert tables["attribute"] == []


def test_paused_program_is_temporarily_closed_and_delivered_under_a_program() -> None:
    tables = hsds_tables(sample_records())
    service = service_of(tables, "de-humanitarian-visa (en)")
    [program] = tables["program"]

    assert service["status"] == "temporarily closed"
    assert service["program_id"] == program["id"]
    assert program["organization_id"] == service["organization_id"]
    assert service["url"] == "https://example.de/visa"
    assert service["eligibility_description"] == "Individually endangered people."
    assert service["application_process"] == "Through a sponsoring organization."
    assert service["alert"] == (
        "This program has been paused since 2025-08-01. Check with the authorities before you rely on it."
    )


def test_status_and_status_note_make_the_alert() -> None:
    english = service_of(hsds_tables(sample_records()), "ovd-info (en)")
    russian = service_of(hsds_tables(sample_records(), language="ru"), "ovd-info (ru)")
    assert english["status"] == russian["status"] == "inactive"
    assert english["alert"] == (
        "This organization may no longer be working: it has not answered for some time.\n"
        "Website address not confirmed in public material."
    )
    # The maintainers' note is English only: the Russian alert says there is one, in Russian.
    assert russian["alert"] == (
        "Возможно, организация больше не работает: она давно не выходит на связь.\n"
        "К записи есть примечание редакции на английском языке — см. выгрузку на английском."
    )
    closed = hsds_tables([make_record("x", status="closed")], language="ru")["service"][0]
    assert (closed["status"], closed["alert"]) == ("defunct", "Организация прекратила работу.")
    assert service_of(hsds_tables(sample_records()), "meduza (en)")["alert"] is None


def test_locations_areas_and_languages() -> None:
    tables = hsds_tables(sample_records())
    service = service_of(tables, "ovd-info (en)")
    linked = {row["location_id"] for row in tables["service_at_location"] if row["service_id"] == service["id"]}
    locations = [row for row in tables["location"] if row["id"] in linked]

    physical = sorted(row["external_identifier"] for row in locations if row["location_type"] == "physical")
    assert physical == ["DE", "GE"]
    assert {row["name"] for row in locations if row["location_type"] == "physical"} == {"Germany", "Georgia"}
    [virtual] = [row for row in locations if row["location_type"] == "virtual"]
    assert virtual["url"] == "https://ovd.info"

    meduza = service_of(tables, "meduza (en)")
    areas = [row for row in tables["service_area"] if row["service_id"] == meduza["id"]]
    assert sorted(row["uri"].rsplit(":", 1)[1] for row in areas) == ["BY", "RU"]
    assert not [row for row in tables["service_area"] if row["service_id"] == service["id"]]  # serves anyone
    codes = sorted(row["code"] for row in tables["language"] if row["service_id"] == meduza["id"])
    assert codes == ["en", "ru"]


def test_an_entry_without_web_address_has_no_virtual_location() -> None:
    tables = hsds_tables([make_record("quiet-ngo")])
    assert tables["location"] == []
    assert tables["service_at_location"] == []


def test_topics_become_attributes_of_the_service() -> None:
    tables = hsds_tables(sample_records())
    [taxonomy] = [row for row in tables["taxonomy"] if row["name"] == "nansen-topics"]
    terms = {key: row for key, row in by_id(tables["taxonomy_term"]).items() if row["taxonomy"] == "nansen-topics"}
    service = service_of(tables, "ovd-info (en)")

    assert [row["code"] for row in terms.values()] == [topic.slug for topic in TOPICS]
    assert all(row["taxonomy_id"] == taxonomy["id"] for row in terms.values())
    linked = sorted(
        terms[row["taxonomy_term_id"]]["code"] for row in tables["attribute"] if row["link_id"] == service["id"]
    )
    assert linked == ["human-rights", "legal-aid", "political-prisoners"]
    assert {row["link_entity"] for row in tables["attribute"] if row["taxonomy_term_id"] in terms} == {"service"}


def test_designations_become_dated_sourced_attributes_of_the_organization() -> None:
    designation = {
        "authority": "ru-prosecutor-general",
        "kind": "undesirable",
        "date": "2023-01",
        "source": "https://meduza.io/en/news/x",
    }
    warning = {"en": "Careful.", "ru": "Осторожно.", "date": "2024", "source": "https://meduza.io/en/news/y"}
    records = [make_record("meduza", kind="media", designations=[designation], warnings=[warning])]
    for language, text in (("en", "Careful. (2024)"), ("ru", "Осторожно. (2024)")):
        tables = hsds_tables(records, language=language)
        [organization] = tables["organization"]
        [term] = [t for t in tables["taxonomy_term"] if t["code"] == "undesirable"]
        [attribute] = [a for a in tables["attribute"] if a["taxonomy_term_id"] == term["id"]]
        assert (attribute["link_entity"], attribute["link_id"]) == ("organization", organization["id"])
        assert json.loads(attribute["value"]) == {
            "authority": "ru-prosecutor-general",
            "authority_name": {"en": "Prosecutor General's Office of Russia", "ru": "Генеральная прокуратура России"}[
                language
            ],
            "date": "2023-01",
            "lifted": None,
            "source": "https://meduza.io/en/news/x",
        }
        assert term["name"] == {"en": "undesirable organization", "ru": "нежелательная организация"}[language]
        assert tables["service"][0]["alert"].startswith(text)


def test_russian_export_uses_russian_texts() -> None:
    tables = hsds_tables(sample_records(), language="ru")
    organization = next(row for row in tables["organization"] if row["name"] == "meduza (ru)")
    service = service_of(tables, "de-humanitarian-visa (ru)")
    germany = next(row for row in tables["location"] if row["external_identifier"] == "DE")

    assert organization["alternate_name"] == "meduza (en)"
    assert organization["description"] == "Что делает meduza."
    assert service["description"] == "Что делает de-humanitarian-visa."
    assert service["eligibility_description"] == "Люди в личной опасности."
    assert service["application_process"] == "Через поручившуюся организацию."
    assert germany["name"] == "Германия"
    legal_aid = next(row for row in tables["taxonomy_term"] if row["code"] == "legal-aid")
    assert (legal_aid["name"], legal_aid["language"]) == ("Юридическая помощь", "ru")


# --------------------------------------------------------------------------- files


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def test_write_hsds_writes_csvs_and_a_datapackage(tmp_path: Path) -> None:
    records = sample_records()
    paths = write_hsds(records, tmp_path)
    tables = hsds_tables(records)

    assert sorted(path.name for path in paths) == sorted([*EXPECTED_PATHS.values(), "datapackage.json"])
    for name, filename in EXPECTED_PATHS.items():
        header, rows = read_csv(tmp_path / filename)
        assert header == EXPECTED_COLUMNS[name]
        assert len(rows) == len(tables[name])
        assert [row["id"] for row in rows] == [row["id"] for row in tables[name]]

    package = json.loads((tmp_path / "datapackage.json").read_text(encoding="utf-8"))
    resources = {resource["name"]: resource for resource in package["resources"]}
    assert {name: resource["path"] for name, resource in resources.items()} == EXPECTED_PATHS
    for name, resource in resources.items():
        assert (tmp_path / resource["path"]).is_file()
        assert [f["name"] for f in resource["schema"]["fields"]] == EXPECTED_COLUMNS[name]
        assert resource["schema"]["primaryKey"] == "id"
        required = [f["name"] for f in resource["schema"]["fields"] if f.get("constraints", {}).get("required")]
        assert sorted(required) == sorted(REQUIRED[name])


def test_csv_round_trips_text(tmp_path: Path) -> None:
    record = make_record(
        "tricky", **{"name.en": 'Comma, "quotes"', "summary.en": "Line one\nline two", "name.ru": "Кириллица"}
    )
    write_hsds([record], tmp_path)
    _, [row] = read_csv(tmp_path / "organizations.csv")
    assert (row["name"], row["description"], row["alternate_name"]) == (
        'Comma, "quotes"',
        "Line one\nline two",
        "Кириллица",
    )
    assert row["tax_id"] == ""  # missing values are empty cells


def test_two_exports_are_byte_identical(tmp_path: Path) -> None:
    records = sample_records()
    first = write_hsds(records, tmp_path / "a")
    second = write_hsds(list(reversed(records)), tmp_path / "b")
    assert [path.name for path in first] == [path.name for path in second]
    for one, two in zip(first, second, strict=True):
        assert one.read_bytes() == two.read_bytes(), one.name


# --------------------------------------------------------------------------- the spec's own checks


def require(name: str) -> ModuleType:
    """A validator these tests need: skipped without it locally, a failure under CI=true, where it must run."""
    try:
        return importlib.import_module(name)
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {name} is not installed: the HSDS export must be checked with it")
        pytest.skip(f"{name} is not installed")


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@cache
def official_datapackage() -> dict[str, Any]:
    descriptor: dict[str, Any] = json.loads((REPO / "directory" / OFFICIAL_DESCRIPTOR).read_text(encoding="utf-8"))
    return descriptor


@cache
def compiled_organization_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(lzma.decompress((FIXTURES / "organization.json.xz").read_bytes()))
    return schema


def organization_errors(organization: Any) -> list[str]:
    """What the spec's compiled `organization.json` finds wrong, formats (uuid, uri, email) included."""
    jsonschema = require("jsonschema")
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    # Without rfc3986-validator jsonschema would pass any string as a "uri": refuse to check less.
    assert {"uuid", "uri", "email"} <= set(checker.checkers), "install jsonschema with its format extras"
    validator = jsonschema.Draft202012Validator(compiled_organization_schema(), format_checker=checker)
    return [f"{error.json_path}: {error.message}" for error in validator.iter_errors(organization)]


def frictionless_errors(folder: Path) -> list[tuple[str | None, str | None, str]]:
    """(resource, field, error type) for everything Frictionless finds wrong in the package in `folder`."""
    frictionless = require("frictionless")
    report = frictionless.validate(str(folder / "datapackage.json"))
    found = [(None, None, error.type) for error in report.errors]
    found += [
        (task.name, getattr(error, "field_name", None), error.type) for task in report.tasks for error in task.errors
    ]
    return found


def test_the_vendored_files_are_the_spec_s_own() -> None:
    assert git_blob_id((REPO / "directory" / OFFICIAL_DESCRIPTOR).read_bytes()) == OFFICIAL_BLOBS["datapackage.json"]
    compiled = lzma.decompress((FIXTURES / "organization.json.xz").read_bytes())
    assert git_blob_id(compiled) == OFFICIAL_BLOBS["schema/compiled/organization.json"]


def test_the_shipped_datapackage_carries_the_spec_s_constraints(tmp_path: Path) -> None:
    write_hsds(sample_records(), tmp_path)
    shipped = json.loads((tmp_path / "datapackage.json").read_text(encoding="utf-8"))
    official = {resource["name"]: resource for resource in official_datapackage()["resources"]}
    exported = {resource["name"] for resource in shipped["resources"]}

    assert [resource["name"] for resource in shipped["resources"]] == [
        name for name in official if name in EXPECTED_COLUMNS
    ]
    dropped = []
    for resource in shipped["resources"]:
        # Every field, type, format and constraint is the spec's; only references to unwritten tables go.
        expected = json.loads(json.dumps(official[resource["name"]]))
        keys = expected["schema"].get("foreignKeys", [])
        dropped += [(resource["name"], k["fields"]) for k in keys if k["reference"]["resource"] not in exported]
        if keys:
            expected["schema"]["foreignKeys"] = [k for k in keys if k["reference"]["resource"] in exported]
        assert resource == expected
    assert dropped == [("language", "phone_id")]
    fields = {(r["name"], f["name"]): f for r in shipped["resources"] for f in r["schema"]["fields"]}
    # What a consumer validating with the descriptor relies on, by name (the list).
    assert fields["service", "status"]["constraints"]["enum"] == ["active", "inactive", "defunct", "temporarily closed"]
    assert set(fields["location", "location_type"]["constraints"]["enum"]) == LOCATION_TYPES
    assert fields["taxonomy_term", "code"]["constraints"]["unique"] is True
    uuids = {key for key, field in fields.items() if field.get("format") == "uuid"}
    assert uuids == {key for key in fields if key[1] == "id" or key[1].endswith("_id")} - {("organization", "tax_id")}
    assert {key for key, field in fields.items() if field.get("format") == "uri"} == {
        ("organization", "website"), ("organization", "uri"), ("service", "url"), ("location", "url"),
        ("taxonomy_term", "term_uri"), ("taxonomy", "uri"),
    }  # fmt: skip
    assert {key for key, field in fields.items() if field.get("format") == "email"} == {
        ("organization", "email"), ("service", "email"), ("service", "assurer_email"),
    }  # fmt: skip
    for (table, column), field in fields.items():
        assert field["constraints"]["required"] == (column in REQUIRED[table]), (table, column)


@pytest.mark.parametrize("language", ["en", "ru"])
def test_frictionless_finds_nothing_wrong_with_the_tables(tmp_path: Path, language: str) -> None:
    write_hsds(sample_records(), tmp_path, language=language)
    assert frictionless_errors(tmp_path) == []


def replace_cell(path: Path, row: int, column: str, value: str) -> None:
    header, rows = read_csv(path)
    rows[row][column] = value
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, header, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)


@pytest.mark.parametrize(
    ("table", "column", "value", "error"),
    [
        ("service", "status", "unknown", "constraint-error"),
        ("service", "status", "paused", "constraint-error"),
        ("location", "location_type", "online", "constraint-error"),
        ("organization", "parent_organization_id", "not-a-uuid", "type-error"),
        ("service", "url", "not a uri", "type-error"),
        ("organization", "email", "nobody", "type-error"),
        ("taxonomy_term", "code", "legal-aid", "unique-error"),
        ("service", "name", "", "constraint-error"),
    ],
)
def test_a_consumer_validating_with_the_shipped_datapackage_refuses_bad_values(
    tmp_path: Path, table: str, column: str, value: str, error: str
) -> None:
    write_hsds(sample_records(), tmp_path)
    replace_cell(tmp_path / EXPECTED_PATHS[table], 1, column, value)
    assert (table, column, error) in frictionless_errors(tmp_path)


# --------------------------------------------------------------------------- the JSON form


@pytest.mark.parametrize("language", ["en", "ru"])
def test_every_organization_is_valid_against_the_compiled_schema(language: str) -> None:
    organizations = json.loads(hsds_json(sample_records(), language=language))
    assert organizations == hsds_organizations(sample_records(), language=language)
    assert len(organizations) == len(sample_records())
    for organization in organizations:
        assert organization_errors(organization) == [], organization["name"]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("services", 0, "status"), "unknown"),
        (("services", 0, "id"), "not-a-uuid"),
        (("locations", 0, "location_type"), "online"),
        (("services", 0, "url"), "not a uri"),
        (("services", 0, "service_at_locations", 0, "location", "id"), "x"),
        (("services", 0, "attributes", 0, "taxonomy_term", "name"), None),
        (("services", 0, "alert"), None),
    ],
)
def test_the_compiled_schema_refuses_bad_values(path: tuple[str | int, ...], value: str | None) -> None:
    """The check above can fail: one bad value anywhere in an organization is found."""
    [organization] = hsds_organizations([sample_records()[1]])
    target: Any = organization
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value  # None is what a careless exporter writes for "no value"
    assert organization_errors(organization)


def test_json_nests_the_rows_of_the_tables() -> None:
    records = sample_records()
    tables = hsds_tables(records)
    organizations = hsds_organizations(records)

    def ids(objects: list[dict[str, Any]], *nested: str) -> list[str]:
        if not nested:
            return [item["id"] for item in objects]
        return [i for item in objects for i in ids(item[nested[0]], *nested[1:])]

    def without_nulls(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{key: value for key, value in row.items() if value is not None} for row in rows]

    assert ids(organizations) == [row["id"] for row in tables["organization"]]
    assert sorted(ids(organizations, "services")) == sorted(row["id"] for row in tables["service"])
    assert sorted(ids(organizations, "programs")) == sorted(row["id"] for row in tables["program"])
    assert sorted(ids(organizations, "locations")) == sorted(row["id"] for row in tables["location"])
    assert sorted(ids(organizations, "services", "service_at_locations")) == sorted(
        row["id"] for row in tables["service_at_location"]
    )
    assert sorted(ids(organizations, "services", "service_areas")) == sorted(
        row["id"] for row in tables["service_area"]
    )
    assert sorted(ids(organizations, "services", "languages")) == sorted(row["id"] for row in tables["language"])
    assert sorted(ids(organizations, "attributes") + ids(organizations, "services", "attributes")) == sorted(
        row["id"] for row in tables["attribute"]
    )
    terms = {row["id"]: row for row in without_nulls(tables["taxonomy_term"])}
    taxonomies = {row["id"]: row for row in without_nulls(tables["taxonomy"])}
    for organization in organizations:
        assert {key: value for key, value in organization.items() if not isinstance(value, list)} in without_nulls(
            tables["organization"]
        )
        for service in organization["services"]:
            assert service["organization_id"] == organization["id"]
            for link in service["service_at_locations"]:
                assert link["location"]["id"] == link["location_id"]
                assert link["location"] in organization["locations"]
        for attribute in organization["attributes"] + [a for s in organization["services"] for a in s["attributes"]]:
            term = attribute["taxonomy_term"]
            assert term["id"] == attribute["taxonomy_term_id"]
            assert {key: value for key, value in term.items() if key != "taxonomy_detail"} == terms[term["id"]]
            assert term["taxonomy_detail"] == taxonomies[term["taxonomy_id"]]
    [visa] = [o for o in organizations if o["name"] == "de-humanitarian-visa (en)"]
    assert visa["services"][0]["program_id"] == visa["programs"][0]["id"]
    assert visa["services"][0]["status"] == "temporarily closed"


def test_json_is_byte_identical_whatever_the_input_order() -> None:
    records = sample_records()
    shuffled = list(records)
    random.Random(3).shuffle(shuffled)
    first = hsds_json(records, language="ru")
    assert hsds_json(shuffled, language="ru") == first
    assert first.endswith("]\n") and "\\u" not in first  # UTF-8 text, not escapes


# --------------------------------------------------------------------------- Russian


LATIN_WORD = re.compile(r"\b[A-Za-z]*[a-z][A-Za-z]*\b")  # acronyms (HSDS) are not English text


def russian_records() -> list[dict[str, Any]]:
    """Entries whose Russian texts are Russian, touching every text the export writes."""
    from directory.taxonomy import AUTHORITIES

    designations = [
        {"authority": authority.slug, "kind": "other", "date": "2024", "source": "https://example.org/d"}
        for authority in AUTHORITIES
    ]
    warning = {"en": "Careful.", "ru": "Осторожно.", "date": "2024", "source": "https://example.org/w"}
    common = {"host_countries": ["DE"], "countries_served": ["RU", "BY"], "languages": ["ru", "be", "en"]}
    records = [
        make_record("org", designations=designations, warnings=[warning], topics=[t.slug for t in TOPICS], **common),
        make_record("gone", status="closed", status_note="Announced its closure.", website="https://gone.example"),
        make_record("quiet", status="inactive", status_note="Site does not answer."),
    ]
    records += [
        make_record(
            f"visa-{state}",
            kind="program",
            **common,
            **{
                "program.state": state,
                "program.state_since": "2025-07",
                "program.state_note.en": "Halted.",
                "program.state_note.ru": "Остановлена.",
                "program.eligibility.en": "People at risk.",
                "program.eligibility.ru": "Люди в опасности.",
                "program.application_route.en": "Online.",
                "program.application_route.ru": "Через сайт.",
                "program.official_url": "https://example.de/visa",
            },
        )
        for state in PROGRAM_STATES
    ]
    for record in records:
        record.update({"name.ru": "Организация", "summary.ru": "Что она делает."})
    return records


# Columns that hold text (not codes, addresses or the entry's name in the other language).
TEXT_COLUMNS = {
    "organization": ("name", "description"),
    "program": ("name", "description"),
    "service": ("name", "description", "application_process", "eligibility_description", "alert"),
    "service_area": ("name", "description"),
    "language": ("name", "note"),
    "taxonomy_term": ("name", "description"),
    "taxonomy": ("description",),
}


def test_the_russian_export_is_entirely_russian() -> None:
    tables = hsds_tables(russian_records(), language="ru")
    texts = [row[column] for table, columns in TEXT_COLUMNS.items() for row in tables[table] for column in columns]
    texts += [row["name"] for row in tables["location"] if row["location_type"] == "physical"]
    texts += [
        json.loads(row["value"])["authority_name"] for row in tables["attribute"] if (row["value"] or "")[:1] == "{"
    ]
    texts = [text for text in texts if text]

    assert len(texts) > 100
    assert [text for text in texts if LATIN_WORD.search(text)] == []
    assert {row["language"] for row in tables["taxonomy_term"]} == {"ru"}
    assert {row["status"] for row in tables["service"]} == set(SERVICE_STATUSES)
    # and the same records in English carry English texts in the same places
    english = hsds_tables(russian_records(), language="en")
    assert all(LATIN_WORD.search(row["description"]) for row in english["taxonomy_term"] + english["taxonomy"])


# --------------------------------------------------------------------------- the command, on a real database


def test_nansen_export_writes_both_forms_valid_in_both_languages(cli: Cli, tmp_path: Path) -> None:
    result = cli("import", str(REPO / "data"))
    assert result.exit_code == 0, result.output
    entries = json.loads(cli("entries", "list", "--format", "json").output)

    for language in ("en", "ru"):
        tabular = tmp_path / f"hsds-{language}"
        result = cli("export", "--format", "hsds", "--output", str(tabular), "--lang", language)
        assert result.exit_code == 0, result.output
        assert frictionless_errors(tabular) == []

        result = cli("export", "--format", "hsds-json", "--lang", language)
        assert result.exit_code == 0, result.output
        organizations = json.loads(result.stdout)
        assert len(organizations) == len(entries)
        for organization in organizations:
            assert organization_errors(organization) == [], organization["name"]
        services = [s for o in organizations for s in o["services"]]
        programs = {e["slug"]: e for e in entries if e["kind"] == "program"}
        unknown = [e for e in programs.values() if e["program"]["state"] == "unknown"]
        assert unknown, "the seed data has programs in state unknown"
        assert sum(1 for s in services if s.get("program_id") and s["status"] == "active") == sum(
            1 for e in programs.values() if e["program"]["state"] == "open" and e["status"] == "active"
        )

        document = tmp_path / f"hsds-{language}.json"
        result = cli("export", "--format", "hsds-json", "--lang", language, "--output", str(document))
        assert result.exit_code == 0, result.output
        assert result.output == f"wrote {len(entries)} organizations to {document}\n"
        assert document.read_text(encoding="utf-8") == cli("export", "--format", "hsds-json", "--lang", language).stdout

    result = cli("export", "--format", "hsds-json", "--output", str(tmp_path))
    assert result.exit_code == 2 and "name a file, not a folder" in result.output
