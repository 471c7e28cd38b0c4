"""Crawled values never act on the maintainer's terminal, and never reach an entry while they hide something.

A home page may advertise a feed or an address holding ESC sequences (clear the screen, recolour, an OSC 8
hyperlink that shows one address and opens another), C1 controls (U+009B is CSI to some terminals) or bidi
overrides (U+202E shows text backwards). Two layers hold: the field rules refuse such URLs and addresses,
so they are never proposed and can never be accepted; and whatever the database holds anyway, every
human form of output shows these characters as escapes (`\\x1b`, `\\u202e`) instead of writing them.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crawlers.run import run_crawl
from directory import entries, fields, health, proposals
from directory.models import Post, Proposal, utcnow
from directory.store import Store
from pipeline.commands import output
from pipeline.commands.output import visible
from tests.conftest import Cli, entry_record
from tests.fixtures.web.sites_encoding import BIDI_EMAIL, ESC, HOSTILE_FEEDS
from tests.fixtureweb import FixtureWeb
from tests.test_crawlers import options

ME = entries.Actor("maintainer")

# What a terminal must never be given raw, written out here rather than taken from the code under test:
# C0 but tab and line feed, DEL, C1, bidi marks, embeddings, overrides and isolates, zero-width characters,
# line and paragraph separators, the BOM.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")

OSC8_URL = f"https://good.example/{ESC}]8;;http://evil.example/{ESC}\\feed.xml{ESC}]8;;{ESC}\\"
HOSTILE_EVIDENCE = {
    "url": f"https://good.example/{ESC}[2J{ESC}[H",
    "seen": "feed link on the home page \u202egnp.exe",
    "time": "\u009b31m2026-11-30",
}
HOSTILE_DIFF = (
    "--- before\n+++ after\n@@ -1,2 +1,2 @@\n"
    "-Приём заявлений открыт\u2028+ forged: applications are open again\n"
    f"+Приём заявлений {ESC}[8mскрыт{ESC}[0m приостановлен \u202eдо 2026\u202c\n"
)
HOSTILE_TITLE = f"Новости {ESC}]0;pwned\x07 \u202eevil\u202c \u009b2J"


# --------------------------------------------------------------------------- the character class


def test_hidden_is_every_control_format_and_default_ignorable_character() -> None:
    """`fields.HIDDEN` is written out for speed; this holds it to the running Python's Unicode database."""
    hidden_categories = {"Cc", "Cf", "Zl", "Zp", "Cs"}
    missing, extra = [], []
    for code in range(0x110000):
        char = chr(code)
        category = unicodedata.category(char)
        matched = fields.HIDDEN.match(char) is not None
        if category in hidden_categories and not matched:
            missing.append(f"U+{code:04X}")
        elif matched and category not in hidden_categories and category != "Cn" and not _default_ignorable(code):
            extra.append(f"U+{code:04X}")
    assert missing == [] and extra == []


def test_replace_hidden_finds_what_hidden_finds() -> None:
    """The fast path skips runs of characters none of which `HIDDEN` matches: every code point is
    replaced alone, between safe neighbours, and in a run with others, exactly as `HIDDEN.sub` does."""
    mark = lambda match: f"<{ord(match.group()):X}>"  # noqa: E731
    chars = [chr(code) for code in range(0x110000)]
    for char in chars:
        text = f"aя{char}—b"
        assert fields.replace_hidden(text, mark) == fields.HIDDEN.sub(mark, text), f"U+{ord(char):04X}"
    text = "".join(chars)
    assert fields.replace_hidden(text, mark) == fields.HIDDEN.sub(mark, text)


def _default_ignorable(code: int) -> bool:
    """Default_Ignorable_Code_Point outside Cc/Cf (DerivedCoreProperties.txt): marks and fillers."""
    ranges = (
        *((0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x3164, 0x3164)),
        *((0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0x1D173, 0x1D17A), (0xE0100, 0xE01EF), (0x1BCA0, 0x1BCA3)),
    )
    return any(low <= code <= high for low, high in ranges)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("https://example.org/feed.xml", "https://example.org/feed.xml"),
        ("Свободное слово — новости", "Свободное слово — новости"),
        (f"{ESC}[2J{ESC}[31mred", "\\x1b[2J\\x1b[31mred"),
        (f"{ESC}]8;;http://evil/{ESC}\\text{ESC}]8;;{ESC}\\", "\\x1b]8;;http://evil/\\x1b\\text\\x1b]8;;\\x1b\\"),
        ("/lmx.\u202edeef", "/lmx.\\u202edeef"),
        ("\u009b2J \x7f", "\\x9b2J \\x7f"),
        ("one\ntwo\tthree\rfour", "one\\ntwo\\tthree\\rfour"),
        ("exa\u00admple\u200b.org\ufeff", "exa\\xadmple\\u200b.org\\ufeff"),
        ("tag\U000e0041", "tag\\U000e0041"),
        ("line\u2028separator", "line\\u2028separator"),
    ],
)
def test_visible_shows_what_a_terminal_would_act_on(raw: str, shown: str) -> None:
    assert visible(raw) == shown
    assert not RAW.search(visible(raw))


def test_visible_keeps_line_feeds_only_when_asked() -> None:
    assert visible(f"a{ESC}[2J\nb\rc", lines=True) == "a\\x1b[2J\nb\\rc"


@pytest.mark.parametrize("terminal", [True, False])
def test_json_escapes_change_no_value_and_csv_is_data_unless_a_person_reads_it(
    terminal: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: terminal)
    rows = [{"id": 1, "proposed": OSC8_URL, "seen": HOSTILE_EVIDENCE["seen"]}]
    output.emit_json(rows)
    written = capsys.readouterr().out
    assert not RAW.search(written) and json.loads(written) == rows
    output.emit_csv(rows, ["id", "proposed", "seen"])
    written = capsys.readouterr().out
    [row] = csv.DictReader(io.StringIO(written))
    if terminal:
        assert not RAW.search(written) and row["proposed"] == visible(OSC8_URL)
    else:
        assert row == {"id": "1", "proposed": OSC8_URL, "seen": HOSTILE_EVIDENCE["seen"]}


# --------------------------------------------------------------------------- the field rules


@pytest.mark.parametrize("path", HOSTILE_FEEDS)
def test_urls_hiding_characters_are_refused_with_the_reason(path: str) -> None:
    with pytest.raises(ValueError, match="invisible or control characters that can disguise it") as refused:
        fields.FIELD_BY_KEY["feeds"].normalize([f"https://example.org{path}"])
    assert "U+" in str(refused.value)


@pytest.mark.parametrize("key", ["website", "program.official_url", "watch.url", "contacts.other"])
def test_every_url_field_refuses_a_bidi_override(key: str) -> None:
    value = "https://example.org/\u202efdp.exe"
    with pytest.raises(ValueError, match=r"U\+202E RIGHT-TO-LEFT OVERRIDE"):
        fields.FIELD_BY_KEY[key].normalize([value] if fields.FIELD_BY_KEY[key].many else value)


@pytest.mark.parametrize("address", [BIDI_EMAIL, "press\u200b@example.org", "press\u00ad@example.org"])
def test_emails_hiding_characters_are_refused(address: str) -> None:
    with pytest.raises(ValueError, match="is not an email address: it contains invisible or control"):
        fields.FIELD_BY_KEY["contacts.email"].normalize(address)


def test_clean_urls_and_addresses_still_pass() -> None:
    assert fields.FIELD_BY_KEY["website"].normalize("https://пример.рф/новости?q=1#top") == (
        "https://пример.рф/новости?q=1#top"
    )
    assert fields.FIELD_BY_KEY["contacts.email"].normalize("Редакция@example.org") == "Редакция@example.org"


def test_a_check_proposes_nothing_that_hides_characters(store: Store) -> None:
    """What the crawler hands over is refused when queued, whatever the spider let through."""
    with store.session() as session:
        entries.add_entry(session, entry_record("exiles", website="https://exiles.example.org/"), ME)
    check = health.Check(
        url="https://exiles.example.org/",
        status_code=200,
        feeds=tuple(f"https://exiles.example.org{path}" for path in HOSTILE_FEEDS),
        email=BIDI_EMAIL,
    )
    with store.session() as session:
        assert health.record_check(session, "exiles", check) == []


# --------------------------------------------------------------------------- crawl, review, publish


def test_a_hostile_home_page_cannot_disguise_what_review_shows_or_break_the_opml(
    store: Store, fixture_web: FixtureWeb, cli: Cli, tmp_path: Path
) -> None:
    with store.session() as session:
        entries.add_entry(session, entry_record("exiles", website=fixture_web.url("escape-in-feed-link")), ME)
    summary = run_crawl("site", options(store))
    assert summary.returncode == 0, summary.stats.get("stderr")

    # Only the honest feed is proposed: the others hide characters, and the address is refused too.
    with store.session() as session:
        pending = proposals.list_proposals(session)
        assert [(p.field, p.value) for p in pending] == [
            ("feeds", fixture_web.url("escape-in-feed-link", "/honest.xml"))
        ]
        assert not any(RAW.search(json.dumps(p.value, ensure_ascii=False)) for p in pending)
        assert not any(fields.hidden_characters(str(p.value)) for p in pending)
        honest = next(p.id for p in pending if p.field == "feeds")
        entry_id = pending[0].entry_id

    # Whatever the database holds anyway, the output layer shows it: hostile rows written directly.
    with store.session() as session:
        tampered = _proposal(entry_id, "feeds", OSC8_URL, HOSTILE_EVIDENCE)
        page = _proposal(
            entry_id,
            proposals.PAGE_FIELD,
            {"url": "https://good.example/rules", "hash": "b", "old_hash": "a", "diff": HOSTILE_DIFF},
            {**HOSTILE_EVIDENCE, "diff": HOSTILE_DIFF},
        )
        session.add_all([tampered, page])
        session.add(Post(entry_id=entry_id, feed_url=OSC8_URL, guid="hostile", title=HOSTILE_TITLE, link=OSC8_URL))
        session.flush()
        tampered_id, page_id = tampered.id, page.id

    shown = cli("review")
    assert shown.exit_code == 0, shown.output
    assert not RAW.search(shown.output)
    assert "\\x1b]8;;http://evil.example/\\x1b\\feed.xml" in shown.output  # the real target, in plain sight
    assert "\\x1b[2J" in shown.output and "gnp.exe" in shown.output and "\\u202e" in shown.output
    assert "\\x9b31m" in shown.output
    # The page's U+2028 could not start a line of its own that looks like an added line.
    assert not any(line.lstrip().startswith("+ forged") for line in shown.output.splitlines())
    assert "\\u2028+ forged" in shown.output

    as_json = cli("review", "--format", "json")
    assert as_json.exit_code == 0 and not RAW.search(as_json.output)
    rows = {row["id"]: row for row in json.loads(as_json.output)}
    assert rows[tampered_id]["proposed"] == OSC8_URL  # JSON escapes change no value
    assert rows[tampered_id]["evidence_seen"] == HOSTILE_EVIDENCE["seen"]
    assert rows[page_id]["diff"] == HOSTILE_DIFF

    # CSV is data: piped (as here) it keeps every value as stored, to be read back by a program.
    as_csv = cli("review", "--format", "csv")
    assert as_csv.exit_code == 0
    by_id = {row["id"]: row for row in csv.DictReader(io.StringIO(as_csv.output))}
    assert by_id[str(tampered_id)]["proposed"] == OSC8_URL

    # The tampered proposal cannot be accepted: the field's rules refuse its value, and say so visibly.
    refused = cli("review", "accept", str(tampered_id))
    assert refused.exit_code == 1
    assert "invisible or control characters" in refused.output and not RAW.search(refused.output)

    accepted = cli("review", "accept", str(honest))
    assert accepted.exit_code == 0, accepted.output
    shown = cli("entries", "show", "exiles")
    assert shown.exit_code == 0 and not RAW.search(shown.output)

    public = tmp_path / "public"
    published = cli("publish", "--output", str(public))
    assert published.exit_code == 0, published.output
    assert not RAW.search(published.output)  # what it left out is named, visibly
    for lang in ("en", "ru"):
        tree = ET.parse(public / lang / "organizations.opml")
        urls = [outline.get("xmlUrl") for outline in tree.iter("outline") if outline.get("xmlUrl")]
        assert urls == [fixture_web.url("escape-in-feed-link", "/honest.xml")]
    for written in public.rglob("*"):
        if written.suffix in (".opml", ".atom", ".rss", ".xml"):
            ET.parse(written)  # every feed file is well-formed, the hostile post's included or left out
    with store.session() as session:
        assert session.scalar(select(Post.title).where(Post.guid == "hostile")) == HOSTILE_TITLE


def _proposal(entry_id: int, field: str, value: Any, evidence: dict[str, Any]) -> Proposal:
    """A pending proposal row written as is, past every rule that `proposals.propose` applies."""
    return Proposal(
        entry_id=entry_id,
        kind="feed-found" if field == "feeds" else "page-change",
        field=field,
        operation="add" if field == "feeds" else "set",
        value=value,
        value_key=proposals.value_key([field, value]),
        current=None,
        evidence=evidence,
        origin="crawler:site",
        status="pending",
        created_at=utcnow(),
    )
