"""Export the directory as Open Referral HSDS 3.0: JSON, or tables (CSVs and a `datapackage.json`).

HSDS (the Human Services Data Specification) is what other resource directories import, so this is the
form in which Nansen's entries can be exchanged with them. The mapping, per entry:

* one `organization` (the entry itself) and one `service` (what it offers to the diaspora);
  a `program` entry also gets a `program` row, which its service is delivered under;
* one `location` per host country (`physical`, the country carried as an ISO 3166-1 external
  identifier) and one `virtual` location for its web address, each linked through `service_at_location`;
* `service_area` rows for the countries whose people it serves (none when it serves anyone);
* `language` rows for the languages it works in;
* its topics as `attribute` rows of the service pointing at the `taxonomy_term`s of the
  `nansen-topics` `taxonomy`;
* its designations (a state's "foreign agent", "undesirable", "extremist"… label) as `attribute` rows
  of the organization pointing at the `nansen-designations` taxonomy, the attribute's `value` a JSON
  object `{"authority", "authority_name", "date", "lifted", "source"}`;
* a program's own state as an `attribute` of the service pointing at the `nansen-program-states`
  taxonomy (`open`, `paused`, `closed`, `unknown`), its `value` the date that state began
  (`program.state_since`: for `unknown`, when the last known state was last confirmed);
* what a reader must know first in the service's `alert` (see `alert`).

HSDS `service.status` is one of `active`, `inactive`, `defunct`, `temporarily closed`; the gravest
signal of the entry's `status` and, for a program, its `program.state` wins (`service_status`):

    entry status   program state        HSDS status
    closed         any                  defunct
    any            closed               defunct
    inactive       open/paused/unknown  inactive
    active         paused               temporarily closed
    active         unknown              inactive
    active         open, or no program  active

A program in state `unknown` is never `active`, because a program nobody could confirm must not read
as open: HSDS has no "unknown", so it is `inactive` (the status that promises least), its alert says
in words that its state is unknown and since when, and the exact state stays in its attribute.

Language: `language` picks the language of every text (names, descriptions, alerts, country and
language names, taxonomy names and descriptions). Nothing is filled in from the other language: an
optional text missing in it is left out. Codes stay as they are in both (slugs, taxonomy names such
as `nansen-topics`, ISO codes, web addresses), and the entry's name in the other language is its
`alternate_name`. `status_note` is a maintainers' note written in English: the English export carries
it in the alert, the Russian one says in Russian that such a note exists.

Two forms of the same rows (`hsds_tables`), with the same ids:

* JSON, which HSDS 3.0 calls its canonical format (`hsds_json`): one document, a list of
  organizations, each as the spec's compiled `schema/compiled/organization.json` describes it (the
  list is its `organization_package.json`), with everything nested and dereferenced;
* the Tabular Data Package (`write_hsds`): one CSV per table, and a `datapackage.json` whose
  resources are the spec's own (`OFFICIAL_DESCRIPTOR`, with every constraint: enums, uuid/uri/email
  formats, required and unique columns), so a consumer validating with it checks what the spec checks.

What HSDS 3.0 has no place for is left out rather than forced in: `address` rows need a street, city,
region and postal code that the directory does not record (so the host country lives on the
location), and feeds, the Telegram link and other contact links would need the `url` table, which
only arrived in HSDS 3.1.

Everything is a pure function of the records: ids are UUIDv5 of stable keys and rows come out in a
fixed order, so two exports of the same data are byte-identical and diff cleanly.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import functools
import itertools
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from directory.names import country_name, language_name
from directory.taxonomy import AUTHORITY_BY_SLUG, DESIGNATION_KINDS, PROGRAM_STATES, TOPICS

LANGUAGES: tuple[str, ...] = ("en", "ru")
# Every id is uuid5(NAMESPACE, "<table>:<natural key>"). Never change this: it would re-key every row
# for everyone who has imported an earlier export.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://nansen.directory/hsds")

# The HSDS 3.0.0 tabular data package descriptor, byte for byte as the spec publishes it (this file of
# `directory`): `datapackage.json` of github.com/openreferral/specification at OFFICIAL_COMMIT.
OFFICIAL_DESCRIPTOR = "hsds-3.0-datapackage.json"
OFFICIAL_COMMIT = "279fd2eb3552c349bf698c07c00cc25f5fc8249b"
# The tables this export fills (the spec's resource names); they are written in the spec's order.
EXPORTED_TABLES = frozenset(
    {
        "organization",
        "program",
        "service",
        "attribute",
        "service_at_location",
        "location",
        "service_area",
        "language",
        "taxonomy_term",
        "taxonomy",
    }
)

Texts = Mapping[str, str]  # language -> text

PACKAGE_TITLE: Texts = {
    "en": "Nansen directory (Open Referral HSDS 3.0)",
    "ru": "Каталог «Нансен» (Open Referral HSDS 3.0)",
}

TOPIC_TAXONOMY = "nansen-topics"
TOPIC_TAXONOMY_DESCRIPTION: Texts = {
    "en": "The closed list of topics the Nansen directory files its entries under "
    "(organizations serving the political diaspora that left Russia and Belarus).",
    "ru": "Закрытый список тем, по которым каталог «Нансен» распределяет свои записи "
    "(организации, которые помогают политической эмиграции из России и Беларуси).",
}

DESIGNATION_TAXONOMY = "nansen-designations"
DESIGNATION_TAXONOMY_DESCRIPTION: Texts = {
    "en": "Labels the Russian and Belarusian states put on organizations (foreign agent, undesirable, "
    "extremist, terrorist…), which change what supporting them risks for a reader in those countries.",
    "ru": "Статусы, которые власти России и Беларуси присваивают организациям (иностранный агент, "
    "нежелательная, экстремистская, террористическая…): от них зависит, чем читателю в этих странах "
    "грозит поддержка такой организации.",
}
DESIGNATION_TERM_DESCRIPTION: Texts = {
    "en": "Labelled by a state as: {kind}.",
    "ru": "Статус, присвоенный государством: {kind}.",
}

PROGRAM_STATE_TAXONOMY = "nansen-program-states"
PROGRAM_STATE_TAXONOMY_DESCRIPTION: Texts = {
    "en": "The state of a host-country program as the Nansen directory records it. HSDS service status "
    "has no value for a state nobody could confirm, so the exact state is kept here; the attribute's "
    "value is the date the state began (for an unknown state, when the last known one was last confirmed).",
    "ru": "Состояние программы принимающей страны, как его записывает каталог «Нансен». В статусе услуги "
    "по стандарту HSDS нет значения для состояния, которое никто не смог подтвердить, поэтому точное "
    "состояние хранится здесь; значение атрибута — дата, с которой оно действует (для неизвестного "
    "состояния — дата, когда последнее известное состояние было подтверждено в последний раз).",
}
# state -> language -> (term name, term description)
PROGRAM_STATE_TERMS: Mapping[str, Mapping[str, tuple[str, str]]] = {
    "open": {
        "en": ("Open", "The program runs: people can use it or apply to it."),
        "ru": ("Открыта", "Программа действует: ею можно воспользоваться или подать заявку."),
    },
    "paused": {
        "en": ("Paused", "The program is suspended: it takes no new applications until it resumes."),
        "ru": ("Приостановлена", "Программа приостановлена: новые заявки не принимаются, пока её не возобновят."),
    },
    "closed": {
        "en": ("Closed", "The program has ended."),
        "ru": ("Закрыта", "Программа прекращена."),
    },
    "unknown": {
        "en": ("Unknown", "Nobody could confirm whether the program still runs."),
        "ru": ("Неизвестно", "Никто не смог подтвердить, действует ли программа."),
    },
}

# What the alert says of a program's state: (without a date, with `{date}`), per state and language.
PROGRAM_STATE_ALERT: Mapping[str, Mapping[str, tuple[str, str]]] = {
    "paused": {
        "en": ("This program is paused.", "This program has been paused since {date}."),
        "ru": ("Программа приостановлена.", "Программа приостановлена с {date}."),
    },
    "closed": {
        "en": ("This program is closed.", "This program has been closed since {date}."),
        "ru": ("Программа закрыта.", "Программа закрыта с {date}."),
    },
    "unknown": {
        "en": (
            "This program's current state is unknown.",
            "This program's current state is unknown (last confirmed {date}).",
        ),
        "ru": (
            "Текущее состояние программы неизвестно.",
            "Текущее состояние программы неизвестно (последнее подтверждение: {date}).",
        ),
    },
}
CHECK_WITH_AUTHORITIES: Texts = {
    "en": "Check with the authorities before you rely on it.",
    "ru": "Прежде чем на это рассчитывать, уточните у властей страны.",
}
ENTRY_STATUS_ALERT: Mapping[str, Texts] = {
    "inactive": {
        "en": "This organization may no longer be working: it has not answered for some time.",
        "ru": "Возможно, организация больше не работает: она давно не выходит на связь.",
    },
    "closed": {
        "en": "This organization has closed.",
        "ru": "Организация прекратила работу.",
    },
}
NOTE_IN_ENGLISH = "К записи есть примечание редакции на английском языке — см. выгрузку на английском."

COUNTRY_IDENTIFIER_TYPE = "ISO 3166-1 alpha-2"
ISO_3166_URI = "https://www.iso.org/obp/ui/#iso:code:3166:{code}"


# --------------------------------------------------------------------------- the HSDS 3.0 tables


@dataclass(frozen=True)
class Table:
    """One HSDS tabular resource as the spec's descriptor defines it."""

    name: str
    path: str
    columns: tuple[str, ...]  # in the spec's order
    resource: Mapping[str, Any]  # the spec's resource descriptor, untouched


@functools.cache
def official_descriptor() -> dict[str, Any]:
    """The spec's tabular data package descriptor (`OFFICIAL_DESCRIPTOR`); callers must not change it."""
    text = resources.files("directory").joinpath(OFFICIAL_DESCRIPTOR).read_text(encoding="utf-8")
    descriptor: dict[str, Any] = json.loads(text)
    return descriptor


@functools.cache
def tables() -> dict[str, Table]:
    """The tables this export writes, by name, in the spec's order, each read from the spec's descriptor."""
    return {
        resource["name"]: Table(
            name=resource["name"],
            path=resource["path"],
            columns=tuple(f["name"] for f in resource["schema"]["fields"]),
            resource=resource,
        )
        for resource in official_descriptor()["resources"]
        if resource["name"] in EXPORTED_TABLES
    }


Rows = dict[str, list[dict[str, Any]]]


# --------------------------------------------------------------------------- public API


def hsds_tables(records: Sequence[Mapping[str, Any]], *, language: str = "en") -> Rows:
    """HSDS table name -> rows (column -> value or None, in the spec's column order), for every table.

    `records` are complete flat entry records (`directory.entries.to_record`); `language` (`en` or
    `ru`, else ValueError) is the language of every text. Ids do not depend on `language`, so an
    English and a Russian export describe the same rows. Two records with one slug are a ValueError.
    """
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    ordered = _sorted_records(records)
    rows: Rows = {name: [] for name in tables()}
    topic_ids = _add_topic_taxonomy(rows, language)
    designation_ids = _add_designation_taxonomy(rows, language)
    state_ids = _add_program_state_taxonomy(rows, language)
    for record in ordered:
        _add_entry(rows, record, language, topic_ids, designation_ids, state_ids)
    return rows


def hsds_organizations(records: Sequence[Mapping[str, Any]], *, language: str = "en") -> list[dict[str, Any]]:
    """HSDS 3.0 JSON: one organization per entry, as the spec's compiled `organization.json` nests it.

    Each organization has its fields (an empty one is left out: the schema's strings may not be null)
    and always the arrays `locations`, `programs`, `attributes` (designations) and `services`; each
    service has `service_areas`, `service_at_locations` (with the `location` embedded), `languages` and
    `attributes` (topics, program state); each attribute embeds its `taxonomy_term`, and each term its
    `taxonomy_detail`. Same rows and ids as `hsds_tables`, same arguments and errors.
    """
    rows = hsds_tables(records, language=language)
    taxonomies = {row["id"]: _object(row) for row in rows["taxonomy"]}
    terms = {
        row["id"]: {**_object(row), "taxonomy_detail": taxonomies[row["taxonomy_id"]]} for row in rows["taxonomy_term"]
    }
    attributes = _grouped(
        rows["attribute"], "link_id", lambda row: {**_object(row), "taxonomy_term": terms[row["taxonomy_term_id"]]}
    )
    locations = {row["id"]: _object(row) for row in rows["location"]}
    at_locations = _grouped(
        rows["service_at_location"],
        "service_id",
        lambda row: {**_object(row), "location": locations[row["location_id"]]},
    )
    areas = _grouped(rows["service_area"], "service_id")
    languages = _grouped(rows["language"], "service_id")
    services = _grouped(
        rows["service"],
        "organization_id",
        lambda row: {
            **_object(row),
            "service_areas": areas.get(row["id"], []),
            "service_at_locations": at_locations.get(row["id"], []),
            "languages": languages.get(row["id"], []),
            "attributes": attributes.get(row["id"], []),
        },
    )
    programs = _grouped(rows["program"], "organization_id")
    organization_locations = _grouped(rows["location"], "organization_id", lambda row: locations[row["id"]])
    return [
        {
            **_object(row),
            "locations": organization_locations.get(row["id"], []),
            "programs": programs.get(row["id"], []),
            "attributes": attributes.get(row["id"], []),
            "services": services.get(row["id"], []),
        }
        for row in rows["organization"]
    ]


def hsds_json(records: Sequence[Mapping[str, Any]], *, language: str = "en") -> str:
    """`hsds_organizations` as one UTF-8 JSON document (indented, ending in a newline), byte-stable."""
    return json.dumps(hsds_organizations(records, language=language), ensure_ascii=False, indent=2) + "\n"


def write_hsds(records: Sequence[Mapping[str, Any]], directory: Path, *, language: str = "en") -> list[Path]:
    """Write one CSV per HSDS table plus `datapackage.json` into `directory`; returns the paths written.

    Every table is written, even when it has no rows, so a consumer always finds the same files.
    """
    rows = hsds_tables(records, language=language)
    directory.mkdir(parents=True, exist_ok=True)
    written = [_write_csv(directory / table.path, table, rows[name]) for name, table in tables().items()]
    package = directory / "datapackage.json"
    package.write_text(
        json.dumps(datapackage(language=language), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return [*written, package]


def datapackage(*, language: str = "en") -> dict[str, Any]:
    """The descriptor of the CSVs `write_hsds` writes: the spec's resources for them, with no timestamp.

    Each resource is the spec's own, every field and constraint included, except its foreign keys to
    tables this export does not write (`language.phone_id` -> `phone`), which no validator could resolve.
    """
    exported = tables()
    resources_ = []
    for table in exported.values():
        resource = copy.deepcopy(dict(table.resource))
        schema = resource["schema"]
        if "foreignKeys" in schema:
            schema["foreignKeys"] = [key for key in schema["foreignKeys"] if key["reference"]["resource"] in exported]
        resources_.append(resource)
    return {
        "profile": "tabular-data-package",
        "name": "nansen-hsds",
        "title": PACKAGE_TITLE[language],
        # Not Frictionless properties: the HSDS version the tables follow, and the language of their texts.
        "hsds_version": official_descriptor()["version"],
        "language": language,
        "resources": resources_,
    }


# --------------------------------------------------------------------------- ids and rows


def stable_id(table: str, *key: str) -> str:
    """A UUID that depends only on the table and the row's natural key."""
    return str(uuid.uuid5(NAMESPACE, ":".join((table, *key))))


def _row(table: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """A row with exactly the table's columns, in order; refuses a column the spec does not have."""
    columns = tables()[table].columns
    unknown = set(values) - set(columns)
    if unknown:
        raise KeyError(f"{table} has no column(s) {', '.join(sorted(unknown))}")
    return {column: values.get(column) for column in columns}


def _object(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as an HSDS JSON object: the columns that have a value."""
    return {column: value for column, value in row.items() if value is not None}


def _grouped(
    rows: Iterable[Mapping[str, Any]],
    key: str,
    make: Callable[[Mapping[str, Any]], dict[str, Any]] = _object,
) -> dict[str, list[dict[str, Any]]]:
    """`make(row)` for each row, grouped by `row[key]`, in row order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row[key], []).append(make(row))
    return groups


def _sorted_records(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Records by slug, so output order does not depend on input order; duplicate slugs would clash."""
    ordered = sorted(records, key=lambda record: record["slug"])
    for previous, current in itertools.pairwise(ordered):
        if previous["slug"] == current["slug"]:
            raise ValueError(f"duplicate slug {current['slug']!r}: ids would collide")
    return ordered


def _other_name(record: Mapping[str, Any], name: str | None) -> str | None:
    """The entry's name in the other language, when it differs (HSDS `alternate_name`)."""
    names = [record.get(f"name.{lang}") for lang in LANGUAGES]
    return next((other for other in names if other and other != name), None)


# --------------------------------------------------------------------------- mapping


def service_status(record: Mapping[str, Any]) -> str:
    """HSDS `service.status` from the entry's `status` and, for a program, its `program.state`.

    The gravest signal wins (the table in the module docstring): closed anything is `defunct`, an
    inactive entry `inactive`, a paused program `temporarily closed`, a program in state `unknown`
    `inactive` (never `active`: it must not read as open), and only an open program or an active
    entry that is not a program is `active`.
    """
    status = record.get("status") or "active"
    state = record.get("program.state") if record.get("kind") == "program" else None
    if status == "closed" or state == "closed":
        return "defunct"
    if status == "inactive" or state == "unknown":
        return "inactive"
    if state == "paused":
        return "temporarily closed"
    return "active"


def alert(record: Mapping[str, Any], language: str) -> str | None:
    """HSDS `service.alert`: what a reader must know first, one statement a line, all in `language`.

    In order: the entry's status if it is not active; a program's state if it is not open (since
    when, its note, and to check with the authorities); an open program's note; the entry's
    warnings, each with its date; and its maintainers' note (`status_note`: in English, so the
    Russian alert only says that there is one). None when there is nothing to say.
    """
    lines: list[str] = []
    if record.get("status") in ENTRY_STATUS_ALERT:
        lines.append(ENTRY_STATUS_ALERT[record["status"]][language])
    if record.get("kind") == "program":
        lines.extend(_program_state_lines(record, language))
    lines.extend(f"{warning[language]} ({warning['date']})" for warning in record.get("warnings") or [])
    if record.get("status_note"):
        lines.append(record["status_note"] if language == "en" else NOTE_IN_ENGLISH)
    return "\n".join(lines) or None


def _program_state_lines(record: Mapping[str, Any], language: str) -> list[str]:
    """A program that is not open: its state since when, its note, and to check; an open one: its note."""
    state: str = record.get("program.state") or ""
    since = record.get("program.state_since")
    note = record.get(f"program.state_note.{language}")
    if state not in PROGRAM_STATE_ALERT:
        return [note] if note else []
    undated, dated = PROGRAM_STATE_ALERT[state][language]
    parts = (dated.format(date=since) if since else undated, note, CHECK_WITH_AUTHORITIES[language])
    return [" ".join(part for part in parts if part)]


def _service_url(record: Mapping[str, Any]) -> str | None:
    """A program's own page describes the service better than its operator's home page."""
    if record.get("kind") == "program" and record.get("program.official_url"):
        return record["program.official_url"]
    return record.get("website")


def _assured_date(verified_at: str | None) -> str | None:
    if not verified_at:
        return None
    return dt.datetime.fromisoformat(verified_at.replace("Z", "+00:00")).date().isoformat()


def _add_taxonomy(
    rows: Rows, name: str, description: str, terms: Sequence[tuple[str, str, str]], language: str
) -> dict[str, str]:
    """A `taxonomy` row and one `taxonomy_term` per (code, name, description); code -> term id.

    Term codes must be unique across every taxonomy (the spec's descriptor says `code` is unique).
    """
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


def _add_topic_taxonomy(rows: Rows, language: str) -> dict[str, str]:
    """The `nansen-topics` taxonomy and all its terms (the whole vocabulary, used or not); slug -> term id."""
    terms = [
        (topic.slug, getattr(topic, language), topic.scope_ru if language == "ru" else topic.scope) for topic in TOPICS
    ]
    return _add_taxonomy(rows, TOPIC_TAXONOMY, TOPIC_TAXONOMY_DESCRIPTION[language], terms, language)


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
    return _add_taxonomy(rows, DESIGNATION_TAXONOMY, DESIGNATION_TAXONOMY_DESCRIPTION[language], terms, language)


def _add_program_state_taxonomy(rows: Rows, language: str) -> dict[str, str]:
    """The `nansen-program-states` taxonomy: a program's own state; state -> term id."""
    terms = [(state, *PROGRAM_STATE_TERMS[state][language]) for state in PROGRAM_STATES]
    return _add_taxonomy(rows, PROGRAM_STATE_TAXONOMY, PROGRAM_STATE_TAXONOMY_DESCRIPTION[language], terms, language)


def _add_entry(
    rows: Rows,
    record: Mapping[str, Any],
    language: str,
    topic_ids: Mapping[str, str],
    designation_ids: Mapping[str, str],
    state_ids: Mapping[str, str],
) -> None:
    """All the rows one entry contributes."""
    slug = record["slug"]
    organization_id = stable_id("organization", slug)
    service_id = stable_id("service", slug)
    name = record.get(f"name.{language}")
    alternate_name = _other_name(record, name)
    description = record.get(f"summary.{language}")

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
                "application_process": record.get(f"program.application_route.{language}"),
                "eligibility_description": record.get(f"program.eligibility.{language}"),
                "assured_date": _assured_date(record.get("verified_at")),
                "alert": alert(record, language),
            },
        )
    )
    _add_locations(rows, record, language, organization_id, service_id)
    _add_service_areas(rows, record, language, service_id)
    _add_languages(rows, record, language, service_id)
    _add_topics(rows, record, service_id, topic_ids)
    _add_program_state(rows, record, service_id, state_ids)
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


def _attribute(
    attribute_id: str, link_id: str, term_id: str, link_entity: str, value: str | None = None
) -> dict[str, Any]:
    return _row(
        "attribute",
        {
            "id": attribute_id,
            "link_id": link_id,
            "taxonomy_term_id": term_id,
            "link_entity": link_entity,
            "value": value,
        },
    )


def _add_topics(rows: Rows, record: Mapping[str, Any], service_id: str, term_ids: Mapping[str, str]) -> None:
    """Topics classify what the service offers, so the attributes link the service, not the organization."""
    for topic in sorted(record.get("topics") or []):
        attribute_id = stable_id("attribute", record["slug"], TOPIC_TAXONOMY, topic)
        rows["attribute"].append(_attribute(attribute_id, service_id, term_ids[topic], "service"))


def _add_program_state(rows: Rows, record: Mapping[str, Any], service_id: str, term_ids: Mapping[str, str]) -> None:
    """A program's exact state, which HSDS status cannot always say, with the date it began as the value."""
    state = record.get("program.state") if record.get("kind") == "program" else None
    if state:
        attribute_id = stable_id("attribute", record["slug"], PROGRAM_STATE_TAXONOMY)
        rows["attribute"].append(
            _attribute(attribute_id, service_id, term_ids[state], "service", record.get("program.state_since"))
        )


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
        attribute_id = stable_id("attribute", record["slug"], DESIGNATION_TAXONOMY, str(number))
        rows["attribute"].append(
            _attribute(
                attribute_id,
                organization_id,
                term_ids[designation["kind"]],
                "organization",
                json.dumps(value, ensure_ascii=False, sort_keys=True),
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
