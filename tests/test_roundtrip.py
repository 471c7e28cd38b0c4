"""Property: import → export → import creates no revision, in every export format, on both databases."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from directory import exports, imports
from directory import fields as F
from directory.models import Revision
from directory.store import Store
from directory.taxonomy import AUTHORITIES, DESIGNATION_KINDS, PROGRAM_STATES, STATUSES, TOPICS

_counter = itertools.count()
COUNTRIES = ["GE", "AM", "KZ", "RS", "LV", "LT", "DE", "PL", "RU", "BY", "TR", "IL", "ME"]
LANGUAGES = ["ru", "en", "be", "uk", "ka", "hy", "kk", "de"]

# Pieces that YAML, CSV or a spreadsheet read as something else when written carelessly: indicators, a
# comment after a space, keywords, dates and numbers, quotes, formula starts, line breaks, tabs, Cyrillic.
TRICKY = [
    "a: b", "- x", "#tag", "x #not a comment", "'", '"', "''", "Медуза", "ёлка", "yes", "no", "NO", "null",
    "~", "2025-01-01", "2025-07", "1e3", "0x1F", "010", "@handle", "=SUM(A1:A2)", "+7 495", "-1", "%", "!tag",
    "&a", "*b", "? q", "[a, b]", "{k: v}", "|", ">", "---", "...", "\n", "\n\n", "\n  ", " \n", "\t", "«»",
    " | ", ",", ";",
]  # fmt: skip
plain_text = st.text(
    alphabet=st.characters(categories=["L", "N", "P", "Zs"], exclude_characters="\x85"),
    min_size=1,
    max_size=40,
).filter(lambda s: not F.hidden_characters(s))  # letters such as U+115F HANGUL CHOSEONG FILLER show nothing
# Without white space at either end: `fields._plain` would fold the inside of "a\tb\n" only on a second pass.
text = (
    st.lists(plain_text | st.sampled_from(TRICKY), min_size=1, max_size=6)
    .map(lambda pieces: "".join(pieces).strip())
    .filter(bool)
)
maybe_text = st.none() | text
label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
# A URL may hold the characters that separate list items (` | `) and sources (` ; `): only with white space
# on each side are they separators.
url_tail = st.sampled_from(["", "?q=a|b", ";jsessionid=1", "?a=1;b=2|c", "|x"])
url = st.builds(lambda host, path, tail: f"https://{host}.org/{path}{tail}", label, label, url_tail)
partial_date = st.dates(dt.date(1995, 1, 1), dt.date(2025, 12, 31)).flatmap(
    lambda d: st.sampled_from([d.isoformat(), d.isoformat()[:7], d.isoformat()[:4]])
)
sources = st.lists(url, min_size=1, max_size=3, unique=True).map(" ; ".join)
designation = st.fixed_dictionaries(
    {
        "authority": st.sampled_from([a.slug for a in AUTHORITIES]),
        "kind": st.sampled_from([k.slug for k in DESIGNATION_KINDS]),
        "date": st.just("2021-04-23"),
        "source": sources,
    },
    optional={"lifted": st.sampled_from(["2023", "2024-02", "2025-06-30"])},
)
warning = st.fixed_dictionaries({"en": text, "ru": text, "date": partial_date, "source": sources})
moment = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2025, 12, 31), timezones=st.just(dt.UTC))


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["media", "ngo", "program"]))
    record: dict[str, Any] = {
        "slug": f"e{next(_counter)}-{draw(label)}",
        "kind": kind,
        "name.en": draw(text),
        "name.ru": draw(text),
        "summary.en": draw(text),
        "summary.ru": draw(text),
        "website": draw(st.none() | url),
        "other_domains": draw(st.lists(st.builds(lambda h: f"{h}.net", label), max_size=3)),
        "feeds": draw(st.lists(url, max_size=3)),
        "host_countries": draw(
            st.lists(st.sampled_from(COUNTRIES), min_size=1, max_size=1 if kind == "program" else 3)
        ),
        "countries_served": draw(st.lists(st.sampled_from(COUNTRIES), max_size=3)),
        "languages": draw(st.lists(st.sampled_from(LANGUAGES), max_size=3)),
        "topics": draw(st.lists(st.sampled_from([t.slug for t in TOPICS]), max_size=4)),
        "contacts.email": draw(st.none() | st.builds(lambda u, h: f"{u}@{h}.org", label, label)),
        "contacts.telegram": draw(st.none() | st.builds(lambda u: f"@tg{u}_x", label)),
        "contacts.other": draw(st.lists(url, max_size=2)),
        "status": draw(st.sampled_from(STATUSES)),
        "status_note": draw(maybe_text),
        "verified_at": draw(st.none() | moment),
        "verified_by": draw(maybe_text),
        "source": draw(sources),
        "designations": draw(st.lists(designation, max_size=0 if kind == "program" else 3)),
        "warnings": draw(st.lists(warning, max_size=2)),
        "watch.url": draw(st.none() | url),
        "watch.selector": draw(st.none() | st.sampled_from(["#rules", "main .content", "article p"])),
        "watch.ignore": draw(st.none() | st.sampled_from([r"Updated: [\d.: ]+", r"\d+ views"])),
    }
    if kind == "program":
        record.update(
            {
                "program.state": draw(st.sampled_from(PROGRAM_STATES)),
                "program.state_since": draw(st.none() | partial_date),
                "program.next_call.opens": draw(st.none() | st.just("2027-01")),
                "program.next_call.closes": draw(st.none() | st.sampled_from(["2027-03-01", "2027"])),
                "program.eligibility.en": draw(maybe_text),
                "program.eligibility.ru": draw(maybe_text),
                "program.official_url": draw(st.none() | url),
                "program.application_route.en": draw(maybe_text),
                "program.application_route.ru": draw(maybe_text),
            }
        )
        if draw(st.booleans()):
            record["program.state_note.en"], record["program.state_note.ru"] = draw(text), draw(text)
    return record


def revision_count(store: Store) -> int:
    with store.session() as session:
        return session.scalar(select(func.count(Revision.id))) or 0


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(records(), min_size=1, max_size=4), fmt=st.sampled_from(["yaml", "json", "csv"]))
def test_export_then_import_is_a_no_op(
    store: Store, tmp_path_factory: Any, batch: list[dict[str, Any]], fmt: str
) -> None:
    folder: Path = tmp_path_factory.mktemp("roundtrip")
    source = folder / "source.json"
    source.write_text(json.dumps([F.nest(r) for r in batch], default=lambda v: v.isoformat()), encoding="utf-8")
    with store.session() as session:
        assert imports.import_paths(session, [source], "prop").count("create") == len(batch)
    slugs = {record["slug"] for record in batch}
    with store.session() as session:
        exported = [r for r in exports.export_records(session) if r["slug"] in slugs]
    target = folder / f"export.{fmt}"
    target.write_text(exports.render(exported, fmt), encoding="utf-8")
    before = revision_count(store)
    with store.session() as session:
        plan = imports.import_paths(session, [target], "prop")
    assert [c.changes for c in plan.changes if c.action != "unchanged"] == []
    assert revision_count(store) == before
    with store.session() as session:
        again = [r for r in exports.export_records(session) if r["slug"] in slugs]
    assert again == exported
