"""The HSDS 3.0 export: the spec's columns, required fields, ids, links and statuses, and the files.

Column lists, required fields and enums are copied here from the Open Referral HSDS 3.0 schemas
(`schema/*.json`, "required" plus "tabular_required"), not read from `directory.hsds`, so a change to
the module that drifts from the spec fails here.
"""

from __future__ import annotations

import csv
import json
import random
import uuid
from pathlib import Path
from typing import Any

import pytest

from directory.fields import FIELD_BY_KEY, KEYS
from directory.hsds import hsds_tables, write_hsds
from directory.taxonomy import TOPICS

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
        ("program", "active", "unknown", "active"),
        ("program", "closed", "open", "defunct"),
        ("program", "inactive", "paused", "inactive"),
    ],
)
def test_status_mapping(kind: str, status: str, state: str | None, expected: str) -> None:
    record = make_record("x", kind=kind, status=status, **{"program.state": state})
    assert hsds_tables([record])["service"][0]["status"] == expected


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


def test_status_note_becomes_the_alert() -> None:
    service = service_of(hsds_tables(sample_records()), "ovd-info (en)")
    assert service["status"] == "inactive"
    assert service["alert"] == "Website address not confirmed in public material."


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
