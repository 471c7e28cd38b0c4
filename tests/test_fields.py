"""Field checks: what is refused, with which reason, and what is normalized."""

from __future__ import annotations

import pytest

from directory import fields as F


def norm(key: str, value: object) -> object:
    return F.FIELD_BY_KEY[key].normalize(value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("meduza.io", r"not an http\(s\) URL"),
        ("ftp://meduza.io", r"not an http\(s\) URL"),
        ("https://", "has no host"),
        ("https://user:pw@example.org", "credentials"),
        ("https://exa mple.org", "white space"),
        ("https://example", "not a valid host name"),
        ("https://1.2.3", "not a valid host name"),
        ("https://-bad-.org", "not a valid host name"),
        ("https://example.org:99999", "bad port"),
    ],
)
def test_bad_urls_are_refused_with_the_reason(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        norm("website", value)


def test_good_urls_pass_unchanged_including_idn() -> None:
    assert norm("website", " https://meduza.io/rss/all ") == "https://meduza.io/rss/all"
    assert norm("website", "https://пример.рф/путь") == "https://пример.рф/путь"
    assert norm("website", "http://127.0.0.2:8080/") == "http://127.0.0.2:8080/"
    assert norm("website", "http://[::1]/") == "http://[::1]/"


@pytest.mark.parametrize("code", ["XX", "GEO", "Georgia", "1"])
def test_country_must_be_iso_alpha2(code: str) -> None:
    with pytest.raises(ValueError, match="ISO 3166-1 alpha-2"):
        norm("host_countries", [code])


def test_country_and_language_codes_are_normalized_and_deduplicated() -> None:
    assert norm("countries_served", ["ge", "GE", "am"]) == ["GE", "AM"]
    assert norm("languages", ["RU", "en"]) == ["ru", "en"]


@pytest.mark.parametrize("code", ["rus", "xx", "russian"])
def test_language_must_be_iso_639_1(code: str) -> None:
    with pytest.raises(ValueError, match="ISO 639-1"):
        norm("languages", [code])


def test_topic_must_be_in_the_taxonomy() -> None:
    assert norm("topics", ["legal-aid"]) == ["legal-aid"]
    with pytest.raises(ValueError, match="not a topic of the taxonomy"):
        norm("topics", ["legal aid"])


def test_email_and_telegram() -> None:
    assert norm("contacts.email", "Info@Example.ORG") == "info@example.org"
    with pytest.raises(ValueError, match="not an email address"):
        norm("contacts.email", "info@")
    assert norm("contacts.telegram", "@ovdinfo") == "https://t.me/ovdinfo"
    assert norm("contacts.telegram", "https://t.me/ovdinfo/") == "https://t.me/ovdinfo"
    with pytest.raises(ValueError, match="Telegram"):
        norm("contacts.telegram", "@a b")


def test_slug_rules() -> None:
    assert norm("slug", "novaya-gazeta-europe") == "novaya-gazeta-europe"
    for bad in ("Meduza", "-x", "x-", "a--b", "медуза", "a" * 65):
        with pytest.raises(ValueError, match="not a slug"):
            norm("slug", bad)


def test_times_are_utc_and_dates_iso() -> None:
    import datetime as dt

    assert norm("verified_at", dt.date(2026, 11, 23)) == "2026-11-23T00:00:00+00:00"
    assert norm("verified_at", "2026-11-23T12:00:00+03:00") == "2026-11-23T09:00:00+00:00"
    assert norm("program.state_since", "2025-08-01") == "2025-08-01"
    with pytest.raises(ValueError, match="ISO 8601"):
        norm("verified_at", "23.11.2026")
    with pytest.raises(ValueError, match="ISO 8601 date"):
        norm("program.state_since", "August 2025")


def test_list_fields_accept_csv_cells() -> None:
    assert norm("feeds", "https://a.org/rss | https://b.org/feed") == [
        "https://a.org/rss",
        "https://b.org/feed",
    ]
    assert norm("topics", "") == []


def test_unknown_fields_and_whole_entry_rules() -> None:
    errors = F.check_record({"slug": "x", "colour": "red", "website": "nope"})
    assert [(e.field, e.message) for e in errors] == [
        ("colour", "unknown field"),
        ("website", "'nope' is not an http(s) URL"),
    ]
    blank = {f.key: F.empty_value(f) for f in F.FIELDS}
    program = {
        **blank,
        "slug": "p",
        "kind": "program",
        "name.en": "n",
        "name.ru": "n",
        "summary.en": "s",
        "summary.ru": "s",
        "host_countries": ["DE", "PL"],
    }
    problems = {e.field: e.message for e in F.check_complete(program)}
    assert problems == {
        "host_countries": "a program has exactly one host country",
        "program.state": "is required for a program (open, paused, closed or unknown)",
    }
    media = {**program, "kind": "media", "program.state": "open", "host_countries": ["LV"]}
    assert [e.field for e in F.check_complete(media)] == ["program.state"]
    assert [e.field for e in F.check_complete({**blank, "kind": "ngo"})] == [
        "slug",
        "name.en",
        "name.ru",
        "summary.en",
        "summary.ru",
    ]


def test_flatten_and_nest_are_inverse() -> None:
    nested = {
        "slug": "x",
        "name": {"en": "X", "ru": "Икс"},
        "program": {"eligibility": {"en": "a", "ru": "б"}},
    }
    flat = F.flatten(nested)
    assert flat == {
        "slug": "x",
        "name.en": "X",
        "name.ru": "Икс",
        "program.eligibility.en": "a",
        "program.eligibility.ru": "б",
    }
    assert F.nest(flat) == nested
