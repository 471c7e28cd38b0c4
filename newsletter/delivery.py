"""The SMTP side of the digest: build one message per reader, hand it to a server, say what happened.

Sending is made exactly-once by the ledger, which records each message's fate; this module's job is to
report that fate precisely, as a `Result`:

Replies are read as an MTA reads them (RFC 5321 §4.2, enhanced status codes RFC 3463):

- `SENT`: the server answered 250 to the end of the message; it has taken responsibility for it.
- `BOUNCED`: the server permanently refused this recipient: a 5xx to RCPT, or a 5xx after DATA whose
  enhanced code is about the address or the mailbox (5.1.x, 5.2.x), except 5.1.7/5.1.8 (our sender).
- `RETRY`: a temporary refusal of this recipient (4xx at RCPT or after DATA), or a connection problem
  that lasted through every retry: try this reader again in a later run. 4xx replies are not retried
  here (a greylisting or full mailbox does not clear in seconds). `maybe_delivered` is set when the
  connection broke after the whole message had been transmitted but before the server answered: the
  server may have accepted it (RFC 1047). That case is never retried here, so this module never sends a
  duplicate on its own; the ledger decides.
- `DEFERRED`: the server asks everyone to come back later (421, or a 4xx to MAIL FROM): the run should
  end and resume later, and this reader is not charged an attempt.

Problems that concern us or the message rather than the reader raise `DeliveryError`: credentials
refused, TLS not offered or its certificate not trusted, our sender address refused (5xx to MAIL), and
a 5xx to DATA or after it that is about the content, the sender or policy (5.7.x, 5.6.x, 5.3.x, or no
enhanced code), and a 5.7.x or 5.1.7/5.1.8 to RCPT ("relay access denied", a sender address refused
by a relay that delays its checks to RCPT). Every later message would fail the same way, so the run
stops with the server's words, and no reader is ever recorded as bounced because of them.

Mail must not leak the subscriber list or say anything about its reader: each transaction has exactly one
recipient (a message with several To addresses, or with Cc or Bcc, is refused before anything is sent),
nothing is added beyond the headers `build_message` writes, and recipient addresses are never logged.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import logging
import mailbox
import math
import os
import re
import secrets
import smtplib
import socket
import ssl
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email import quoprimime
from email.errors import NonASCIILocalPartDefect
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.policy import EmailPolicy
from email.policy import default as _default_policy
from email.utils import format_datetime
from pathlib import Path
from typing import Protocol, Self
from urllib.parse import parse_qsl, unquote, urlsplit

import idna

from directory.errors import DomainError

__all__ = [
    "DeliveryError",
    "Mail",
    "MaildirSender",
    "MessageTemplate",
    "Outcome",
    "PreparedMessage",
    "Result",
    "Sender",
    "SmtpSender",
    "SmtpSettings",
    "Withdrawn",
    "build_message",
    "parse_smtp_url",
]

log = logging.getLogger(__name__)

SECURITIES = ("none", "starttls", "tls")
_DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}
_URL_PARAMETERS = ("rate", "starttls", "timeout")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_MAX_URI = 900  # List-Unsubscribe is written unfolded inside one line, which SMTP caps at 998 octets


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to submit mail. The password is left out of `repr` so it never reaches a log."""

    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)
    security: str  # "none" | "starttls" | "tls" (implicit TLS, smtps://)
    timeout: float = 30.0
    rate_per_second: float | None = None  # at most this many messages per second; None: unlimited

    def __post_init__(self) -> None:
        if self.security not in SECURITIES:
            raise ValueError(f"security must be one of {', '.join(SECURITIES)}, not {self.security!r}")
        if not self.host:
            raise ValueError("the SMTP host is empty")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"the SMTP port must be from 1 to 65535, not {self.port}")
        if (self.username is None) != (self.password is None):
            raise ValueError("give both a user name and a password, or neither")
        if not (math.isfinite(self.timeout) and self.timeout > 0):
            raise ValueError("the timeout must be a positive number of seconds")
        if self.rate_per_second is not None and not (math.isfinite(self.rate_per_second) and self.rate_per_second > 0):
            raise ValueError("the rate must be a positive number of messages per second")


def parse_smtp_url(url: str) -> SmtpSettings:
    """Settings from `smtp://user:pass@host:port?starttls=1&rate=10&timeout=20` or `smtps://host`.

    Ports default to 25 (smtp), 587 (smtp with starttls=1) and 465 (smtps); user name and password are
    percent-decoded. Anything else is a ValueError saying why — and no message ever repeats the part of
    the URL where the password is, even when the URL is malformed and the password spilled elsewhere.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        raise ValueError("the SMTP URL is malformed") from None
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise ValueError(f"the SMTP URL must start with smtp:// or smtps://, not {scheme + ':' if scheme else '…'}")
    if "@" in parts.path + parts.query + parts.fragment:
        raise ValueError("the SMTP URL has an '@' after the host: percent-encode '/', '?', '#' and '@' in credentials")
    if parts.fragment or url.rstrip().endswith("#"):
        raise ValueError("the SMTP URL must not have a '#' fragment (percent-encode '#' in credentials as %23)")
    if parts.path not in ("", "/"):
        raise ValueError("the SMTP URL must not have a path")
    host = parts.hostname
    if not host:
        raise ValueError("the SMTP URL has no host")
    try:
        port = parts.port
    except ValueError:
        raw_port = parts.netloc.rpartition("@")[2].rpartition(":")[2]
        raise ValueError(f"the SMTP URL port must be a number from 1 to 65535, not {raw_port!r}") from None
    if port == 0:
        raise ValueError("the SMTP URL port must be a number from 1 to 65535, not '0'")

    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise ValueError("the SMTP URL query is malformed; expected name=value pairs joined by '&'") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name not in _URL_PARAMETERS:
            raise ValueError(f"unknown SMTP URL parameter {name!r} (known: {', '.join(_URL_PARAMETERS)})")
        if name in params:
            raise ValueError(f"the SMTP URL parameter {name!r} is given twice")
        params[name] = value

    starttls = False
    if "starttls" in params:
        flag = params["starttls"].lower()
        if flag not in _TRUE + _FALSE:
            raise ValueError(f"starttls must be 1 or 0, not {params['starttls']!r}")
        starttls = flag in _TRUE
    if scheme == "smtps" and starttls:
        raise ValueError("smtps:// is TLS from the first byte; starttls=1 applies to smtp:// only")
    security = "tls" if scheme == "smtps" else "starttls" if starttls else "none"

    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if password is not None and username is None:
        raise ValueError("the SMTP URL has a password but no user name")
    if username is not None and password is None:
        raise ValueError("the SMTP URL has a user name but no password")

    return SmtpSettings(
        host=host,
        port=port or _DEFAULT_PORTS[security],
        username=username,
        password=password,
        security=security,
        timeout=_positive(params, "timeout", "seconds") or 30.0,
        rate_per_second=_positive(params, "rate", "messages per second"),
    )


def _positive(params: dict[str, str], name: str, unit: str) -> float | None:
    if name not in params:
        return None
    try:
        value = float(params[name])
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number of {unit}, not {params[name]!r}")
    return value


# ---------------------------------------------------------------------------------------------- messages


class _Policy(EmailPolicy):
    """The default policy, except for two headers the stock folder gets wrong.

    List-Unsubscribe is never RFC 2047-encoded: the stock policy turns an unfolded token longer than a
    line (any unsubscribe URL with a token in it) into encoded-words, which mail providers do not decode
    in that header, so one-click unsubscribe would silently stop working. The angle-bracketed URIs are
    written as they are, one per line. Subject: see `_fold_subject`.
    """

    def fold(self, name: str, value: str) -> str:
        folded = _fold_uri_list(name, value, self.linesep) or _fold_subject(name, value, self)
        return folded or super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        folded = _fold_uri_list(name, value, self.linesep) or _fold_subject(name, value, self)
        return folded.encode("ascii") if folded else super().fold_binary(name, value)


_URI_LIST = re.compile(r"\s*<[^<>\s]+>(?:\s*,\s*<[^<>\s]+>)*\s*")


def _fold_uri_list(name: str, value: str, linesep: str) -> str | None:
    text = str(value)
    if name.lower() != "list-unsubscribe" or not text.isascii() or not _URI_LIST.fullmatch(text):
        return None
    return f"{name}: " + f",{linesep} ".join(re.findall(r"<[^<>\s]+>", text)) + linesep


def _fold_subject(name: str, value: str, policy: EmailPolicy) -> str | None:
    """A Subject that needs encoding or folding, as RFC 2047 encoded-words that carry their own spaces.

    The stdlib folder (email._header_value_parser, before CPython gh-144156) leaves the space before a
    run of non-ASCII words between two encoded-words, where RFC 2047 §6.2 has readers drop it
    ("обновления — 29" arrives as "обновления— 29"), and starts a value wrapped at once with a stray
    space (with SMTPUTF8 too). email.header's encoder puts every character, spaces too, inside the
    encoded-words, which RFC 6532 readers decode as well.
    """
    text, limit = str(value), policy.max_line_length or 998
    if name.lower() != "subject" or (text.isascii() and len(name) + 2 + len(text) <= limit):
        return None
    header = Header(text, "utf-8", maxlinelen=limit, header_name=name)
    return f"{name}: {header.encode(linesep=policy.linesep)}{policy.linesep}"


# cte_type 7bit: bodies are base64 or quoted-printable, whichever is shorter, so no server needs 8BITMIME.
_MESSAGE_POLICY = _Policy(cte_type="7bit")
_WIRE_POLICY = _MESSAGE_POLICY.clone(linesep="\r\n")
_WIRE_POLICY_UTF8 = _WIRE_POLICY.clone(utf8=True, cte_type="8bit")

_MSG_ID = re.compile(r"[^<>\s@]+@[^<>\s@]+")
_LIST_ID = re.compile(r"(?P<phrase>[^<>]*?)\s*<(?P<id>[^<>\s]+)>|(?P<bare>[^<>\s]+)")
_LIST_ID_NAMESPACE = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+")


def build_message(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    message_id: str,
    list_id: str,
    unsubscribe_url: str,
    unsubscribe_mailto: str | None,
    date: dt.datetime,
    reply_to: str | None = None,
    raw_bodies: bool = False,
) -> EmailMessage:
    """One reader's digest: multipart/alternative, text/plain then text/html, both UTF-8.

    Headers are the minimum a mailing list needs and nothing about the reader beyond their address:
    Message-ID, Date (in UTC, so the sending machine's time zone is not disclosed), From, To, Subject,
    Reply-To if given, List-Id (RFC 2919), List-Unsubscribe (RFC 2369) and, for an https URL,
    List-Unsubscribe-Post (RFC 8058 one-click; the RFC forbids it for plain http, which is accepted only
    so local previews work), and `Precedence: bulk`, which stops out-of-office robots answering.
    Internationalized domains are written in IDNA form so any server can route them.

    Every value is checked: a newline in any of them (header injection) is a ValueError, as is a naive
    `date`, a malformed Message-ID or List-Id, or an unsubscribe URI that is not http(s) or mailto.
    Bodies are base64 or quoted-printable, so no server needs 8BITMIME; `raw_bodies` writes them as
    they are instead (`7bit`/`8bit`, see `MessageTemplate`).
    """
    for name, value in (
        ("sender", sender),
        ("to", to),
        ("subject", subject),
        ("message_id", message_id),
        ("list_id", list_id),
        ("unsubscribe_url", unsubscribe_url),
        ("unsubscribe_mailto", unsubscribe_mailto),
        ("reply_to", reply_to),
    ):
        if value is not None and any(c in value for c in "\r\n\0"):
            raise ValueError(f"{name} must be one line")
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError("date must be timezone-aware")

    msg_id = message_id.strip().removeprefix("<").removesuffix(">")
    if not _MSG_ID.fullmatch(msg_id):
        raise ValueError(f"message_id must look like <left@right>, not {message_id!r}")

    match = _LIST_ID.fullmatch(list_id.strip())
    namespace = match and (match["id"] or match["bare"])
    if match is None or not namespace or not _LIST_ID_NAMESPACE.fullmatch(namespace):
        raise ValueError(f"list_id must be a dotted name, optionally 'Phrase <name.example.org>', not {list_id!r}")
    phrase = (match["phrase"] or "").strip()

    one_click, uris = _unsubscribe_uris(unsubscribe_url, unsubscribe_mailto)

    msg = EmailMessage(policy=_MESSAGE_POLICY)
    msg["Message-ID"] = f"<{msg_id}>"
    msg["Date"] = date.astimezone(dt.UTC)
    msg["From"] = _one_address(sender, "sender")
    msg["To"] = _one_address(to, "to")
    msg["Subject"] = subject
    if reply_to is not None:
        msg["Reply-To"] = _one_address(reply_to, "reply_to")
    msg["List-Id"] = f"{phrase} <{namespace}>" if phrase else f"<{namespace}>"
    msg["List-Unsubscribe"] = ", ".join(f"<{uri}>" for uri in uris)
    if one_click:
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Precedence"] = "bulk"
    msg.set_content(text, subtype="plain", charset="utf-8", cte=_cte(text, raw_bodies))
    msg.add_alternative(html, subtype="html", charset="utf-8", cte=_cte(html, raw_bodies))
    for part in msg.iter_parts():
        del part["MIME-Version"]  # add_alternative leaves a stray copy on the moved part
    return msg


def _cte(body: str, raw: bool) -> str | None:
    """The body's Content-Transfer-Encoding: the email package's choice (base64 or quoted-printable for
    anything not short ASCII lines), or with `raw` the text as it is: `7bit` for ASCII, `8bit` otherwise
    (for servers that offer 8BITMIME, RFC 6152)."""
    if not raw:
        return None
    return "7bit" if body.isascii() else "8bit"


def _unsubscribe_uris(url: str, mailto: str | None) -> tuple[bool, list[str]]:
    uris = []
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError(f"unsubscribe_url must be an https URL, not {url!r}")
    uris.append(url)
    if mailto is not None:
        uri = mailto if mailto.lower().startswith("mailto:") else f"mailto:{mailto}"
        if "@" not in uri:
            raise ValueError(f"unsubscribe_mailto must be an address or a mailto: URI, not {mailto!r}")
        uris.append(uri)
    for uri in uris:
        if not uri.isascii() or re.search(r"[\s<>]", uri) or len(uri) > _MAX_URI:
            raise ValueError(f"unsubscribe URIs must be ASCII, without spaces or <>, under {_MAX_URI} characters")
    return parts.scheme == "https", uris


def _one_address(value: str, what: str) -> Address:
    """The single address in `value`, with an internationalized domain in IDNA form."""
    header = _default_policy.header_factory("To", value)
    addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    defects = [d for d in header.defects if not isinstance(d, NonASCIILocalPartDefect)]  # fine with SMTPUTF8
    if defects or len(addresses) != 1 or not addresses[0].username or not addresses[0].domain:
        raise ValueError(f"{what} must be exactly one email address")
    address = addresses[0]
    return Address(address.display_name, address.username, _idna(address.domain))


def _idna(domain: str) -> str:
    """An internationalized domain in IDNA 2008 A-label form (UTS 46 mapping, non-transitional).

    That is how email_validator checks the addresses we store (`reader@faß.de`), so mail goes where the
    reader meant: `xn--fa-hia.de`. Python's "idna" codec (IDNA 2003) would write `fass.de`, another domain.
    The error gives the reason but not the domain, which is part of a reader's address.
    """
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        reason = re.sub(r" (?:of|in)(?: label)? (['\"]).*\1(?=\s|$)", "", str(exc))  # idna quotes the label
        raise ValueError(
            f"an email domain is not a valid internationalized domain name: {reason[:1].lower()}{reason[1:]}"
        ) from None


# ---------------------------------------------------------------------------------------------- templates


_TEMPLATE_POLICY = _WIRE_POLICY.clone(cte_type="8bit")  # bodies as they are; headers as _WIRE_POLICY
_LINE_LIMIT = 998  # octets per line without CRLF (RFC 5321 §4.5.3.1.6; 8BITMIME keeps it, RFC 6152)
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_PLAIN_TO_LENGTH = 78 - len("To: ")  # a longer To line would be folded
_SLOT_DATE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_Slot = str | tuple[str, int]  # "to", "message_id", "date", "unsubscribe", "mailto"; ("text"|"html", link)


@dataclass(frozen=True)
class PreparedMessage:
    """One reader's message, already serialized (`MessageTemplate.render`).

    `data` has CRLF line ends, is not dot-stuffed and has no final "."; `stuffed`, when the template
    could join it from pieces stuffed once, is `data` as transmitted after DATA (`_stuffed(data)`).
    `eight_bit` says a body is 8bit, which only a server offering 8BITMIME takes. Senders send
    `message` instead where it is not offered: the message `build_message` makes from the same values
    (7-bit bodies), built on demand.
    """

    message_id: str
    sender: str  # the envelope addresses: From's and To's addr-spec
    recipient: str
    data: bytes
    eight_bit: bool
    rebuild: Callable[[], EmailMessage] = field(repr=False)
    stuffed: bytes | None = field(default=None, repr=False)

    @functools.cached_property
    def message(self) -> EmailMessage:
        return self.rebuild()


@dataclass(frozen=True)
class Reader:
    """What differs between two readers' messages (`MessageTemplate.render`): `build_message`'s values
    of the same names, and the values of the template's `links`, in order, in the text and the HTML."""

    to: str
    message_id: str
    date: dt.datetime
    unsubscribe_url: str
    unsubscribe_mailto: str | None
    text_links: Sequence[str]
    html_links: Sequence[str]


Mail = EmailMessage | PreparedMessage


class MessageTemplate:
    """One segment's message, serialized once by `build_message`, with each reader's parts spliced in.

    It is built with markers for what differs between readers — To, Message-ID, Date, the
    List-Unsubscribe URIs, and the `links` (placeholder strings in the bodies) — and with bodies
    written as they are (`raw_bodies`), so every marker stands verbatim in the bytes; `render` joins
    the bytes between them with one reader's values. Sender, Subject, List-Id and Reply-To are checked,
    encoded and folded once. A reader whose message could come out otherwise than by `build_message`
    (an address that is not plain ASCII or would be folded, a value that would make a line longer than
    998 octets, an unsubscribe URI of another kind than the template's, any value `build_message`
    refuses) gets `build_message`'s message instead, or its ValueError.
    """

    def __init__(
        self,
        *,
        sender: str,
        subject: str,
        text: str,
        html: str,
        list_id: str,
        links: Sequence[str],
        one_click: bool,
        mailto: bool,
        reply_to: str | None = None,
    ) -> None:
        self._fixed = {"sender": sender, "subject": subject, "list_id": list_id, "reply_to": reply_to}
        self._text, self._html, self._links = text, html, tuple(links)
        self.one_click, self.mailto = one_click, mailto
        self.sender = _one_address(sender, "sender").addr_spec
        token = secrets.token_hex(8)
        markers: dict[str, _Slot] = {
            f"s{token}to@slot.invalid": "to",
            f"<s{token}id@slot.invalid>": "message_id",
            format_datetime(_SLOT_DATE): "date",
            f"{'https' if one_click else 'http'}://slot.invalid/s{token}u": "unsubscribe",
        }
        if mailto:
            markers[f"mailto:s{token}m@slot.invalid"] = "mailto"
        for number in range(len(self._links)):
            markers[f"s{token}text{number}x"] = ("text", number)
            markers[f"s{token}html{number}x"] = ("html", number)
        slot = {value: marker for marker, value in markers.items()}
        html_body = f"s{token}htmlbody"
        message = build_message(
            to=slot["to"],
            text=_replace(text, self._links, [slot["text", n] for n in range(len(self._links))]),
            html=html_body,
            message_id=slot["message_id"],
            unsubscribe_url=slot["unsubscribe"],
            unsubscribe_mailto=slot.get("mailto"),
            date=_SLOT_DATE,
            raw_bodies=True,
            **self._fixed,  # type: ignore[arg-type]
        )
        data = _crlf(message.as_bytes(policy=_TEMPLATE_POLICY))
        # The HTML goes quoted-printable: MJML writes lines of several kB, past SMTP's 998 octets even
        # with 8BITMIME. Each piece between links is encoded once here; a link, encoded per reader,
        # stands between soft line breaks ("=" CRLF), so the decoded HTML is exactly the reader's.
        slot_html = [slot["html", n] for n in range(len(self._links))]
        pieces = (
            re.split("(" + "|".join(re.escape(link) for link in self._links) + ")", html) if self._links else [html]
        )
        body = b"".join(
            b"=\r\n" + slot_html[self._links.index(piece)].encode() + b"=\r\n" if piece in self._links else _qp(piece)
            for piece in pieces
        )
        html_part = b"Content-Transfer-Encoding: 7bit\r\n\r\n" + html_body.encode() + b"\r\n"
        if data.count(html_part) == 1:
            data = data.replace(html_part, b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + body + b"\r\n")
        self.eight_bit = not data.isascii()
        pattern = re.compile(b"(" + b"|".join(re.escape(marker.encode()) for marker in markers) + b")")
        self._parts: list[bytes] | None = pattern.split(data)
        self._slots = [(index, markers[part.decode()]) for index, part in enumerate(self._parts) if index % 2]
        # Dot-stuffing 30-130 kB per message cost more than the rest of its splicing: the fixed pieces
        # are stuffed here, once; `render` stuffs the values and checks the joints.
        self._stuffed_parts = [_stuff_lines(part) for part in self._parts]
        self._stuffed_parts[0] = _stuffed(self._parts[0])[: -len(_END)]
        self._stuffed_parts[-1] += _END
        expected: Counter[_Slot] = Counter(
            {"to": 1, "message_id": 1, "date": 1, "unsubscribe": 1, "mailto": int(mailto)}
        )
        for number, link in enumerate(self._links):
            expected["text", number], expected["html", number] = text.count(link), html.count(link)
        self._room = _room(data, pattern)
        if Counter(s for _, s in self._slots) != +expected or not self.sender.isascii() or self._room < 0:
            self._parts = None  # not spliceable (markers altered or duplicated, a line too long): rebuild

    def render(self, reader: Reader) -> Mail:
        """This reader's message: the template's bytes with their values, or `build_message`'s message
        where splicing could differ from it (see the class docstring)."""

        def rebuild() -> EmailMessage:
            return build_message(
                to=reader.to,
                text=_replace(self._text, self._links, reader.text_links),
                html=_replace(self._html, self._links, reader.html_links),
                message_id=reader.message_id,
                unsubscribe_url=reader.unsubscribe_url,
                unsubscribe_mailto=reader.unsubscribe_mailto,
                date=reader.date,
                **self._fixed,  # type: ignore[arg-type]
            )

        values = self._values(reader)
        if self._parts is None or values is None:
            return rebuild()
        parts, stuffed = list(self._parts), list(self._stuffed_parts)
        joints_clean = True
        for index, slot in self._slots:
            value = parts[index] = values[slot]
            stuffed[index] = _stuff_lines(value)
            # A value (or, when it is empty, the piece after it) that starts a line with "." after a
            # piece ending in CRLF, or a piece starting with "." after a value ending in CRLF: the
            # joint needs stuffing the pieces cannot give.
            joints_clean &= not ((value or parts[index + 1]).startswith(b".") and parts[index - 1].endswith(b"\n"))
            joints_clean &= not (value.endswith(b"\n") and parts[index + 1].startswith(b"."))
        data = b"".join(parts)
        wire = b"".join(stuffed) if joints_clean else _stuffed(data)
        return PreparedMessage(reader.message_id, self.sender, reader.to, data, self.eight_bit, rebuild, wire)

    def _values(self, reader: Reader) -> dict[_Slot, bytes] | None:
        """Each slot's bytes for this reader; None when splicing them could differ from `build_message`."""
        to, date, mailto = reader.to, reader.date, reader.unsubscribe_mailto
        msg_id = reader.message_id.strip().removeprefix("<").removesuffix(">")
        if date.tzinfo is None or date.utcoffset() is None or not _MSG_ID.fullmatch(msg_id):
            return None
        if len(to) > _PLAIN_TO_LENGTH or not _PLAIN_ADDRESS.fullmatch(to):
            return None
        if len(reader.text_links) != len(self._links) or any(c in (mailto or "") for c in "\r\n\0"):
            return None
        one_click, uris = _unsubscribe_uris(reader.unsubscribe_url, mailto)
        if one_click != self.one_click or (len(uris) == 2) != self.mailto:
            return None
        values: dict[_Slot, str] = {
            "to": to,
            "message_id": f"<{msg_id}>",
            "date": format_datetime(date.astimezone(dt.UTC)),
            "unsubscribe": uris[0],
            "mailto": uris[-1],
        }
        for number, text_link in enumerate(reader.text_links):
            values["text", number] = text_link
        if any(len(v) > self._room or not v.isascii() or any(c in v for c in "\r\n\0") for v in values.values()):
            return None
        if any(any(c in link for c in "\r\n\0") for link in reader.html_links):
            return None
        spliced = {slot: value.encode("ascii") for slot, value in values.items()}
        spliced |= {("html", number): _qp(link) for number, link in enumerate(reader.html_links)}
        return spliced


def _qp(text: str) -> bytes:
    """`text` in UTF-8, quoted-printable (RFC 2045 §6.7), CRLF line ends: lines of at most 75
    characters, so that the soft break that may follow a piece keeps them within 76."""
    return quoprimime.body_encode(text.encode("utf-8").decode("latin-1"), 75, "\r\n").encode("ascii")


def _replace(text: str, placeholders: Sequence[str], values: Sequence[str]) -> str:
    for placeholder, value in zip(placeholders, values, strict=True):
        text = text.replace(placeholder, value)
    return text


def _room(data: bytes, markers: re.Pattern[bytes]) -> int:
    """The longest value every marker can take with no line past `_LINE_LIMIT`; -1 if one already is."""
    room = _LINE_LIMIT
    for line in data.split(b"\r\n"):
        found = markers.findall(line)
        fixed = len(line) - sum(len(marker) for marker in found)
        if fixed > _LINE_LIMIT:
            return -1
        if found:
            room = min(room, (_LINE_LIMIT - fixed) // len(found))
    return room


def _crlf(data: bytes) -> bytes:
    """`data` with CRLF line ends, ending with one."""
    data = re.sub(rb"\r?\n", b"\r\n", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


# ---------------------------------------------------------------------------------------------- results


class Outcome(enum.Enum):
    SENT = "sent"
    RETRY = "retry"
    BOUNCED = "bounced"
    DEFERRED = "deferred"


@dataclass(frozen=True)
class Result:
    """What happened to one message. `detail` may quote the server, which may quote the address."""

    outcome: Outcome
    code: int | None  # the server's reply code; None when there was none (connection lost, dry run)
    detail: str
    attempts: int
    maybe_delivered: bool = False  # RETRY only: the connection broke after the message was transmitted


class DeliveryError(Exception):
    """The server refused *us* (credentials, TLS, sender address): stop the run; nothing is recorded."""

    def __init__(self, detail: str, code: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code


class Withdrawn(Exception):
    """The caller's `ready` said no: the message was not delivered (and nothing else was)."""


Ready = Callable[[], bool]  # blocks until the message may be delivered (True) or must not be (False)


class Sender(Protocol):
    """What the digest run needs: `SmtpSender` for real, `MaildirSender` for --dry-run.

    `send(message, ready=...)` calls `ready` once everything but the act that delivers is done (the
    final "." of DATA; the Maildir file's rename), and delivers only if it returns True; False raises
    `Withdrawn`. The ledger uses it to transmit a message while the one before it is being recorded."""

    def send(self, message: Mail, *, ready: Ready | None = None) -> Result: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: object) -> None: ...


@dataclass(frozen=True)
class _Envelope:
    sender: str
    recipient: str
    data: bytes  # the message as transmitted after DATA: CRLF lines, dot-stuffed, with the final "."
    smtputf8: bool
    eight_bit: bool = False  # a body is 8bit: sent with BODY=8BITMIME, or rebuilt where it is not offered


def _envelope(message: Message | PreparedMessage, sign: Callable[[bytes], bytes] | None) -> tuple[_Envelope, bytes]:
    """Check the message has one recipient and serialize it; returns the envelope and the signed bytes."""
    if isinstance(message, PreparedMessage):
        if sign is None and message.stuffed is not None:
            return _Envelope(message.sender, message.recipient, message.stuffed, False, message.eight_bit), message.data
        data = message.data if sign is None else _crlf(sign(message.data))
        return _Envelope(message.sender, message.recipient, _stuffed(data), False, message.eight_bit), data
    for name in ("Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"):
        if message.get(name) is not None:
            raise ValueError(f"a digest goes to one reader only; the message has a {name} header")
    to_headers = message.get_all("To") or []
    from_headers = message.get_all("From") or []
    if len(to_headers) != 1 or len(from_headers) != 1:
        raise ValueError("the message must have exactly one From and one To header")
    recipient = _one_address(str(to_headers[0]), "To").addr_spec
    sender = _one_address(str(from_headers[0]), "From").addr_spec
    smtputf8 = not (recipient + sender).isascii()
    data = message.as_bytes(policy=_WIRE_POLICY_UTF8 if smtputf8 else _WIRE_POLICY)
    if sign is not None:
        data = sign(data)
    data = _crlf(data)
    return _Envelope(sender, recipient, _stuffed(data), smtputf8), data


_END = b".\r\n"  # after the message's last CRLF: the end of data


def _stuffed(data: bytes) -> bytes:
    """CRLF-ended `data` as transmitted after DATA: dot-stuffed, with the final "." (RFC 5321 §4.5.2)."""
    return (b"." if data.startswith(b".") else b"") + _stuff_lines(data) + _END


def _stuff_lines(data: bytes) -> bytes:
    """`data` with a "." doubled wherever one begins a line after the first."""
    return data.replace(b"\n.", b"\n..")  # as re.sub(rb"(?<=\n)\."), without the regex cost


# ---------------------------------------------------------------------------------------------- SMTP


@dataclass(frozen=True)
class _Attempt:
    outcome: Outcome
    code: int | None
    detail: str
    stale: bool = False  # a reused connection was found closed before the transaction began
    maybe_delivered: bool = False


class SmtpSender:
    """Submits messages one recipient at a time over one reused connection.

    The connection opens on the first `send` and is kept until `close` (or the end of the `with` block),
    since a TCP and TLS handshake per message would dominate a run. Where the server offers PIPELINING
    (RFC 2920), MAIL, RCPT and DATA go in one write: two round trips per message instead of four.
    A connection found closed when a transaction starts (idle timeout, `421` at MAIL) is replaced at
    once, without counting an attempt.
    Other 4xx replies and connection errors are retried after `backoff[i]` seconds (the last value is
    reused when there are more retries than values), `1 + retries` attempts in all. With
    `rate_per_second`, transactions start at least `1 / rate` seconds apart.

    `ssl_context` defaults to the system's trusted certificates with host name checking; `sign`, if given,
    receives the serialized message (CRLF line endings) and returns it signed, e.g. with dkimpy:
    `lambda data: dkim.sign(data, selector, domain, key) + data`. Not thread-safe.
    """

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        retries: int = 3,
        backoff: Sequence[float] = (1, 4, 16),
        sleep: Callable[[float], None] = time.sleep,
        ssl_context: ssl.SSLContext | None = None,
        sign: Callable[[bytes], bytes] | None = None,
        local_hostname: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.settings = settings
        self.retries = retries
        self.backoff = tuple(backoff)
        self.connections_opened = 0
        self._sleep = sleep
        self._clock = clock
        self._ssl_context = ssl_context
        self._sign = sign
        self._local_hostname = local_hostname
        self._conn: smtplib.SMTP | None = None
        self._next_start = -math.inf

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Say QUIT politely; a connection that is already gone is simply dropped."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except OSError:
            conn.close()

    def send(self, message: Mail, *, ready: Ready | None = None) -> Result:
        """Submit `message` to its one To address; see the module docstring for what the result means.

        Raises ValueError (before anything is sent) for a message with other than one recipient, and
        DeliveryError when the server refuses us rather than the reader. A `PreparedMessage` with an
        8bit body goes with BODY=8BITMIME, or as its rebuilt 7-bit `message` to a server without it.

        `ready`, if given, is called when all of the message but the "." that ends it has been
        transmitted; False closes the connection instead, so the server drops the transaction (a
        message is only delivered once its end of data is received, RFC 5321 §4.1.1.4), and raises
        `Withdrawn`.
        """
        envelope, _ = _envelope(message, self._sign)
        attempts = 0
        reconnected = False  # the one free reconnection for a connection found closed
        free_retry = False
        while True:
            if not free_retry:
                self._throttle()
            free_retry = False
            attempts += 1
            attempt = self._attempt(envelope, message, ready)
            if attempt.stale and not reconnected:
                log.info("the SMTP connection had been closed by the server; reconnecting")
                reconnected = free_retry = True
                attempts -= 1
                continue
            connection_failed = attempt.outcome is Outcome.RETRY and attempt.code is None
            if not connection_failed or attempt.maybe_delivered or attempts > self.retries:
                if attempt.outcome is Outcome.RETRY:
                    log.warning("a message was not delivered after %d attempt(s); left for later", attempts)
                # The server's words can quote the address: only the reply code is logged.
                log.debug("%s: %s after %d attempt(s), reply %s", _message_id(message), attempt.outcome.name,
                          attempts, attempt.code)  # fmt: skip
                return Result(attempt.outcome, attempt.code, attempt.detail, attempts, attempt.maybe_delivered)
            delay = self.backoff[min(attempts - 1, len(self.backoff) - 1)] if self.backoff else 0.0
            log.warning("delivery attempt %d of %d failed (%s); retrying in %g s", attempts, self.retries + 1,
                        attempt.code or "connection", delay)  # fmt: skip
            log.debug("attempt %d failed: %s", attempts, attempt.detail)
            self._sleep(delay)

    def _throttle(self) -> None:
        rate = self.settings.rate_per_second
        if rate is None:
            return
        now = self._clock()
        if self._next_start > now:
            self._sleep(self._next_start - now)
            now = self._next_start
        self._next_start = now + 1 / rate

    def _attempt(self, envelope: _Envelope, message: Mail, ready: Ready | None) -> _Attempt:
        reused = self._conn is not None
        try:
            conn = self._connection()
        except OSError as exc:  # every smtplib error is one; DeliveryError is not, and stops the run
            return _Attempt(Outcome.RETRY, getattr(exc, "smtp_code", None), f"connecting: {_describe(exc)}")

        if envelope.smtputf8 and not conn.has_extn("smtputf8"):
            return _Attempt(Outcome.BOUNCED, None, "the address needs SMTPUTF8, which this server does not offer")
        if envelope.eight_bit and not conn.has_extn("8bitmime") and isinstance(message, PreparedMessage):
            envelope, _ = _envelope(message.message, self._sign)
        options = ["SMTPUTF8", *(["BODY=8BITMIME"] if conn.has_extn("8bitmime") else [])] if envelope.smtputf8 else []
        if envelope.eight_bit:
            options = ["BODY=8BITMIME"]
        tail = "".join(f" {option}" for option in options) if conn.does_esmtp else ""
        commands = (
            ("MAIL", f"MAIL FROM:<{envelope.sender}>{tail}", (250,)),
            ("RCPT", f"RCPT TO:<{envelope.recipient}>", (250, 251)),
            ("DATA", "DATA", (354,)),
        )
        if any(c in command for _, command, _ in commands for c in "\r\n"):
            raise ValueError("an envelope address holds a line break")  # as smtplib's putcmd
        lines = [f"{command}\r\n".encode("utf-8" if envelope.smtputf8 else "ascii") for _, command, _ in commands]
        pipelined = conn.has_extn("pipelining")
        phase = "MAIL"
        try:
            if pipelined:  # RFC 2920: the three commands in one write, their replies read in order
                conn.send(b"".join(lines))
            for index, (phase, _, accepted) in enumerate(commands):
                if not pipelined:
                    conn.send(lines[index])
                code, reply = conn.getreply()
                if code not in accepted:
                    if pipelined and code != 421:
                        self._drain(conn, len(commands) - 1 - index)
                    return self._refused(phase, code, reply, stale=reused and phase == "MAIL")
            if ready is None:
                conn.send(envelope.data)
            else:
                conn.send(memoryview(envelope.data)[: -len(_END)])
                if not ready():
                    self._discard()
                    raise Withdrawn("withdrawn before its end of data")
                conn.send(_END)
            phase = "end of data"
            code, reply = conn.getreply()
        except OSError as exc:
            self._discard()
            if phase == "end of data":
                log.warning("the connection broke after a message was transmitted; it may have been delivered")
                return _Attempt(Outcome.RETRY, None, f"no reply after the message: {_describe(exc)}",
                                maybe_delivered=True)  # fmt: skip
            return _Attempt(Outcome.RETRY, None, f"{phase}: {_describe(exc)}", stale=reused and phase == "MAIL")
        if code == 250:
            return _Attempt(Outcome.SENT, code, _reply_text(code, reply))
        return self._refused(phase, code, reply)

    def _refused(self, phase: str, code: int, reply: bytes, *, stale: bool = False) -> _Attempt:
        detail = f"{phase}: {_reply_text(code, reply)}"
        if code == 421:  # the server is closing the connection: it wants everyone to wait
            self._discard()
            return _Attempt(Outcome.DEFERRED, code, detail, stale=stale)
        if 400 <= code < 500:
            self._reset()
            return _Attempt(Outcome.DEFERRED if phase == "MAIL" else Outcome.RETRY, code, detail)
        if 500 <= code < 600:
            self._reset()
            if phase == "MAIL":
                raise DeliveryError(f"the server refused our sender address: {detail}", code)
            enhanced = enhanced_code(reply)
            if enhanced[1:2] == (7,) or enhanced[1:3] in ((1, 7), (1, 8)):
                # Policy (5.7.x: "relay access denied", "authentication required") or our sender's
                # address (5.1.7, 5.1.8), reported at RCPT by relays that delay their checks.
                raise DeliveryError(f"the server refused us, not a reader: {detail}", code)
            if phase == "RCPT" or enhanced[1:2] in ((1,), (2,)):
                return _Attempt(Outcome.BOUNCED, code, detail)
            raise DeliveryError(f"the server refused the message, not a reader: {detail}", code)
        self._discard()  # no reply code we understand (smtplib says -1): start afresh
        return _Attempt(Outcome.RETRY, code if code > 0 else None, detail)

    def _drain(self, conn: smtplib.SMTP, replies: int) -> None:
        """Read the `replies` still due for pipelined commands after one was refused. A server that
        accepted DATA all the same gets the lone "." that ends an empty message (RFC 2920 §3.1), so
        that the RSET which follows is read as such; a broken connection is dropped."""
        try:
            code = 0
            for _ in range(replies):
                code, _reply = conn.getreply()
            if code == 354:
                conn.send(b".\r\n")
                conn.getreply()
        except OSError:
            self._discard()

    def _reset(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.rset()
        except OSError:
            self._discard()

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _connection(self) -> smtplib.SMTP:
        """The open connection, or a new one: greeted, encrypted and logged in as the settings say."""
        if self._conn is not None:
            return self._conn
        s = self.settings
        context = self._ssl_context or ssl.create_default_context()
        try:
            if s.security == "tls":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, self._local_hostname, timeout=s.timeout, context=context
                )
            else:
                conn = smtplib.SMTP(s.host, s.port, self._local_hostname, timeout=s.timeout)
        except (smtplib.SMTPConnectError, ssl.SSLError) as exc:
            _raise_if_fatal(exc)
            raise
        self.connections_opened += 1
        try:
            # The "." that ends a message may follow its body by the time a commit takes (`ready`):
            # with Nagle's algorithm it would then wait for the ACK the server delays, 40 ms here.
            if conn.sock is not None:
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.ehlo_or_helo_if_needed()
            if s.security == "starttls":
                conn.starttls(context=context)
                conn.ehlo_or_helo_if_needed()
            if s.username is not None and s.password is not None:
                if s.security == "none":
                    log.warning("sending SMTP credentials without TLS to %s", s.host)
                conn.login(s.username, s.password)
        except OSError as exc:
            conn.close()
            _raise_if_fatal(exc)
            raise
        log.info("connected to %s:%d (%s)", s.host, s.port, s.security)
        self._conn = conn
        return conn


def _message_id(message: Mail) -> str | None:
    return message.message_id if isinstance(message, PreparedMessage) else message.get("Message-ID")


def _raise_if_fatal(exc: OSError) -> None:
    """Turn errors that retrying cannot fix, and that are not about the reader, into DeliveryError."""
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        raise DeliveryError(f"the server does not offer what the settings require: {exc}") from exc
    if isinstance(exc, ssl.SSLCertVerificationError):
        raise DeliveryError(f"the server's TLS certificate is not trusted: {exc.verify_message}") from exc
    if isinstance(exc, ssl.SSLError) and not isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        raise DeliveryError(f"TLS could not be established: {exc.reason or exc}") from exc
    if isinstance(exc, smtplib.SMTPResponseException) and 500 <= exc.smtp_code < 600:
        what = "credentials" if isinstance(exc, smtplib.SMTPAuthenticationError) else "connection"
        raise DeliveryError(f"the server refused our {what}: {_describe(exc)}", exc.smtp_code) from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply_text(exc.smtp_code, exc.smtp_error)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def enhanced_code(reply: bytes | str) -> tuple[int, ...]:
    """The enhanced status code (RFC 3463) a reply text starts with, e.g. (5, 1, 1), or () if none."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    match = re.match(r"\s*([245])\.(\d{1,3})\.(\d{1,3})\b", text)
    return tuple(int(part) for part in match.groups()) if match else ()


def _reply_text(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return f"{code} {' '.join(text.split())}"


# ---------------------------------------------------------------------------------------------- dry run


MAILDIR_FOLDERS = ("tmp", "new", "cur")


def _make_maildir(path: Path) -> None:
    """Make `path` a Maildir: a new or empty folder gets `tmp/`, `new/` and `cur/`; a Maildir stays one.

    Raises `DomainError` for a file, or a folder holding other things (a dry run must not scatter
    messages among someone's files)."""
    if path.exists() and not path.is_dir():
        raise DomainError(f"{path} is a file: give a new or empty folder, or a Maildir, for the dry run")
    if path.is_dir() and any(path.iterdir()) and not all((path / name).is_dir() for name in MAILDIR_FOLDERS):
        raise DomainError(f"{path} holds other files and is not a Maildir: give a new or empty folder")
    for name in MAILDIR_FOLDERS:
        (path / name).mkdir(parents=True, exist_ok=True)


class MaildirSender:
    """--dry-run: each message goes into a Maildir (`new/*.eml`) exactly as it would have been sent.

    The same checks as `SmtpSender` apply, so a dry run catches a message that would be refused.
    """

    def __init__(self, path: Path, *, sign: Callable[[bytes], bytes] | None = None) -> None:
        self.path = Path(path)
        _make_maildir(self.path)
        self._maildir = mailbox.Maildir(self.path, create=False)
        self._sign = sign

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._maildir.close()

    def send(self, message: Mail, *, ready: Ready | None = None) -> Result:
        _, data = _envelope(message, self._sign)
        if ready is not None and not ready():
            raise Withdrawn("withdrawn before it was written")
        key = self._maildir.add(data.replace(b"\r\n", b"\n"))
        written = self.path / "new" / f"{key}.eml"
        os.rename(self.path / "new" / key, written)  # a valid Maildir name still, and opens in a mail client
        return Result(Outcome.SENT, None, f"written to {written}", 1)
