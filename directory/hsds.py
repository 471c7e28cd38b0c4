"""Export the directory as Open Referral HSDS 3.0 tabular data (a Frictionless data package of CSVs).

HSDS (the Human Services Data Specification) is what other resource directories import, so this is the
form in which Nansen's entries can be exchanged with them. The mapping, per entry:

* one `organization` (the entry itself) and one `service` (what it offers to the diaspora);
  a `program` entry also gets a `program` row, which its service is delivered under;
* one `location` per host country (`physical`, the country carried as an ISO 3166-1 external
  identifier) and one `virtual` location for its web address, each linked through `service_at_location`;
* `service_area` rows for the countries whose people it serves (none when it serves anyone);
* `language` rows for the languages it works in;
* its topics as `attribute` rows pointing at the `taxonomy_term`s of the `nansen-topics` `taxonomy`;
* its designations (a state's "foreign agent", "undesirable", "extremist"… label) as `attribute` rows
  of the organization pointing at the `nansen-designations` taxonomy, the attribute's `value` a JSON
  object `{"authority", "date", "lifted", "source"}`; its warnings lead the service's `alert`.

What HSDS 3.0 has no place for is left out rather than forced in: `address` rows need a street, city,
region and postal code that the directory does not record (so the host country lives on the
location), and feeds, the Telegram link and other contact links would need the `url` table, which
only arrived in HSDS 3.1.

Everything is a pure function of the records: ids are UUIDv5 of stable keys and rows come out in a
fixed order, so two exports of the same data are byte-identical and diff cleanly.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from directory.names import country_name, language_name
from directory.taxonomy import AUTHORITY_BY_SLUG, DESIGNATION_KINDS, TOPICS

HSDS_VERSION = "3.0"
LANGUAGES: tuple[str, ...] = ("en", "ru")
# Every id is uuid5(NAMESPACE, "<table>:<natural key>"). Never change this: it would re-key every row
# for everyone who has imported an earlier export.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://nansen.directory/hsds")

TOPIC_TAXONOMY = "nansen-topics"
DESIGNATION_TAXONOMY = "nansen-designations"
DESIGNATION_TERM_DESCRIPTION = {
    "en": "Labelled by a state as: {kind}.",
    "ru": "Статус, присвоенный государством: {kind}.",
}
DESIGNATION_TAXONOMY_DESCRIPTION = (
    "Labels the Russian and Belarusian states put on organizations (foreign agent, undesirable, extremist, "
    "terrorist…), which change what supporting them risks for a reader in those countries."
)
TOPIC_TAXONOMY_DESCRIPTION = (
    "The closed list of topics the Nansen directory files its entries under "
    "(organizations serving the political diaspora that left Russia and Belarus)."
)
COUNTRY_IDENTIFIER_TYPE = "ISO 3166-1 alpha-2"
ISO_3166_URI = "https://www.iso.org/obp/ui/#iso:code:3166:{code}"


# --------------------------------------------------------------------------- the HSDS 3.0 tables


@dataclass(frozen=True)
class Table:
    """One HSDS tabular resource: its columns in the spec's order and what the spec demands of them."""

    name: str
    path: str
    columns: tuple[str, ...]
    required: tuple[str, ...]
    # Columns that are not plain strings, as Frictionless table-schema types (HSDS `datapackage_type`).
    types: Mapping[str, str] = field(default_factory=dict)
    # column -> referenced table (always its `id`).
    foreign_keys: Mapping[str, str] = field(default_factory=dict)


# Tables, columns, file names and required fields as in HSDS 3.0 (`schema/*.json`; "required" plus
# "tabular_required"), in the order the spec's data package lists them.
TABLES: tuple[Table, ...] = (
    Table(
        "organization",
        "organizations.csv",
        (
            "id",
            "name",
            "alternate_name",
            "description",
            "email",
            "website",
            "tax_status",
            "tax_id",
            "year_incorporated",
            "legal_status",
            "logo",
            "uri",
            "parent_organization_id",
        ),
        required=("id", "name", "description"),
        types={"year_incorporated": "number"},
        foreign_keys={"parent_organization_id": "organization"},
    ),
    Table(
        "program",
        "programs.csv",
        ("id", "organization_id", "name", "alternate_name", "description"),
        required=("id", "organization_id", "name", "description"),
        foreign_keys={"organization_id": "organization"},
    ),
    Table(
        "service",
        "services.csv",
        (
            "id",
            "organization_id",
            "program_id",
            "name",
            "alternate_name",
            "description",
            "url",
            "email",
            "status",
            "interpretation_services",
            "application_process",
            "fees_description",
            "wait_time",
            "fees",
            "accreditations",
            "eligibility_description",
            "minimum_age",
            "maximum_age",
            "assured_date",
            "assurer_email",
            "licenses",
            "alert",
            "last_modified",
        ),
        required=("id", "organization_id", "name", "status"),
        types={
            "minimum_age": "number",
            "maximum_age": "number",
            "assured_date": "date",
            "last_modified": "datetime",
        },
        foreign_keys={"organization_id": "organization", "program_id": "program"},
    ),
    Table(
        "attribute",
        "attributes.csv",
        ("id", "link_id", "taxonomy_term_id", "link_type", "link_entity", "value"),
        required=("id", "link_id", "taxonomy_term_id", "link_entity"),
        foreign_keys={"taxonomy_term_id": "taxonomy_term"},
    ),
    Table(
        "service_at_location",
        "service_at_location.csv",
        ("id", "service_id", "location_id", "description"),
        required=("id", "service_id", "location_id"),
        foreign_keys={"service_id": "service", "location_id": "location"},
    ),
    Table(
        "location",
        "locations.csv",
        (
            "id",
            "location_type",
            "url",
            "organization_id",
            "name",
            "alternate_name",
            "description",
            "transportation",
            "latitude",
            "longitude",
            "external_identifier",
            "external_identifier_type",
        ),
        required=("id", "location_type"),
        types={"latitude": "number", "longitude": "number"},
        foreign_keys={"organization_id": "organization"},
    ),
    Table(
        "service_area",
        "service_areas.csv",
        ("id", "service_id", "name", "description", "extent", "extent_type", "uri"),
        required=("id",),
        foreign_keys={"service_id": "service"},
    ),
    Table(
        "language",
        "languages.csv",
        ("id", "service_id", "location_id", "phone_id", "name", "code", "note"),
        required=("id",),
        foreign_keys={"service_id": "service", "location_id": "location"},
    ),
    Table(
        "taxonomy_term",
        "taxonomy_terms.csv",
        ("id", "code", "name", "description", "parent_id", "taxonomy", "language", "taxonomy_id", "term_uri"),
        required=("id", "name", "description"),
        foreign_keys={"parent_id": "taxonomy_term", "taxonomy_id": "taxonomy"},
    ),
    Table(
        "taxonomy",
        "taxonomies.csv",
        ("id", "name", "description", "uri", "version"),
        required=("id", "name", "description"),
    ),
)
TABLE_BY_NAME: dict[str, Table] = {table.name: table for table in TABLES}

# HSDS 3.0 `service.status` and `location.location_type` enumerations.
SERVICE_STATUSES: tuple[str, ...] = ("active", "inactive", "defunct", "temporarily closed")
LOCATION_TYPES: tuple[str, ...] = ("physical", "postal", "virtual")

Rows = dict[str, list[dict[str, Any]]]


# --------------------------------------------------------------------------- public API


def hsds_tables(records: Sequence[Mapping[str, Any]], *, language: str = "en") -> Rows:
    """HSDS table name -> rows (column -> value, in the spec's column order), for every table above.

    `records` are flat entry records (`directory.entries.to_record`); `language` picks which of the
    entry's two languages fills names and descriptions (the other name becomes `alternate_name`).
    Ids do not depend on `language`, so an English and a Russian export describe the same rows.
    """
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    ordered = _sorted_records(records)
    rows: Rows = {table.name: [] for table in TABLES}
    term_ids = _add_topic_taxonomy(rows, language)
    designation_ids = _add_designation_taxonomy(rows, language)
    for record in ordered:
        _add_entry(rows, record, language, term_ids, designation_ids)
    return rows


def write_hsds(records: Sequence[Mapping[str, Any]], directory: Path, *, language: str = "en") -> list[Path]:
    """Write one CSV per HSDS table plus `datapackage.json` into `directory`; returns the paths written.

    Every table is written, even when it has no rows, so a consumer always finds the same files.
    """
    tables = hsds_tables(records, language=language)
    directory.mkdir(parents=True, exist_ok=True)
    written = [_write_csv(directory / table.path, table, tables[table.name]) for table in TABLES]
    package = directory / "datapackage.json"
    package.write_text(
        json.dumps(datapackage(language=language), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return [*written, package]


def datapackage(*, language: str = "en") -> dict[str, Any]:
    """The Frictionless data package descriptor for the CSVs `write_hsds` writes (no timestamps)."""
    return {
        "profile": "tabular-data-package",
        "name": "nansen-hsds",
        "title": "Nansen directory (Open Referral HSDS 3.0)",
        # Not Frictionless properties: what the CSVs follow, and the language their texts are in.
        "hsds_version": HSDS_VERSION,
        "language": language,
        "resources": [_resource(table) for table in TABLES],
    }


# --------------------------------------------------------------------------- ids and rows


def stable_id(table: str, *key: str) -> str:
    """A UUID that depends only on the table and the row's natural key."""
    return str(uuid.uuid5(NAMESPACE, ":".join((table, *key))))


def _row(table: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """A row with exactly the table's columns, in order; refuses a column the spec does not have."""
    columns = TABLE_BY_NAME[table].columns
    unknown = set(values) - set(columns)
    if unknown:
        raise KeyError(f"{table} has no column(s) {', '.join(sorted(unknown))}")
    return {column: values.get(column) for column in columns}


def _sorted_records(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Records by slug, so output order does not depend on input order; duplicate slugs would clash."""
    ordered = sorted(records, key=lambda record: record["slug"])
    for previous, current in itertools.pairwise(ordered):
        if previous["slug"] == current["slug"]:
            raise ValueError(f"duplicate slug {current['slug']!r}: ids would collide")
    return ordered


# --------------------------------------------------------------------------- language helpers


def _localized(record: Mapping[str, Any], prefix: str, language: str) -> str | None:
    """`<prefix>.<language>`, falling back to the other language so a required text is never empty."""
    others = [other for other in LANGUAGES if other != language]
    for lang in (language, *others):
        value = record.get(f"{prefix}.{lang}")
        if value:
            return value
    return None


def _other_name(record: Mapping[str, Any], name: str | None) -> str | None:
    """The entry's name in the other language, when it differs (HSDS `alternate_name`)."""
    names = [record.get(f"name.{lang}") for lang in LANGUAGES]
    return next((other for other in names if other and other != name), None)


# --------------------------------------------------------------------------- mapping


def service_status(record: Mapping[str, Any]) -> str:
    """HSDS service status from our entry status and, for programs, the program state.

    The gravest signal wins: a closed entry or closed program is `defunct`, an inactive entry is
    `inactive`, a paused program is `temporarily closed`; an open program, or one whose state we do
    not know, stays `active` (HSDS has no "unknown", and the entry itself is active).
    """
    status = record.get("status") or "active"
    state = record.get("program.state") if record.get("kind") == "program" else None
    if status == "closed" or state == "closed":
        return "defunct"
    if status == "inactive":
        return "inactive"
    if state == "paused":
        return "temporarily closed"
    return "active"


def _service_url(record: Mapping[str, Any]) -> str | None:
    """A program's own page describes the service better than its operator's home page."""
    if record.get("kind") == "program" and record.get("program.official_url"):
        return record["program.official_url"]
    return record.get("website")


def _assured_date(verified_at: str | None) -> str | None:
    if not verified_at:
        return None
    return dt.datetime.fromisoformat(verified_at.replace("Z", "+00:00")).date().isoformat()


def _alert(record: Mapping[str, Any], language: str) -> str | None:
    """What a reader must know first: the entry's warnings (dated), then its status note."""
    lines = [f"{w[language]} ({w['date']})" for w in record.get("warnings") or []]
    if record.get("status_note"):
        lines.append(record["status_note"])
    return "\n".join(lines) or None


def _add_designation_taxonomy(rows: Rows, language: str) -> dict[str, str]:
    """The `nansen-designations` taxonomy: the labels states put on organizations; kind -> term id."""
    terms = [
        (
            kind.slug,
            getattr(kind, language),
            DESIGNATION_TERM_DESCRIPTION[language].format(kind=getattr(kind, language)),
        )
        for kind in DESIGNATION_KINDS
    ]
    return _add_taxonomy(rows, DESIGNATION_TAXONOMY, DESIGNATION_TAXONOMY_DESCRIPTION, terms, language)


def _add_designations(
    rows: Rows, record: Mapping[str, Any], organization_id: str, term_ids: Mapping[str, str], language: str
) -> None:
    for number, designation in enumerate(record.get("designations") or []):
        value = {
            "authority": designation["authority"],
            "authority_name": getattr(AUTHORITY_BY_SLUG[designation["authority"]], language),
            "date": designation["date"],
            "lifted": designation.get("lifted"),
            "source": designation["source"],
        }
        rows["attribute"].append(
            _row(
                "attribute",
                {
                    "id": stable_id("attribute", record["slug"], DESIGNATION_TAXONOMY, str(number)),
                    "link_id": organization_id,
                    "taxonomy_term_id": term_ids[designation["kind"]],
                    "link_entity": "organization",
                    "value": json.dumps(value, ensure_ascii=False, sort_keys=True),
                },
            )
        )


def _add_topic_taxonomy(rows: Rows, language: str) -> dict[str, str]:
    """The `nansen-topics` taxonomy and all its terms (the whole vocabulary, used or not); slug -> term id."""
    terms = [(topic.slug, getattr(topic, language), topic.scope) for topic in TOPICS]
    return _add_taxonomy(rows, TOPIC_TAXONOMY, TOPIC_TAXONOMY_DESCRIPTION, terms, language)


def _add_taxonomy(
    rows: Rows, name: str, description: str, terms: Sequence[tuple[str, str, str]], language: str
) -> dict[str, str]:
    """A `taxonomy` row and one `taxonomy_term` per (code, name, description); code -> term id."""
    taxonomy_id = stable_id("taxonomy", name)
    rows["taxonomy"].append(_row("taxonomy", {"id": taxonomy_id, "name": name, "description": description}))
    term_ids: dict[str, str] = {}
    for code, term_name, term_description in terms:
        term_id = term_ids[code] = stable_id("taxonomy_term", name, code)
        rows["taxonomy_term"].append(
            _row(
                "taxonomy_term",
                {
                    "id": term_id,
                    "code": code,
                    "name": term_name,
                    "description": term_description,
                    "taxonomy": name,
                    "language": language,
                    "taxonomy_id": taxonomy_id,
                },
            )
        )
    return term_ids


def _add_entry(
    rows: Rows,
    record: Mapping[str, Any],
    language: str,
    term_ids: Mapping[str, str],
    designation_ids: Mapping[str, str],
) -> None:
    """All the rows one entry contributes."""
    slug = record["slug"]
    organization_id = stable_id("organization", slug)
    service_id = stable_id("service", slug)
    name = _localized(record, "name", language)
    alternate_name = _other_name(record, name)
    description = _localized(record, "summary", language)

    rows["organization"].append(
        _row(
            "organization",
            {
                "id": organization_id,
                "name": name,
                "alternate_name": alternate_name,
                "description": description,
                "email": record.get("contacts.email"),
                "website": record.get("website"),
            },
        )
    )
    program_id = None
    if record.get("kind") == "program":
        program_id = stable_id("program", slug)
        rows["program"].append(
            _row(
                "program",
                {
                    "id": program_id,
                    "organization_id": organization_id,
                    "name": name,
                    "alternate_name": alternate_name,
                    "description": description,
                },
            )
        )
    rows["service"].append(
        _row(
            "service",
            {
                "id": service_id,
                "organization_id": organization_id,
                "program_id": program_id,
                "name": name,
                "alternate_name": alternate_name,
                "description": description,
                "url": _service_url(record),
                "email": record.get("contacts.email"),
                "status": service_status(record),
                "application_process": _localized(record, "program.application_route", language),
                "eligibility_description": _localized(record, "program.eligibility", language),
                "assured_date": _assured_date(record.get("verified_at")),
                "alert": _alert(record, language),
            },
        )
    )
    _add_locations(rows, record, language, organization_id, service_id)
    _add_service_areas(rows, record, language, service_id)
    _add_languages(rows, record, language, service_id)
    _add_topics(rows, record, service_id, term_ids)
    _add_designations(rows, record, organization_id, designation_ids, language)


def _add_locations(rows: Rows, record: Mapping[str, Any], language: str, organization_id: str, service_id: str) -> None:
    """A physical location per host country, a virtual one for the web address, each linked to the service."""
    slug = record["slug"]
    locations: list[dict[str, Any]] = [
        {
            "id": stable_id("location", slug, "country", code),
            "location_type": "physical",
            "organization_id": organization_id,
            "name": country_name(code, language),
            "external_identifier": code,
            "external_identifier_type": COUNTRY_IDENTIFIER_TYPE,
        }
        for code in sorted(record.get("host_countries") or [])
    ]
    url = _service_url(record)
    if url:
        locations.append(
            {
                "id": stable_id("location", slug, "virtual"),
                "location_type": "virtual",
                "url": url,
                "organization_id": organization_id,
                "name": urlsplit(url).hostname,
            }
        )
    for location in locations:
        rows["location"].append(_row("location", location))
        rows["service_at_location"].append(
            _row(
                "service_at_location",
                {
                    "id": stable_id("service_at_location", service_id, location["id"]),
                    "service_id": service_id,
                    "location_id": location["id"],
                },
            )
        )


def _add_service_areas(rows: Rows, record: Mapping[str, Any], language: str, service_id: str) -> None:
    """One area per country served; an entry that serves anyone gets none (no restriction)."""
    for code in sorted(record.get("countries_served") or []):
        rows["service_area"].append(
            _row(
                "service_area",
                {
                    "id": stable_id("service_area", record["slug"], code),
                    "service_id": service_id,
                    "name": country_name(code, language),
                    "uri": ISO_3166_URI.format(code=code),
                },
            )
        )


def _add_languages(rows: Rows, record: Mapping[str, Any], language: str, service_id: str) -> None:
    for code in sorted(record.get("languages") or []):
        rows["language"].append(
            _row(
                "language",
                {
                    "id": stable_id("language", record["slug"], code),
                    "service_id": service_id,
                    "name": language_name(code, language),
                    "code": code,
                },
            )
        )


def _add_topics(rows: Rows, record: Mapping[str, Any], service_id: str, term_ids: Mapping[str, str]) -> None:
    """Topics classify what the service offers, so the attributes link the service, not the organization."""
    for topic in sorted(record.get("topics") or []):
        rows["attribute"].append(
            _row(
                "attribute",
                {
                    "id": stable_id("attribute", record["slug"], TOPIC_TAXONOMY, topic),
                    "link_id": service_id,
                    "taxonomy_term_id": term_ids[topic],
                    "link_entity": "service",
                },
            )
        )


# --------------------------------------------------------------------------- files


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _write_csv(path: Path, table: Table, rows: Sequence[Mapping[str, Any]]) -> Path:
    """RFC 4180 CSV in UTF-8 with a header row; empty cells for missing values."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(table.columns)
        writer.writerows([_cell(row[column]) for column in table.columns] for row in rows)
    return path


_FORMATS = {"id": "uuid", "email": "email", "assurer_email": "email", "website": "uri", "url": "uri"}


def _schema_field(table: Table, column: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": column, "type": table.types.get(column, "string")}
    if spec["type"] == "string" and column in _FORMATS:
        spec["format"] = _FORMATS[column]
    constraints: dict[str, Any] = {}
    if column in table.required:
        constraints["required"] = True
    if column == "id":
        constraints["unique"] = True
    if constraints:
        spec["constraints"] = constraints
    return spec


def _resource(table: Table) -> dict[str, Any]:
    return {
        "name": table.name,
        "path": table.path,
        "profile": "tabular-data-resource",
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": "utf-8",
        "schema": {
            "fields": [_schema_field(table, column) for column in table.columns],
            "primaryKey": "id",
            "foreignKeys": [
                # Frictionless names the resource itself with "" in a self-reference.
                {
                    "fields": column,
                    "reference": {"resource": "" if target == table.name else target, "fields": "id"},
                }
                for column, target in table.foreign_keys.items()
            ],
        },
    }
