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
    with pytest.raises(ValueError, match="is not a date"):
        norm("program.state_since", "August 2025")


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("2025-07-14", "2025-07-14"),
        ("2025-07", "2025-07"),
        ("2025", "2025"),
        (2025, "2025"),  # YAML reads a bare year as a number
        (__import__("datetime").date(2025, 7, 14), "2025-07-14"),
    ],
)
def test_dates_people_act_on_keep_the_precision_of_their_source(value: object, stored: str) -> None:
    assert norm("program.state_since", value) == stored
    assert norm("program.next_call.closes", value) == stored


@pytest.mark.parametrize("value", ["2025-13", "2025-02-30", "25-07", "2025-7", "July 2025", True, "2025-07-14T10:00"])
def test_a_date_that_is_not_one_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="is not a date"):
        norm("program.state_since", value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("http://70.231.62.181/index.php/Current_Time_TV", "IP address"),
        ("https://wikimili.com/en/Belarus_Solidarity_Foundation", "copy of Wikipedia"),
        ("https://wiki-gateway.eudic.net/wikipedia_en/Viasna.html", "copy of Wikipedia"),
        ("https://wikiless.lunar.icu/wiki/Meduza", "Wikipedia proxy"),
        ("https://news.1rj.ru/str/reforum_io/1207", "copy of Telegram posts"),
        ("https://d3fyvoj1y8yuac.cloudfront.net/a/31803319.html", "CDN copy"),
        ("https://rulit.me/books/x.html", "book or document site"),
        ("https://bnnbreaking.com/world/x", "content farm"),
        ("https://meduza.io/en ; see the about page", "not an http"),
    ],
)
def test_a_source_is_never_a_copy_of_one(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        norm("source", value)


def test_sources_are_urls_written_back_one_way() -> None:
    assert norm("source", " ; https://meduza.io/en  ;\thttps://www.dw.com/ru/a  https://meduza.io/en ;") == (
        "https://meduza.io/en ; https://www.dw.com/ru/a"
    )


DESIGNATION = {
    "authority": "ru-minjust",
    "kind": "foreign-agent",
    "date": "2021-04-23",
    "source": "https://meduza.io/en/news/2021/04/23/x",
}


def test_a_designation_is_who_what_when_and_where_reported() -> None:
    assert norm("designations", [DESIGNATION]) == [DESIGNATION]
    lifted = {**DESIGNATION, "date": "2021-04", "lifted": "2024"}
    assert norm("designations", [lifted]) == [lifted]
    # a CSV cell holds the list as JSON
    assert norm("designations", '[{"authority": "ru-minjust", "kind": "foreign-agent", "date": 2021, '
                                '"source": "https://meduza.io/x"}]')[0]["date"] == "2021"  # fmt: skip


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"authority": "ru-kremlin"}, "not a designating authority"),
        ({"kind": "spy"}, "not a kind of designation"),
        ({"date": None}, "needs date"),
        ({"source": None}, "needs source"),
        ({"source": "https://wikimili.com/en/Meduza"}, "copy of Wikipedia"),
        ({"lifted": "2020-01-01"}, "cannot be lifted"),
        ({"reason": "x"}, "has no field 'reason'"),
    ],
)
def test_a_designation_without_its_facts_is_refused(change: dict, reason: str) -> None:
    with pytest.raises(ValueError, match=f"item 1: .*{reason}"):
        norm("designations", [{**DESIGNATION, **change}])


def test_a_warning_needs_both_languages_a_date_and_a_source() -> None:
    warning = {
        "en": "Refusals at the border.",
        "ru": "Отказы на границе.",
        "date": "2024-06",
        "source": "https://civil.ge/x",
    }
    assert norm("warnings", [warning]) == [warning]
    with pytest.raises(ValueError, match="needs ru"):
        norm("warnings", [{**warning, "ru": ""}])
    with pytest.raises(ValueError, match="JSON array"):
        norm("warnings", "Refusals at the border")


def test_the_eu_hosts_union_wide_rules_only() -> None:
    assert norm("host_countries", ["eu"]) == ["EU"]
    with pytest.raises(ValueError, match="ISO 3166-1"):
        norm("countries_served", ["EU"])
    record = {**{f.key: F.empty_value(f) for f in F.FIELDS}, "slug": "x", "kind": "ngo", "host_countries": ["EU"]}
    assert any("EU is the host only" in str(e) for e in F.check_complete(record))


def test_a_verified_entry_says_where_it_was_checked() -> None:
    record = {f.key: F.empty_value(f) for f in F.FIELDS} | {"verified_at": "2026-11-30T00:00:00+00:00"}
    assert any(e.field == "source" for e in F.check_complete(record))


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


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"ru": "   "}, "needs ru"),
        ({"source": " ; "}, "needs source"),
        ({"date": "2099-01"}, "in the future"),
        ({"date": "0001"}, "check the year"),
        ({"en": "Safe: do not install app \u202eexe.jpg"}, "U\\+202E RIGHT-TO-LEFT OVERRIDE"),
    ],
)
def test_a_blank_future_or_disguised_warning_is_refused(change: dict, reason: str) -> None:
    warning = {
        "en": "Refusals at the border.",
        "ru": "Отказы на границе.",
        "date": "2024-06",
        "source": "https://civil.ge/x",
    }
    with pytest.raises(ValueError, match=reason):
        norm("warnings", [{**warning, **change}])


def test_no_text_field_holds_characters_that_act_instead_of_showing() -> None:
    for key in ("name.en", "summary.ru", "status_note", "program.state_note.en"):
        with pytest.raises(ValueError, match="U\\+2066 LEFT-TO-RIGHT ISOLATE"):
            norm(key, "Meduza \u2066x\u2069")
    assert norm("summary.en", "First line.\nSecond line.") == "First line.\nSecond line."


def test_whole_entry_rules_on_programs() -> None:
    record = {f.key: F.empty_value(f) for f in F.FIELDS} | {"slug": "p", "kind": "program", "host_countries": ["DE"]}
    record |= {"program.state": "open", "program.next_call.opens": "2027-03", "program.next_call.closes": "2027-01-15"}
    record |= {"designations": [DESIGNATION]}
    messages = [str(error) for error in F.check_complete(record)]
    assert "'program.next_call': the call cannot close (2027-01-15) before it opens (2027-03)" in messages
    assert "'designations': a program is not designated; designations belong to organizations" in messages
    with pytest.raises(ValueError, match="in the future"):
        norm("verified_at", "2099-01-01")
