"""A digest spliced into its segment's serialized template (`MessageTemplate`) is the message
`build_message` writes for the same reader: the same headers with the same values, in the same order,
and the same parts with the same content; only the bodies' transfer encoding differs (8bit where the
server offers 8BITMIME, RFC 6152). A server without 8BITMIME gets `build_message`'s own bytes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from typing import Any

import pytest

from newsletter import editions
from newsletter.delivery import (
    MessageTemplate,
    PreparedMessage,
    Reader,
    SmtpSender,
    _stuffed,
    build_message,
    parse_smtp_url,
)
from newsletter.digest import LINK_PLACEHOLDERS, DigestContent, link_values, personalize
from newsletter.models import Edition, Subscriber
from newsletter.tokens import Tokens
from tests.mailsink import Sink, mail_sink, serving  # noqa: F401  (mail_sink is a fixture)

UNSUBSCRIBE, PREFERENCES = LINK_PLACEHOLDERS
DATE = dt.datetime(2026, 11, 23, 9, 5, 7, tzinfo=dt.timezone(dt.timedelta(hours=3)))
LONG_LINE = "<td>" + "слово word " * 60 + "</td>"  # ~700 octets: over 78, under 998
CONTENTS = {
    "ru": DigestContent(
        subject="Нансен №12: 4 обновления — 23 ноября 2026 года, и ещё очень длинный хвост темы письма",
        html=f'<html><body><a href="{UNSUBSCRIBE}">Отписаться</a>\n{LONG_LINE}\n'
        f'<a href="{PREFERENCES}">Настройки</a> <a href="{UNSUBSCRIBE}">x</a>\n.точка в начале строки\n</body></html>',
        text=f"Новости недели\n\n.точка в начале\nОтписаться: {UNSUBSCRIBE}\nНастройки: {PREFERENCES}\n",
    ),
    "en": DigestContent(
        subject="Nansen #12: 4 updates",
        html=f'<p><a href="{UNSUBSCRIBE}">Unsubscribe</a> &amp; <a href="{PREFERENCES}">preferences</a></p>',
        text=f"News\n\nUnsubscribe: {UNSUBSCRIBE}\nPreferences: {PREFERENCES}\n",
    ),
}


def settings(site: str = "https://nansen.test/", mailto: str | None = "unsubscribe@nansen.test") -> Any:
    return editions.NewsletterSettings(
        site_url=site,
        sender="Нансен <newsletter@nansen.test>",
        tokens=Tokens("test-secret-0123456789abcdef"),
        message_domain="nansen.test",
        unsubscribe_mailto=mailto,
    )


def template_for(config: Any, content: DigestContent) -> MessageTemplate:
    return MessageTemplate(
        sender=config.sender,
        subject=content.subject,
        text=content.text,
        html=content.html,
        list_id=config.list_id,
        links=LINK_PLACEHOLDERS,
        one_click=config.site_url.startswith("https:"),
        mailto=bool(config.unsubscribe_mailto),
    )


def both_ways(config: Any, content: DigestContent, address: str, key: str = "k" * 32) -> tuple[Any, EmailMessage]:
    """(the spliced message, `build_message`'s) for one reader, with the same date."""
    unsubscribe, preferences, mailto = editions.links(config, key)
    text_links, html_links = link_values(unsubscribe_url=unsubscribe, preferences_url=preferences)
    values: dict[str, Any] = {
        "to": address,
        "message_id": editions.message_id(config, 12, key),
        "date": DATE,
        "unsubscribe_url": unsubscribe,
        "unsubscribe_mailto": mailto,
    }
    fast = template_for(config, content).render(Reader(**values, text_links=text_links, html_links=html_links))
    personal = personalize(content, unsubscribe_url=unsubscribe, preferences_url=preferences)
    old = build_message(
        sender=config.sender,
        subject=content.subject,
        text=personal.text,
        html=personal.html,
        list_id=config.list_id,
        **values,
    )
    return fast, old


def parsed(data: bytes) -> EmailMessage:
    message = BytesParser(policy=default).parsebytes(data)
    assert isinstance(message, EmailMessage) and not message.defects
    return message


def wire(message: EmailMessage) -> bytes:
    """The message as senders serialize it, its random MIME boundary replaced by a fixed one."""
    data = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    boundary = message.get_boundary()
    return data.replace(boundary.encode(), b"BOUNDARY") if boundary else data


def assert_equivalent(fast: EmailMessage, old: EmailMessage) -> None:
    """Every header (name, order, value) and every part (type, charset, content) the same, apart from
    the bodies' Content-Transfer-Encoding and the MIME boundary (random, one per segment when spliced)."""
    assert fast.keys() == old.keys()
    for name in old:
        if name != "Content-Type":
            assert fast.get_all(name) == old.get_all(name), name
    assert fast.get_content_type() == old.get_content_type() == "multipart/alternative"
    assert {k: v for k, v in fast["Content-Type"].params.items() if k != "boundary"} == {
        k: v for k, v in old["Content-Type"].params.items() if k != "boundary"
    }
    fast_parts, old_parts = list(fast.walk()), list(old.walk())
    assert [p.get_content_type() for p in fast_parts] == [p.get_content_type() for p in old_parts]
    for fast_part, old_part in zip(fast_parts[1:], old_parts[1:], strict=True):
        assert list(fast_part) == list(old_part)
        for name in old_part:
            if name != "Content-Transfer-Encoding":
                assert fast_part[name] == old_part[name], name
        assert lines(fast_part.get_content()) == lines(old_part.get_content())


def lines(text: str) -> list[str]:
    """The text's lines: a base64 body decodes with the LF line ends it was encoded with, an 8bit one
    with the CRLF of the wire; mail readers take both as line breaks."""
    return text.replace("\r\n", "\n").split("\n")


@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("site", ["https://nansen.test/", "http://localhost:8000/"])
@pytest.mark.parametrize("mailto", ["unsubscribe@nansen.test", None])
def test_spliced_message_is_the_built_one(lang: str, site: str, mailto: str | None) -> None:
    config = settings(site, mailto)
    fast, old = both_ways(config, CONTENTS[lang], "reader.one+news@mail.example.net")
    assert isinstance(fast, PreparedMessage)
    assert fast.eight_bit == (lang == "ru")
    assert fast.data.endswith(b"\r\n") and b"\n" not in fast.data.replace(b"\r\n", b"")
    assert max(len(line) for line in fast.data.split(b"\r\n")) <= 998
    message = parsed(fast.data)
    assert_equivalent(message, parsed(wire(old)))
    assert (message["List-Unsubscribe-Post"] is not None) == site.startswith("https:")
    encodings = [p["Content-Transfer-Encoding"] for p in message.iter_parts()]
    assert encodings == ["8bit" if lang == "ru" else "7bit", "quoted-printable"]  # MJML's lines pass 998 octets
    assert (fast.sender, fast.recipient) == ("newsletter@nansen.test", "reader.one+news@mail.example.net")
    assert_equivalent(fast.message, old)  # the fallback is build_message's message itself


def test_each_reader_gets_their_own_values_and_nothing_of_another() -> None:
    config = settings()
    template = template_for(config, CONTENTS["ru"])
    datas = []
    for key in ("a" * 32, "b" * 32):
        message = editions.prepared_message(config, 12, key, f"reader-{key[0]}@example.net", template)
        assert isinstance(message, PreparedMessage)
        datas.append(message.data)
        got = parsed(message.data)
        assert got["Message-ID"] == editions.message_id(config, 12, key)
        assert got["To"] == f"reader-{key[0]}@example.net"
        assert dt.datetime.now(dt.UTC) - got["Date"].datetime < dt.timedelta(hours=1)
        assert got["Date"].datetime.utcoffset() == dt.timedelta(0)
        unsubscribe, preferences, _ = editions.links(config, key)
        text, html = (part.get_content() for part in got.iter_parts())
        assert text.count(unsubscribe) == 1 and text.count(preferences) == 1
        assert html.count(unsubscribe.replace("&", "&amp;")) == 2
    assert b"reader-a" not in datas[1] and b"reader-b" not in datas[0]


@pytest.mark.parametrize(
    "address",
    [
        "читатель@пример.рф",  # needs SMTPUTF8: built as today
        "reader@faß.de",  # IDNA domain
        "a" * 70 + "@example.net",  # a To line that would be folded
        '"odd address"@example.net',
    ],
)
def test_addresses_splicing_cannot_match_are_built_as_today(address: str) -> None:
    fast, old = both_ways(settings(), CONTENTS["ru"], address)
    assert isinstance(fast, EmailMessage)
    assert wire(fast) == wire(old)


def test_values_build_message_refuses_are_refused_the_same() -> None:
    config = settings()
    template = template_for(config, CONTENTS["en"])
    common: dict[str, Any] = {
        "to": "reader@example.net",
        "message_id": "<x@y.example>",
        "date": DATE,
        "unsubscribe_url": "https://nansen.test/unsubscribe?token=1",
        "unsubscribe_mailto": None,
        "text_links": ("https://a.test/u", "https://a.test/p"),
        "html_links": ("https://a.test/u", "https://a.test/p"),
    }
    for bad in (
        {"message_id": "no-at-sign"},
        {"date": dt.datetime(2026, 1, 1)},
        {"unsubscribe_url": "ftp://nansen.test/u"},
        {"to": "reader@example.net\r\nBcc: everyone@example.net"},
    ):
        with pytest.raises(ValueError):
            template.render(Reader(**common | bad))


def test_html_lines_of_any_length_are_spliced_as_quoted_printable() -> None:
    """MJML writes HTML lines of several kB: the HTML part is quoted-printable, lines within 76."""
    content = DigestContent(subject="s", html="<p>" + "ж" * 5000 + UNSUBSCRIBE + "x" * 3000 + "</p>", text=PREFERENCES)
    fast, old = both_ways(settings(), content, "reader@example.net")
    assert isinstance(fast, PreparedMessage)
    html = fast.data.split(b"quoted-printable\r\n\r\n", 1)[1]
    assert max(len(line) for line in html.split(b"\r\n")) <= 76
    assert_equivalent(parsed(fast.data), parsed(wire(old)))


def test_a_text_line_made_too_long_by_a_link_is_built_as_today() -> None:
    content = DigestContent(subject="s", html=UNSUBSCRIBE, text="x" * 900 + PREFERENCES)
    fast, old = both_ways(settings(), content, "reader@example.net")
    assert isinstance(fast, EmailMessage)
    assert wire(fast) == wire(old)


def test_the_edition_sends_prepared_messages_equivalent_to_message_for() -> None:
    config = settings()
    reader = Subscriber(email="reader@example.net", key="q" * 32, language="ru")
    old = editions.message_for(config, Edition(number=12), reader, CONTENTS["ru"])
    fast = editions.prepared_message(config, 12, reader.key, reader.email, template_for(config, CONTENTS["ru"]))
    assert isinstance(fast, PreparedMessage)
    fast_message, old_message = parsed(fast.data), parsed(wire(old))
    del fast_message["Date"], old_message["Date"]  # made a moment apart
    assert_equivalent(fast_message, old_message)


@pytest.mark.parametrize(
    "content",
    [
        *CONTENTS.values(),
        DigestContent(subject="s", html="." + UNSUBSCRIBE + "\n." + "ж." * 400, text=f"{PREFERENCES}\n.\n..x\n"),
    ],
)
def test_the_message_is_dot_stuffed_once_per_segment_as_it_would_be_per_reader(content: DigestContent) -> None:
    """The pieces of the template are dot-stuffed once (RFC 5321 §4.5.2), the values per reader:
    together they are the whole message stuffed."""
    fast, _ = both_ways(settings(), content, "reader@example.net", key="." * 32)
    assert isinstance(fast, PreparedMessage)
    assert fast.stuffed == _stuffed(fast.data)


def spliced(content: DigestContent, text_links: list[str], html_links: list[str]) -> PreparedMessage:
    """One reader's message from `content`'s template, with these values for its two links."""
    config = settings()
    fast = template_for(config, content).render(
        Reader(
            to="reader@example.net",
            message_id=editions.message_id(config, 12, "k" * 32),
            date=DATE,
            unsubscribe_url="https://nansen.test/u",
            unsubscribe_mailto="mailto:unsubscribe@nansen.test",
            text_links=text_links,
            html_links=html_links,
        )
    )
    assert isinstance(fast, PreparedMessage)
    return fast


def test_an_empty_value_at_the_start_of_a_line_leaves_the_dot_after_it_stuffed() -> None:
    text = f"Hello\n{UNSUBSCRIBE}.hidden dot line\n{PREFERENCES}\n"
    content = DigestContent(subject="s", html=UNSUBSCRIBE + PREFERENCES, text=text)
    fast = spliced(content, ["", "https://nansen.test/p"], ["", "https://nansen.test/p"])
    assert fast.stuffed == _stuffed(fast.data) and b"\r\n..hidden dot line" in fast.stuffed


def test_a_value_that_starts_a_line_with_a_dot_is_stuffed_too() -> None:
    """A link spliced at the start of a quoted-printable line: the joint is stuffed like the rest."""
    content = DigestContent(subject="s", html=UNSUBSCRIBE + PREFERENCES, text="t")
    fast = spliced(content, ["https://nansen.test/u", "https://nansen.test/p"], [".one", ".two"])
    assert b"\r\n.one" in fast.data
    assert fast.stuffed == _stuffed(fast.data) and b"\r\n..one" in fast.stuffed


# --------------------------------------------------------------------------- over SMTP


class _Without8BitMime(Sink):
    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str, responses: Any) -> Any:
        session.host_name = hostname
        return [line for line in responses if "8BITMIME" not in line.upper()]


@pytest.fixture
def old_server() -> Iterator[tuple[Sink, str]]:
    """An SMTP server that does not offer 8BITMIME."""
    sink = _Without8BitMime()
    with serving(sink) as url:
        yield sink, url


@pytest.mark.parametrize("server", ["mail_sink", "old_server"])
def test_8bit_goes_as_8bitmime_or_as_todays_7bit_message(server: str, request: pytest.FixtureRequest) -> None:
    sink, url = request.getfixturevalue(server)
    fast, old = both_ways(settings(), CONTENTS["ru"], "reader@example.net")
    with SmtpSender(parse_smtp_url(url), retries=0) as sender:
        assert sender.send(fast).code == 250
    [received] = sink.messages
    assert_equivalent(received, parsed(wire(old)))
    encodings = {part["Content-Transfer-Encoding"] for part in received.iter_parts()}
    if server == "mail_sink":
        assert encodings == {"8bit", "quoted-printable"}
    else:
        assert encodings <= {"base64", "quoted-printable"}
        assert [p.get_payload() for p in received.iter_parts()] == [
            p.get_payload() for p in parsed(wire(old)).iter_parts()
        ]
