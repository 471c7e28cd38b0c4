"""Bounces that arrive later: a mixed maildir of DSNs, non-standard bounces, auto-replies, replies and
junk, read through `nansen bounces` and `process()`, on both databases.

The fixtures under tests/fixtures/bounces/ were written for these tests (see its README). Their
Message-IDs are those of edition 1 for the subscriber keys set here; `bounce()` rewrites one for
another subscriber or edition.
"""

from __future__ import annotations

import imaplib
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Self

import pytest
from flufl.bounce import all_failures
from flufl.bounce._detectors.dsn import DSN
from flufl.bounce._detectors.exim import Exim
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from directory import entries
from directory.store import Store
from newsletter import bounces, editions
from newsletter.bounces import BounceSettings, Incoming, Maildir, Outcome, analyse, parse, process
from newsletter.delivery import MaildirSender
from newsletter.editions import NewsletterSettings
from newsletter.models import Count, Delivery, Edition, Subscriber
from newsletter.tokens import Tokens
from pipeline import config, jobs, runs
from tests.conftest import entry_record

FIXTURES = Path(__file__).parent / "fixtures" / "bounces"
ME = entries.Actor("maintainer")
KEYS = {  # the first 20 characters are what our Message-IDs carry
    "anna@example.org": "0a" * 16,
    "boris@example.net": "0b" * 16,
    "galina@example.com": "0c" * 16,
    "dmitri@example.org": "0d" * 16,
    "elena@example.org": "0e" * 16,
    "fedor@example.org": "0f" * 16,
}
MIXED = {  # fixture → what it is to `nansen bounces`
    "postfix-dsn-user-unknown.eml": "bounce",
    "exim-failed-recipients.eml": "bounce",
    "gmail-dsn-address-not-found.eml": "bounce",
    "postfix-dsn-mailbox-full.eml": "bounce",
    "dsn-unknown-recipient.eml": "bounce",
    "out-of-office.eml": "not a bounce",
    "ordinary-reply.eml": "not a bounce",
    "malformed.eml": "not a bounce",
}


def newsletter_settings() -> NewsletterSettings:
    return NewsletterSettings(
        site_url="https://nansen.test/",
        sender="Nansen <newsletter@nansen.test>",
        tokens=Tokens("test-secret-0123456789abcdef"),
        message_domain="nansen.test",
    )


def add_subscribers(store: Store, people: dict[str, str], countries: tuple[str, ...] = ()) -> None:
    with store.session() as session:
        for email, key in people.items():
            session.add(
                Subscriber(
                    email=email,
                    key=key,
                    language="en",
                    countries=list(countries),
                    status="active",
                    consent={"method": "test"},
                )
            )


def send_edition(store: Store, outbox: Path, slug: str, countries: tuple[str, ...] = ("GE",)) -> int:
    """One more edition (one new entry in `countries`), delivered into a maildir; its number."""
    with store.session() as session:
        entries.add_entry(session, entry_record(slug, host_countries=list(countries)), ME)
    report = editions.send(store.session, newsletter_settings(), MaildirSender(outbox))
    assert report.status == "sent" and report.edition is not None
    return report.edition


@pytest.fixture
def sent(store: Store, tmp_path: Path) -> Store:
    """Six active subscribers who were each sent edition 1."""
    add_subscribers(store, KEYS)
    assert send_edition(store, tmp_path / "outbox", "first-org") == 1
    ids = {parse(p.read_bytes())["Message-ID"] for p in (tmp_path / "outbox" / "new").iterdir()}
    assert "<nansen.1.0a0a0a0a0a0a0a0a0a0a@nansen.test>" in ids  # the fixtures name real deliveries
    return store


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def bounce(name: str, *, edition: int = 1, email: str | None = None, key: str | None = None) -> bytes:
    """A fixture about another edition, or (for a Postfix one) another subscriber."""
    raw = fixture(name).replace(b"<nansen.1.", f"<nansen.{edition}.".encode())
    if email is not None and key is not None:
        old = re.search(rb"Final-Recipient: rfc822; (\S+)", raw)
        assert old is not None
        old_key = re.search(rb"<nansen\.\d+\.(\w+)@", raw)
        assert old_key is not None
        raw = raw.replace(old[1], email.encode()).replace(old_key[1], key[:20].encode())
    return raw


def make_maildir(path: Path, messages: dict[str, bytes], *, seen: dict[str, bytes] | None = None) -> Path:
    for sub in ("new", "cur", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    for number, (name, raw) in enumerate(messages.items()):
        (path / "new" / f"17964{number:05d}.M{number}P1.mx.{name}").write_bytes(raw)
    for number, (name, raw) in enumerate((seen or {}).items()):
        (path / "cur" / f"17963{number:05d}.M{number}P1.mx.{name}:2,S").write_bytes(raw)
    return path


def mixed_maildir(path: Path) -> Path:
    """Every fixture, plus a bounce a person already read (flagged seen: never read again)."""
    seen = {
        "read-already.eml": bounce(
            "postfix-dsn-user-unknown.eml", email="fedor@example.org", key=KEYS["fedor@example.org"]
        )
    }
    return make_maildir(path, {name: fixture(name) for name in MIXED}, seen=seen)


def people(store: Store) -> dict[str, tuple[str, int, int | None]]:
    with store.session() as session:
        return {
            s.email: (s.status, s.soft_bounces, s.last_soft_edition)
            for s in session.scalars(select(Subscriber).order_by(Subscriber.email))
        }


def ledger(store: Store) -> dict[tuple[str, int], tuple[str, str | None]]:
    with store.session() as session:
        rows = session.execute(
            select(Subscriber.email, Edition.number, Delivery.status, Delivery.last_error)
            .join(Delivery, Delivery.subscriber_id == Subscriber.id)
            .join(Edition, Edition.id == Delivery.edition_id)
        )
        return {(email, number): (status, error) for email, number, status, error in rows}


def names(path: Path, sub: str) -> list[str]:
    return sorted(p.name for p in (path / sub).iterdir())


class ListMailbox:
    """A mailbox that forgets to flag anything: as if the process died after each commit."""

    name = "list"

    def __init__(self, messages: dict[str, bytes]) -> None:
        self.messages = messages
        self.seen: list[str] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def unread(self) -> Iterator[Incoming]:
        for ref, raw in self.messages.items():
            yield Incoming(ref, parse(raw))

    def mark_seen(self, ref: str) -> None:
        self.seen.append(ref)


# --------------------------------------------------------------------------- the formats


@pytest.mark.parametrize(
    ("name", "address"),
    [
        ("postfix-dsn-user-unknown.eml", b"anna@example.org"),
        ("exim-failed-recipients.eml", b"boris@example.net"),
        ("gmail-dsn-address-not-found.eml", b"galina@example.com"),
        ("postfix-dsn-mailbox-full.eml", b"dmitri@example.org"),
        ("dsn-unknown-recipient.eml", b"stranger@example.net"),
    ],
)
def test_flufl_bounce_itself_detects_each_bounce_fixture(name: str, address: bytes) -> None:
    temporary, permanent = all_failures(parse(fixture(name)))
    assert temporary | permanent == {address}


def test_exim_and_gmail_fixtures_are_found_by_the_detectors_for_their_formats() -> None:
    """Exim's own bounce (no DSN part) by flufl.bounce's Exim detector, Gmail's by its RFC 3464 one."""
    exim = parse(fixture("exim-failed-recipients.eml"))
    assert not any(part.get_content_type() == "message/delivery-status" for part in exim.walk())
    assert Exim().process(exim) == (frozenset(), frozenset({b"boris@example.net"}))
    assert DSN().process(exim) == (frozenset(), frozenset())
    gmail = parse(fixture("gmail-dsn-address-not-found.eml"))
    assert DSN().process(gmail) == (frozenset(), frozenset({b"galina@example.com"}))


def test_flufl_bounce_alone_would_take_prose_for_a_bounce() -> None:
    """Why only mail from a mail system is given to it: its heuristics read `colleague, x@y.org,`."""
    for name, address in (("ordinary-reply.eml", b"fedor@example.org"), ("out-of-office.eml", b"office@example.org")):
        assert address in all_failures(parse(fixture(name)))[1]
        assert analyse(parse(fixture(name))) == bounces.Analysis(reason="not from a mail system")


@pytest.mark.parametrize(
    ("name", "address", "soft", "words", "message_id"),
    [
        ("postfix-dsn-user-unknown.eml", "anna@example.org", False, "550 5.1.1 <anna@example.org>: Recipient", "0a"),
        ("exim-failed-recipients.eml", "boris@example.net", False, "550 5.1.1 <boris@example.net>: mailbox", "0b"),
        ("gmail-dsn-address-not-found.eml", "galina@example.com", False, "550-5.1.1 The email account", "0c"),
        ("postfix-dsn-mailbox-full.eml", "dmitri@example.org", True, "452 4.2.2 <dmitri@example.org>: Mailbox", "0d"),
        ("dsn-unknown-recipient.eml", "stranger@example.net", False, "550 5.1.1 <stranger@example.net>", None),
    ],
)
def test_analyse_reads_address_kind_diagnostic_and_our_message_id(
    name: str, address: str, soft: bool, words: str, message_id: str | None
) -> None:
    analysis = analyse(parse(fixture(name)))
    [failure] = analysis.failures
    assert (failure.address, failure.soft) == (address, soft)
    assert failure.diagnostic.startswith(words) and "\n" not in failure.diagnostic
    expected = () if message_id is None else (f"<nansen.1.{message_id * 10}@nansen.test>",)
    assert analysis.message_ids == expected


def test_a_delayed_dsn_and_a_full_mailbox_in_any_class_are_soft() -> None:
    delayed = fixture("postfix-dsn-user-unknown.eml").replace(b"Action: failed", b"Action: delayed")
    assert analyse(parse(delayed)).failures[0].soft  # flufl.bounce's "temporary"
    over_quota = fixture("gmail-dsn-address-not-found.eml").replace(b"Status: 5.1.1", b"Status: 5.2.2")
    assert analyse(parse(over_quota)).failures[0].soft
    permanent = fixture("postfix-dsn-mailbox-full.eml").replace(b"Status: 4.2.2", b"Status: 5.1.1")
    assert not analyse(parse(permanent)).failures[0].soft


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(MIXED)),
    cut=st.integers(min_value=0, max_value=6000),
    junk=st.binary(max_size=300),
)
def test_no_message_can_make_it_crash(name: str, cut: int, junk: bytes) -> None:
    """Truncated fixtures with random bytes after them: each is a bounce or not, nothing raises."""
    analysis = analyse(parse(fixture(name)[:cut] + junk))
    assert isinstance(analysis, bounces.Analysis)
    assert all("\n" not in f.diagnostic and len(f.diagnostic) <= bounces.DIAGNOSTIC_CHARS for f in analysis.failures)


def test_an_exception_inside_flufl_bounce_is_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(message: Any) -> Any:
        raise UnicodeDecodeError("ascii", b"\xff", 0, 1, "a detector gave up")

    monkeypatch.setattr(bounces, "all_failures", broken)
    analysis = analyse(parse(fixture("postfix-dsn-user-unknown.eml")))
    assert (analysis.is_bounce, analysis.reason) == (False, "unreadable (UnicodeDecodeError)")


# --------------------------------------------------------------------------- the command on a mixed maildir


def test_bounces_command_marks_the_right_subscribers_from_a_mixed_maildir(
    cli: Any, sent: Store, tmp_path: Path
) -> None:
    box = mixed_maildir(tmp_path / "bounces")
    result = cli("bounces", str(box))
    assert result.exit_code == 0, result.output
    assert result.output == (
        "read 8 messages: 5 bounces (3 permanent marked bounced, 1 soft counted, 0 soft limit reached, "
        "1 not matched, 0 unchanged); 3 not a bounce\n"
    )
    assert people(sent) == {
        "anna@example.org": ("bounced", 0, None),
        "boris@example.net": ("bounced", 0, None),
        "dmitri@example.org": ("active", 1, 1),
        "elena@example.org": ("active", 0, None),  # her out-of-office reply is no bounce
        "fedor@example.org": ("active", 0, None),  # named in prose, and in a bounce a person already read
        "galina@example.com": ("bounced", 0, None),
    }
    rows = ledger(sent)
    assert rows[("anna@example.org", 1)] == (
        "bounced",
        "bounced later: 550 5.1.1 <anna@example.org>: Recipient address rejected: "
        "User unknown in virtual mailbox table",
    )
    assert rows[("boris@example.net", 1)] == (
        "bounced",
        "bounced later: 550 5.1.1 <boris@example.net>: mailbox does not exist",
    )
    assert rows[("galina@example.com", 1)][0] == "bounced"
    assert rows[("dmitri@example.org", 1)] == ("sent", "soft bounce: 452 4.2.2 <dmitri@example.org>: Mailbox full")
    assert rows[("elena@example.org", 1)] == ("sent", None) and rows[("fedor@example.org", 1)] == ("sent", None)
    with sent.session() as session:
        assert session.get(Count, "bounced").value == 3

    # Bounces are flagged seen; replies, auto-replies and junk stay unread for a person.
    assert sorted(n.split(".mx.")[1] for n in names(box, "new")) == [
        "malformed.eml",
        "ordinary-reply.eml",
        "out-of-office.eml",
    ]
    flagged = [n for n in names(box, "cur") if "read-already" not in n]
    assert len(flagged) == 5 and all(n.endswith(":2,S") for n in flagged)

    again = cli("bounces", str(box))
    assert again.output == (
        "read 3 messages: 0 bounces (0 permanent marked bounced, 0 soft counted, 0 soft limit reached, "
        "0 not matched, 0 unchanged); 3 not a bounce\n"
    )
    assert people(sent)["dmitri@example.org"] == ("active", 1, 1) and ledger(sent) == rows


def test_dry_run_shows_what_would_be_marked_and_writes_nothing(cli: Any, sent: Store, tmp_path: Path) -> None:
    box = mixed_maildir(tmp_path / "bounces")
    before_people, before_rows = people(sent), ledger(sent)
    before_files = {sub: names(box, sub) for sub in ("new", "cur")}
    text = cli("bounces", str(box), "--dry-run")
    assert text.exit_code == 0
    lines = text.output.splitlines()
    assert any("anna@example.org: would mark bounced: anna@example.org (by Message-ID)" in line for line in lines)
    assert any("dmitri@example.org: would count a soft bounce" in line for line in lines)
    assert any("stranger@example.net: not matched: no subscriber has this address" in line for line in lines)
    assert lines[-1].endswith("3 not a bounce — dry run, nothing written")

    result = cli("bounces", str(box), "--dry-run", "--format", "json")
    data = json.loads(result.output)
    assert (data["read"], data["bounces"], data["permanent_marked"], data["soft_counted"]) == (8, 5, 3, 1)
    assert (data["not_matched"], data["not_a_bounce"], data["dry_run"]) == (1, 3, True)
    marked = sorted(f["address"] for f in data["findings"] if f["outcome"] == "marked bounced")
    assert marked == ["anna@example.org", "boris@example.net", "galina@example.com"]
    assert people(sent) == before_people and ledger(sent) == before_rows
    assert {sub: names(box, sub) for sub in ("new", "cur")} == before_files
    with sent.session() as session:
        assert session.get(Count, "bounced") is None

    real = json.loads(cli("bounces", str(box), "--format", "json").output)
    assert {k: v for k, v in real.items() if k != "dry_run"} == {k: v for k, v in data.items() if k != "dry_run"}


def test_reading_the_same_bounces_again_counts_nothing_twice(sent: Store) -> None:
    """Even with nothing flagged seen (a crash after each commit), a second run changes nothing."""
    mailbox = ListMailbox({name: fixture(name) for name in MIXED})
    first = process(sent.session, mailbox, BounceSettings())
    assert (first.permanent_marked, first.soft_counted, first.not_matched) == (3, 1, 1)
    assert sorted(mailbox.seen) == sorted(n for n, kind in MIXED.items() if kind == "bounce")
    state = (people(sent), ledger(sent))
    second = process(sent.session, mailbox, BounceSettings())
    assert (second.bounces, second.permanent_marked, second.soft_counted, second.unchanged) == (5, 0, 0, 4)
    assert (people(sent), ledger(sent)) == state


# --------------------------------------------------------------------------- matching


def test_without_our_message_id_a_report_changes_nothing(sent: Store, tmp_path: Path) -> None:
    """Anyone can mail a multipart/report naming an address they know: without one of our Message-IDs
    (which carry part of the reader's random key) it must not remove a subscriber."""
    send_edition(sent, tmp_path / "outbox", "second-org")
    no_id = re.sub(rb"Message-ID: <nansen[^\n]*\n", b"", fixture("postfix-dsn-user-unknown.eml"))
    assert analyse(parse(no_id)).message_ids == ()
    state = (people(sent), ledger(sent))
    report = process(sent.session, ListMailbox({"no-id": no_id}), BounceSettings())
    [finding] = report.findings
    assert finding.outcome == Outcome.NOT_MATCHED and finding.note == "no Message-ID of ours in it: not applied"
    assert (people(sent), ledger(sent)) == state


def test_our_message_id_wins_over_a_forwarded_address(sent: Store) -> None:
    """Anna forwards to another mailbox that bounces: the DSN names that one, the Message-ID names her."""
    forwarded = fixture("postfix-dsn-user-unknown.eml").replace(b"<anna@example.org>", b"<anna@forward.example>")
    forwarded = forwarded.replace(b"rfc822; anna@example.org", b"rfc822; anna@forward.example")
    forwarded = forwarded.replace(b"rfc822;anna@example.org", b"rfc822;anna@forward.example")
    report = process(sent.session, ListMailbox({"fwd": forwarded}), BounceSettings())
    [finding] = report.findings
    assert (finding.outcome, finding.address) == (Outcome.MARKED, "anna@forward.example")
    assert finding.note == "anna@example.org (by Message-ID): permanent failure"
    assert people(sent)["anna@example.org"][0] == "bounced"


def test_an_address_we_never_mailed_is_not_matched(store: Store) -> None:
    """A subscriber with no edition sent: a bounce naming them (forged, or about other mail) changes nothing."""
    add_subscribers(store, {"anna@example.org": KEYS["anna@example.org"]})
    no_id = re.sub(rb"Message-ID: <nansen[^\n]*\n", b"", fixture("postfix-dsn-user-unknown.eml"))
    report = process(
        store.session, ListMailbox({"x": no_id, "y": fixture("postfix-dsn-user-unknown.eml")}), BounceSettings()
    )
    assert [f.note for f in report.findings] == [
        "no Message-ID of ours in it: not applied",
        "its Message-ID matches no mail we sent",
    ]
    assert people(store)["anna@example.org"] == ("active", 0, None)


def test_a_bounce_for_someone_who_left_changes_only_the_ledger(sent: Store) -> None:
    with sent.session() as session:
        anna = session.scalar(select(Subscriber).where(Subscriber.email == "anna@example.org"))
        anna.status = "unsubscribed"
    report = process(sent.session, ListMailbox({"a": fixture("postfix-dsn-user-unknown.eml")}), BounceSettings())
    assert (report.findings[0].outcome, report.findings[0].note) == (
        Outcome.UNCHANGED,
        "anna@example.org (by Message-ID): already unsubscribed",
    )
    assert people(sent)["anna@example.org"][0] == "unsubscribed"
    assert ledger(sent)[("anna@example.org", 1)][0] == "bounced"


# --------------------------------------------------------------------------- soft bounces in a row


def test_soft_bounces_for_consecutive_editions_bounce_an_address(store: Store, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    add_subscribers(store, {k: v for k, v in KEYS.items() if k in ("dmitri@example.org", "elena@example.org")})
    add_subscribers(store, {"lena@example.org": "1a" * 16}, countries=("LV",))  # gets editions 1 and 3 only
    assert send_edition(store, outbox, "one", ("GE", "LV")) == 1
    assert send_edition(store, outbox, "two", ("GE",)) == 2
    assert send_edition(store, outbox, "three", ("GE", "LV")) == 3
    assert ("lena@example.org", 2) not in ledger(store) or ledger(store)[("lena@example.org", 2)][0] == "skipped"

    def soft(email: str, edition: int) -> bytes:
        key = KEYS.get(email) or "1a" * 16
        return bounce("postfix-dsn-mailbox-full.eml", edition=edition, email=email, key=key)

    def run(*messages: tuple[str, int]) -> bounces.BounceReport:
        box = ListMailbox(
            {f"{email}-{edition}-{n}": soft(email, edition) for n, (email, edition) in enumerate(messages)}
        )
        return process(store.session, box, BounceSettings(soft_limit=3))

    first = run(("dmitri@example.org", 1), ("elena@example.org", 1), ("lena@example.org", 1))
    assert first.soft_counted == 3
    second = run(("dmitri@example.org", 2), ("dmitri@example.org", 2), ("dmitri@example.org", 1))
    assert (second.soft_counted, second.unchanged) == (1, 2)  # one per edition, older ones ignored
    assert people(store)["dmitri@example.org"] == ("active", 2, 2)
    third = run(("dmitri@example.org", 3), ("elena@example.org", 3), ("lena@example.org", 3))
    assert (third.soft_counted, third.soft_limit_reached, third.permanent_marked) == (3, 1, 0)
    assert people(store) == {
        "dmitri@example.org": ("bounced", 0, 3),  # editions 1, 2, 3: three in a row
        "elena@example.org": ("active", 1, 3),  # edition 2 reached her: the row starts again
        "lena@example.org": ("active", 2, 3),  # she was sent no edition 2: still in a row
    }
    rows = ledger(store)
    assert rows[("dmitri@example.org", 3)] == (
        "bounced",
        "bounced later, soft bounce 3 in a row: 452 4.2.2 <dmitri@example.org>: Mailbox full",
    )
    assert rows[("dmitri@example.org", 2)][0] == "sent"


def test_the_soft_limit_is_a_setting(cli: Any, sent: Store, tmp_path: Path) -> None:
    box = make_maildir(tmp_path / "bounces", {"full": fixture("postfix-dsn-mailbox-full.eml")})
    result = cli("bounces", str(box), env={"NANSEN_SOFT_BOUNCE_LIMIT": "1"})
    assert "1 soft counted, 1 soft limit reached" in result.output
    assert people(sent)["dmitri@example.org"] == ("bounced", 0, 1)
    assert config.load().newsletter.soft_bounce_limit == 3


# --------------------------------------------------------------------------- maildir edges and errors


def test_the_maildir_reader_skips_what_is_not_an_unread_message(tmp_path: Path) -> None:
    box = make_maildir(tmp_path / "box", {"a": b"Subject: hi\n\nhello\n"})
    (box / "new" / ".hidden").write_bytes(b"x")
    (box / "new" / "folder").mkdir()
    (box / "cur" / "123.M1P1.mx:2,FS").write_bytes(b"seen")
    (box / "cur" / "124.M1P1.mx:2,T").write_bytes(b"trashed")
    (box / "cur" / "125.M1P1.mx:2,F").write_bytes(b"Subject: flagged, unread\n\nhi\n")
    (box / "cur" / "126.M1P1.mx").write_bytes(b"")
    maildir = Maildir(box)
    refs = [incoming.ref for incoming in maildir.unread()]
    assert refs == [f"new/{names(box, 'new')[1]}", "cur/125.M1P1.mx:2,F", "cur/126.M1P1.mx"]
    maildir.mark_seen("cur/125.M1P1.mx:2,F")
    maildir.mark_seen("new/gone-meanwhile")  # taken by a mail client: nothing to do
    assert "125.M1P1.mx:2,FS" in names(box, "cur")


def test_an_oversized_message_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bounces, "MAX_MESSAGE_BYTES", 100)
    box = make_maildir(tmp_path / "box", {"big": fixture("postfix-dsn-user-unknown.eml")})
    [incoming] = list(Maildir(box).unread())
    assert incoming.message is None and incoming.problem.startswith("too large")


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["/no/such/maildir"], {}, "/no/such/maildir: not a maildir (it needs cur/ and new/ folders)"),
        ([], {"NANSEN_BOUNCES_URL": ""}, "give a maildir or an IMAP URL, or set NANSEN_BOUNCES_URL"),
        (["pop3://user:hunter2@mail.example.org/"], {}, "must start with imaps:// or imap://"),
        (["imaps://mail.example.org/INBOX"], {}, "needs a user name and a password"),
        (["imaps://u:hunter2@mail.example.org:99999/INBOX"], {}, "the IMAP URL is malformed"),
    ],
)
def test_a_bad_source_is_one_line_and_never_shows_the_password(
    cli: Any, args: list[str], env: dict[str, str], message: str
) -> None:
    result = cli("bounces", *args, env=env)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(result.output.splitlines()) == 1 and message in result.output
    assert "hunter2" not in result.output


def test_parse_imap_url() -> None:
    address = bounces.parse_imap_url("imaps://bounces%40nansen.test:p%40ss%2Fw@imap.example.org/Bounces%20Folder")
    assert (address.user, address.password, address.host, address.port) == (
        "bounces@nansen.test",
        "p@ss/w",
        "imap.example.org",
        993,
    )
    assert address.folder == "Bounces Folder" and address.tls and not address.starttls
    assert address.display == "imaps://bounces@nansen.test@imap.example.org:993/Bounces Folder"
    plain = bounces.parse_imap_url("imap://u:p@127.0.0.1:1143?starttls=1")
    assert (plain.port, plain.folder, plain.tls, plain.starttls) == (1143, "INBOX", False, True)
    with pytest.raises(bounces.BounceError, match="applies to imap:// only"):
        bounces.parse_imap_url("imaps://u:p@h/INBOX?starttls=1")
    with pytest.raises(bounces.BounceError, match="unknown IMAP URL parameter 'tls'"):
        bounces.parse_imap_url("imap://u:p@h/INBOX?tls=1")


def test_an_imap_server_that_cannot_be_reached_is_one_line(cli: Any) -> None:
    result = cli("bounces", "imap://user:hunter2@127.0.0.1:9/INBOX")
    assert result.exit_code == 1 and len(result.output.splitlines()) == 1
    assert result.output.startswith("imap://user@127.0.0.1:9/INBOX: ") and "hunter2" not in result.output


# --------------------------------------------------------------------------- configuration and the scheduled job


def test_the_bounces_job_is_scheduled_daily_and_skipped_without_a_mailbox(
    sent: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NANSEN_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NANSEN_DATABASE_URL", sent.url)
    monkeypatch.delenv("NANSEN_BOUNCES_URL", raising=False)
    settings_ = config.load()
    assert "bounces" in config.JOBS and settings_.schedule.expressions()["bounces"] == "15 5 * * *"
    assert jobs.execute("bounces", settings_) == "skipped"

    box = mixed_maildir(tmp_path / "bounces")
    monkeypatch.setenv("NANSEN_BOUNCES_URL", str(box))
    assert jobs.execute("bounces", config.load()) == "ok"
    assert people(sent)["anna@example.org"][0] == "bounced"
    with sent.session() as session:
        [last, _skipped] = runs.recent(session, limit=2, job="bounces")
    assert (last.outcome, last.counts["permanent_marked"], last.counts["not_a_bounce"]) == ("ok", 3, 3)


def test_the_bounces_url_password_belongs_in_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "nansen.toml"
    path.write_text('[newsletter]\nbounces_url = "imaps://bounces:s3cret@imap.example.org/INBOX"\n', encoding="utf-8")
    monkeypatch.setenv("NANSEN_CONFIG", str(path))
    monkeypatch.delenv("NANSEN_BOUNCES_URL", raising=False)
    loaded = config.load()
    assert (
        f"{path}: [newsletter] bounces_url holds a password: put the URL in NANSEN_BOUNCES_URL instead"
        in loaded.problems
    )
    described = {name: value for name, value, _origin in config.describe(loaded)}
    assert described["newsletter.bounces_url"] == "imaps://bounces:***@imap.example.org/INBOX"
    monkeypatch.setenv("NANSEN_SOFT_BOUNCE_LIMIT", "0")
    assert any("NANSEN_SOFT_BOUNCE_LIMIT" in problem for problem in config.load().problems)
    assert config.load().newsletter.soft_bounce_limit == 3


def test_mailboxes_hand_email_messages_to_process(tmp_path: Path) -> None:
    box = make_maildir(tmp_path / "box", {"ooo": fixture("out-of-office.eml")})
    [incoming] = list(Maildir(box).unread())
    assert isinstance(incoming.message, EmailMessage) and incoming.message["Auto-Submitted"] == "auto-replied"


# --------------------------------------------------------------------------- a real IMAP server


def _pymap_command() -> list[str] | None:
    """pymap (an IMAP server from PyPI): NANSEN_TEST_PYMAP names its executable, else it is on PATH or
    importable here (`pip install pymap`)."""
    explicit = os.environ.get("NANSEN_TEST_PYMAP") or shutil.which("pymap")
    if explicit:
        return [explicit]
    if importlib.util.find_spec("pymap") is not None:
        return [sys.executable, "-c", "from pymap.main import main; main()"]
    return None


@pytest.fixture
def imap_server(tmp_path: Path) -> Iterator[int]:
    """pymap's in-memory backend on a free loopback port, user `bounces`, password `s3cret`."""
    command = _pymap_command()
    if command is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but pymap is not installed: the IMAP path must be tested in CI")
        pytest.skip("no IMAP server: `pip install pymap` (or set NANSEN_TEST_PYMAP) to test the IMAP path")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = ["--host", "127.0.0.1", "--port", str(port), "--no-tls", "dict"]
    log = (tmp_path / "pymap.log").open("wb")
    server = subprocess.Popen(
        [*command, *options, "--demo-user", "bounces", "--demo-password", "s3cret"], stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, (tmp_path / "pymap.log").read_text(errors="replace")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "pymap did not start listening within 30 s"
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def _imap(port: int) -> imaplib.IMAP4:
    connection = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    connection.login("bounces", "s3cret")
    connection.select("INBOX")
    return connection


def _seen_subjects(port: int) -> dict[str, bool]:
    """Each message's Subject → whether it is flagged \\Seen."""
    connection = _imap(port)
    try:
        found = {}
        _status, data = connection.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT X-TEST-NAME)])")
        for item in data:
            if isinstance(item, tuple):
                name = parse(item[1])["X-Test-Name"]
                found[str(name)] = b"\\Seen" in item[0]
        return found
    finally:
        connection.logout()


def test_bounces_from_an_imap_folder(cli: Any, sent: Store, imap_server: int) -> None:
    """The same mixed mailbox in a real IMAP server: UNSEEN in, \\Seen out, EXAMINE for a dry run."""
    connection = _imap(imap_server)
    for name in MIXED:
        connection.append("INBOX", None, None, b"X-Test-Name: " + name.encode() + b"\n" + fixture(name))
    fedor = bounce("postfix-dsn-user-unknown.eml", email="fedor@example.org", key=KEYS["fedor@example.org"])
    connection.append("INBOX", "(\\Seen)", None, b"X-Test-Name: read-already\n" + fedor)
    connection.logout()
    url = f"imap://bounces:s3cret@127.0.0.1:{imap_server}/INBOX"

    dry = cli("bounces", url, "--dry-run")
    assert dry.exit_code == 0 and dry.output.splitlines()[-1].startswith(
        "read 8 messages: 5 bounces (3 permanent marked"
    )
    assert _seen_subjects(imap_server) == {**dict.fromkeys(MIXED, False), "read-already": True}
    assert people(sent)["anna@example.org"][0] == "active"

    result = cli("bounces", env={"NANSEN_BOUNCES_URL": url})  # the setting, as the scheduled job reads it
    assert result.exit_code == 0, result.output
    assert result.output == (
        "read 8 messages: 5 bounces (3 permanent marked bounced, 1 soft counted, 0 soft limit reached, "
        "1 not matched, 0 unchanged); 3 not a bounce\n"
    )
    assert {email: state[0] for email, state in people(sent).items()} == {
        "anna@example.org": "bounced",
        "boris@example.net": "bounced",
        "dmitri@example.org": "active",
        "elena@example.org": "active",
        "fedor@example.org": "active",
        "galina@example.com": "bounced",
    }
    assert _seen_subjects(imap_server) == {
        **{name: kind == "bounce" for name, kind in MIXED.items()},
        "read-already": True,
    }
    again = cli("bounces", url)
    assert again.output.startswith("read 3 messages: 0 bounces") and people(sent)["dmitri@example.org"] == (
        "active",
        1,
        1,
    )

    wrong = cli("bounces", f"imap://bounces:wrong-pw@127.0.0.1:{imap_server}/INBOX")
    assert wrong.exit_code == 1 and len(wrong.output.splitlines()) == 1
    assert wrong.output.startswith(f"imap://bounces@127.0.0.1:{imap_server}/INBOX: ") and "wrong-pw" not in wrong.output
    missing = cli("bounces", f"imap://bounces:s3cret@127.0.0.1:{imap_server}/No%20Such")
    assert missing.exit_code == 1 and "no folder 'No Such'" in missing.output and "s3cret" not in missing.output
