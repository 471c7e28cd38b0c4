"""Host names and email domains by IDNA 2008 (UTS 46): `faß.de` is `xn--fa-hia.de`, never `fass.de`.

Python's "idna" codec (IDNA 2003) maps ß to "ss", which names another domain. These tests check the
host names an entry stores (directory.fields), and the address a reader's mail really goes to: the
SMTP envelope and the To header, as a real aiosmtpd server receives them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from email_validator import validate_email

from directory import fields as F
from directory.fields import ascii_host
from newsletter.delivery import Outcome, SmtpSender, SmtpSettings, build_message
from tests.conftest import free_port
from tests.mailsink import Sink, serving

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("faß.de", "xn--fa-hia.de"),  # IDNA 2003 (the codec) says fass.de
        ("FAß.DE", "xn--fa-hia.de"),
        ("ÖBB.at", "xn--bb-eka.at"),
        ("пример.рф", "xn--e1afmkfd.xn--p1ai"),
        ("ПРИМЕР.РФ", "xn--e1afmkfd.xn--p1ai"),
        ("пример。рф", "xn--e1afmkfd.xn--p1ai"),  # an ideographic full stop separates labels too
        ("ｅｘａｍｐｌｅ.org", "example.org"),  # full-width letters are mapped
        ("faß.de.", "xn--fa-hia.de"),
        ("meduza.io", "meduza.io"),
        ("Meduza.IO", "meduza.io"),
        ("www.example.org.", "www.example.org"),
        ("novaya-gazeta.eu", "novaya-gazeta.eu"),
        ("xn--fa-hia.de", "xn--fa-hia.de"),
        ("XN--FA-HIA.DE", "xn--fa-hia.de"),
        ("ab--cd.de", "ab--cd.de"),  # an ASCII name is accepted as before
    ],
)
def test_ascii_host(host: str, expected: str) -> None:
    assert ascii_host(host) == expected


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("a b.de", "'a b' may only have letters, digits and inner hyphens"),
        ("fa ß.de", "codepoint U+0020 at position 3 of 'fa ß' not allowed"),
        ("a_b.de", "'a_b' may only have letters, digits and inner hyphens"),
        ("-news.org", "'-news' may only have letters, digits and inner hyphens"),
        ("a..b", "it has an empty label"),
        ("faß..de", "it has an empty label"),
        (".example.org", "it has an empty label"),
        ("", "it has an empty label"),
        ("a" * 64 + ".de", "a label is longer than 63 characters"),
        ("ä" * 64 + ".de", "label too long"),
        ("xn--zz.de", "'xn--zz' is not a valid A-label"),
        ("a\u200db.de", "joiner U+200D not allowed at position 2 in 'a\\u200db'"),
        ("example", "it needs at least two labels, as in example.org"),
        ("1.2.3", "its last label is a number"),
        ("a." * 127 + "de", "it is longer than 253 characters"),
    ],
)
def test_ascii_host_refuses_with_the_reason(host: str, reason: str) -> None:
    with pytest.raises(ValueError) as refused:
        ascii_host(host)
    assert str(refused.value) == f"{host!r} is not a valid host name: {reason}"


def test_entry_fields_store_readable_names_and_refuse_in_one_line() -> None:
    domains = F.FIELD_BY_KEY["other_domains"]
    assert domains.normalize(["FAß.DE", "ÖBB.at", "пример.рф.", "Meduza.IO", "xn--fa-hia.de"]) == [
        "faß.de",
        "öbb.at",
        "пример.рф",
        "meduza.io",
        "xn--fa-hia.de",
    ]
    assert F.FIELD_BY_KEY["website"].normalize("https://faß.de/über") == "https://faß.de/über"
    assert [str(error) for error in F.check_record({"other_domains": ["ok.org", "a..b"]})] == [
        "'other_domains': 'a..b' is not a valid host name: it has an empty label"
    ]
    assert [str(error) for error in F.check_record({"website": "https://faß..de/"})] == [
        "'website': 'faß..de' is not a valid host name: it has an empty label"
    ]


@pytest.mark.parametrize(
    ("address", "stored", "sent"),
    [
        ("reader@faß.de", "reader@faß.de", "reader@xn--fa-hia.de"),
        ("reader@xn--fa-hia.de", "reader@faß.de", "reader@xn--fa-hia.de"),
        ("Reader@ÖBB.at", "Reader@öbb.at", "Reader@xn--bb-eka.at"),
        ("reader@пример.рф", "reader@пример.рф", "reader@xn--e1afmkfd.xn--p1ai"),
        ("reader@example.org", "reader@example.org", "reader@example.org"),
    ],
)
def test_an_address_is_stored_readable_and_addressed_by_its_a_labels(address: str, stored: str, sent: str) -> None:
    """email_validator stores the domain's Unicode form; the message goes to the same domain's A-labels."""
    assert F.FIELD_BY_KEY["contacts.email"].normalize(address) == stored
    local, _, domain = stored.rpartition("@")
    assert f"{local}@{ascii_host(domain)}" == sent
    assert validate_email(stored, check_deliverability=False).ascii_email == sent
    assert digest(to=stored)["To"].addresses[0].addr_spec == sent


def test_a_domain_that_is_no_idn_is_refused_without_repeating_it() -> None:
    with pytest.raises(ValueError) as refused:
        digest(to="reader@a\u200db.de")
    assert str(refused.value) == (
        "an email domain is not a valid internationalized domain name: joiner U+200D not allowed at position 2"
    )


# ---------------------------------------------------------------------------------------------- over SMTP


@dataclass
class EnvelopeSink(Sink):
    """The tests' mail sink, also keeping each transaction's envelope (MAIL FROM, RCPT TOs, MAIL options)
    and the message's bytes as they arrived."""

    envelopes: list[tuple[str, list[str], list[str]]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos), list(envelope.mail_options)))
        self.raw.append(envelope.original_content)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def envelope_sink() -> Iterator[tuple[EnvelopeSink, int]]:
    sink, port = EnvelopeSink(), free_port()
    with serving(sink, port):
        yield sink, port


def digest(**overrides: Any) -> EmailMessage:
    values: dict[str, Any] = {
        "sender": "Нансен <digest@nansen.example>",
        "to": "reader@example.org",
        "subject": "Дайджест Нансена",
        "text": "Новое в каталоге.\n",
        "html": "<p>Новое в каталоге.</p>",
        "message_id": "digest-1.2026-04-01@nansen.example",
        "list_id": "Nansen digest <digest.nansen.example>",
        "unsubscribe_url": "https://nansen.example/unsubscribe?token=t",
        "unsubscribe_mailto": None,
        "date": dt.datetime(2026, 4, 1, 9, 30, tzinfo=dt.UTC),
    }
    return build_message(**(values | overrides))


def test_mail_to_reader_at_fass_de_goes_to_xn__fa_hia_de(envelope_sink: tuple[EnvelopeSink, int]) -> None:
    sink, port = envelope_sink
    stored = F.FIELD_BY_KEY["contacts.email"].normalize("reader@FAß.DE")
    assert stored == "reader@faß.de"
    message = digest(to=f"Читатель <{stored}>", sender="Нансен <digest@нансен.example>")
    settings = SmtpSettings(host="127.0.0.1", port=port, username=None, password=None, security="none", timeout=5)
    with SmtpSender(settings, retries=0) as sender:
        result = sender.send(message)

    assert result.outcome is Outcome.SENT
    assert sink.envelopes == [("digest@xn--80akwbbw.example", ["reader@xn--fa-hia.de"], [])]  # no SMTPUTF8
    assert b"\r\nTo: =?utf-8?b?0KfQuNGC0LDRgtC10LvRjA==?= <reader@xn--fa-hia.de>\r\n" in sink.raw[0]
    assert b"\r\nFrom: =?utf-8?b?0J3QsNC90YHQtdC9?= <digest@xn--80akwbbw.example>\r\n" in sink.raw[0]
    assert b"fass.de" not in sink.raw[0]
    [received] = sink.messages
    assert (received["To"].addresses[0].display_name, received["To"].addresses[0].addr_spec) == (
        "Читатель",
        "reader@xn--fa-hia.de",
    )
