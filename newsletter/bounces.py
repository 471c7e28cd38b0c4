"""Bounces that arrive later: delivery status notifications read from a maildir or an IMAP folder.

Most relays accept a message and bounce it afterwards, to our From address, so the same mailbox also
holds replies and auto-replies. Each unread message is read once:

1. Is it a bounce? Only mail from a mail system (a null Return-Path, MAILER-DAEMON or postmaster, a
   `multipart/report`, or Exim's `X-Failed-Recipients`) is given to Mailman's flufl.bounce, which
   knows RFC 3464 DSNs and the common non-standard formats and says which addresses failed, for now
   or for good. Its heuristics also "find" addresses in ordinary prose (`my colleague, x@y.org, …`),
   so a reply or an out-of-office message is never given to it: it is *not a bounce*, left unread
   for a person, and changes nothing.
2. Which delivery? By our Message-ID (`<nansen.{edition}.{key prefix}@…>`) in the returned headers
   (`message/rfc822` or `text/rfc822-headers`), in the quoted text, or in the bounce's own
   References; else by the failed address, if we sent that subscriber an edition.
3. Permanent or soft? A DSN's Status decides: class 4 (and x.2.2, mailbox full, whatever its class,
   as most senders treat it) is soft, as is flufl.bounce's "delayed"; everything else it reports is
   permanent. A permanent failure marks the subscriber bounced and the delivery row `bounced` with the
   server's words. Soft bounces are counted per edition: `soft_limit` of them for consecutive editions
   sent to that person (a segment with no news in between does not break the row) mark them bounced.

Reading twice counts nothing twice: a bounce is flagged seen (maildir `S`, IMAP `\\Seen`) right after
its effects are committed, and a soft bounce is counted at most once per edition, so even a crash
between the two only repeats work that changes nothing. Nothing in a message can make this crash:
whatever cannot be read is *not a bounce*.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import os
import re
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from email.utils import parseaddr
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, Self, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from flufl.bounce import all_failures
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from directory.errors import DomainError
from directory.models import utcnow
from newsletter import subscribers as subs
from newsletter.models import Delivery, DeliveryStatus, Edition, Subscriber, SubscriberStatus

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 10 * 1024 * 1024  # larger mail is no bounce worth reading (and would cost memory)
DIAGNOSTIC_CHARS = 500
OUR_MESSAGE_ID = re.compile(r"<nansen\.(\d{1,9})\.([0-9A-Za-z_-]{1,64})@[^<>\s]{1,255}>")
ENHANCED_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
SMTP_REPLY = re.compile(r"\b[245]\d\d[ -]")
MAIL_SYSTEMS = ("mailer-daemon", "postmaster", "mail-daemon", "maildaemon", "mailerdaemon", "microsoftexchange")
# Where Exim, Postfix and others start quoting the message they return: no diagnostic after it.
QUOTE_STARTS = re.compile(r"^\s*(-{3,}|={3,}|\*{3,}).*(copy of|original message|returned|headers? follow)", re.I)
_PRINTABLE = re.compile(r"[^\S ]+|[\x00-\x1f\x7f-\x9f]")
_PARSER = BytesParser(policy=policy.default)
_HEADER_PARSER = BytesHeaderParser(policy=policy.default)


class BounceError(DomainError):
    """The mailbox cannot be opened or read (bad URL or path, login refused, no such folder)."""


@dataclass(frozen=True)
class BounceSettings:
    soft_limit: int = 3  # soft bounces for consecutive editions before an address counts as bounced


# --------------------------------------------------------------------------- reading one message


@dataclass(frozen=True)
class Failure:
    """One address a bounce reports, with what the remote server said."""

    address: str
    soft: bool
    diagnostic: str


@dataclass(frozen=True)
class Analysis:
    """What one message is: a bounce (`failures`) or not (`reason` says why)."""

    failures: tuple[Failure, ...] = ()
    message_ids: tuple[str, ...] = ()  # ours that it names, the most trustworthy first
    reason: str = ""

    @property
    def is_bounce(self) -> bool:
        return bool(self.failures)


def parse(raw: bytes) -> EmailMessage:
    """Bytes from a mailbox as a message (the parser records defects instead of raising)."""
    return _PARSER.parsebytes(raw)


def analyse(message: Message) -> Analysis:
    """Whether `message` is a bounce, which of our messages it returns and why it failed; never raises."""
    try:
        return _analyse(message)
    except Exception as exc:  # hostile input: anything that cannot be read is no bounce
        log.info("unreadable message: %s: %s", type(exc).__name__, exc)
        return Analysis(reason=f"unreadable ({type(exc).__name__})")


def _analyse(message: Message) -> Analysis:
    if not from_mail_system(message):
        return Analysis(reason="not from a mail system")
    temporary, permanent = all_failures(message)
    if not temporary and not permanent:
        return Analysis(reason="no failed address found")
    reports = _delivery_status(message)
    failures = []
    for raw_address in sorted(temporary | permanent):
        address = raw_address.decode("ascii", "replace").strip().lower()
        report = reports.get(address, {})
        diagnostic = _clean(
            _dsn_diagnostic(report) or _text_diagnostic(message, address) or str(message.get("subject", ""))
        )
        soft = raw_address in temporary or _is_soft(report.get("status") or diagnostic, report.get("action", ""))
        failures.append(Failure(address, soft, diagnostic))
    return Analysis(failures=tuple(failures), message_ids=_our_message_ids(message))


def from_mail_system(message: Message) -> bool:
    """Sent by a mail system about a delivery, not by a person (replies and auto-replies are not)."""
    if message.get_content_type() == "multipart/report" or message.get("x-failed-recipients") is not None:
        return True
    if str(message.get("return-path", "")).strip() == "<>":
        return True
    _name, sender = parseaddr(str(message.get("from", "")))
    local = sender.rpartition("@")[0] if "@" in sender else sender
    return local.lower().startswith(MAIL_SYSTEMS)


def _delivery_status(message: Message) -> dict[str, dict[str, str]]:
    """Per recipient of each message/delivery-status part: action, status and diagnostic (RFC 3464 §2.3)."""
    found: dict[str, dict[str, str]] = {}
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status" or not part.is_multipart():
            continue
        for block in cast(list[Message], part.get_payload()):
            fields = {name: " ".join(str(block.get(name, "")).split()) for name in ("action", "status")}
            fields["diagnostic"] = " ".join(str(block.get("diagnostic-code", "")).split())
            for name in ("original-recipient", "final-recipient"):
                value = str(block.get(name, ""))
                address = value.partition(";")[2].strip().strip("<>").lower()
                if address:
                    found.setdefault(address, fields)
    return found


def _dsn_diagnostic(report: dict[str, str]) -> str:
    status, diagnostic = report.get("status", ""), report.get("diagnostic", "")
    _kind, _, words = diagnostic.partition(";")
    words = words.strip() if ";" in diagnostic else diagnostic
    if status and words:
        return words if status in words else f"{status} {words}"
    return words or (f"{report.get('action', '')} {status}".strip() if status else "")


def _text_diagnostic(message: Message, address: str) -> str:
    """The server's words in a bounce written for people: the first line with an SMTP reply or an
    enhanced status code, from where the address is named, before the returned message is quoted."""
    for part in message.walk():
        if part.get_content_type() != "text/plain":
            continue
        lines = _text(part).splitlines()
        start = next((i for i, line in enumerate(lines) if address in line.lower()), 0)
        for line in lines[start:]:
            if QUOTE_STARTS.match(line):
                break
            if SMTP_REPLY.search(line) or ENHANCED_STATUS.search(line):
                return line
    return ""


def _is_soft(status: str, action: str) -> bool:
    if action.lower().startswith("delayed"):
        return True
    code = ENHANCED_STATUS.search(status)
    return code is not None and (code[1] == "4" or (code[2], code[3]) == ("2", "2"))


def _our_message_ids(message: Message) -> tuple[str, ...]:
    """Our Message-IDs that the bounce names: in the returned headers first, then in its text, then
    in its own References and In-Reply-To."""
    returned: list[str] = []
    quoted: list[str] = []
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "message/rfc822" and part.is_multipart():
            inner = cast(list[Message], part.get_payload())
            returned += [str(m.get("message-id", "")) for m in inner[:1]]
        elif content_type == "text/rfc822-headers":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                returned.append(str(_HEADER_PARSER.parsebytes(payload).get("message-id", "")))
        elif part.get_content_maintype() == "text":
            quoted.append(_text(part))
    own = [str(message.get(name, "")) for name in ("references", "in-reply-to")]
    found = [m[0] for text in (*returned, *quoted, *own) for m in OUR_MESSAGE_ID.finditer(text)]
    return tuple(dict.fromkeys(found))


def _text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


def _clean(text: str) -> str:
    """One line of printable text, short enough for a log line and a database column."""
    line = " ".join(_PRINTABLE.sub(" ", text).split())
    return line if len(line) <= DIAGNOSTIC_CHARS else line[: DIAGNOSTIC_CHARS - 1] + "…"


# --------------------------------------------------------------------------- what it changes


class Outcome(StrEnum):
    MARKED = "marked bounced"  # a permanent failure, or the soft limit reached
    SOFT = "soft bounce counted"
    UNCHANGED = "unchanged"  # already bounced or gone, or this edition's soft bounce already counted
    NOT_MATCHED = "not matched"  # no delivery of ours to that address
    NOT_A_BOUNCE = "not a bounce"


@dataclass(frozen=True)
class Finding:
    """One line of the report: a message, and what it did to whom."""

    message: str  # where it is in the mailbox (file name or IMAP UID)
    outcome: Outcome
    address: str = ""
    edition: int | None = None
    permanent: bool | None = None
    diagnostic: str = ""
    note: str = ""


@dataclass
class BounceReport:
    read: int = 0  # messages read
    bounces: int = 0  # of them, bounces
    not_a_bounce: int = 0  # of them, anything else (left unread)
    permanent_marked: int = 0  # subscribers marked bounced for a permanent failure
    soft_counted: int = 0  # soft bounces counted (one per subscriber and edition)
    soft_limit_reached: int = 0  # subscribers marked bounced for soft bounces in a row
    not_matched: int = 0  # failed addresses that match no delivery of ours
    unchanged: int = 0  # failed addresses already dealt with
    dry_run: bool = False
    findings: list[Finding] = field(default_factory=list)

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)
        if finding.outcome == Outcome.NOT_A_BOUNCE:
            self.not_a_bounce += 1
        elif finding.outcome == Outcome.NOT_MATCHED:
            self.not_matched += 1
        elif finding.outcome == Outcome.UNCHANGED:
            self.unchanged += 1
        elif finding.outcome == Outcome.SOFT:
            self.soft_counted += 1
        elif finding.permanent:
            self.permanent_marked += 1
        else:
            self.soft_counted += 1
            self.soft_limit_reached += 1

    def counts(self) -> dict[str, int]:
        """The numbers, as a run record keeps them."""
        names = ("read", "bounces", "permanent_marked", "soft_counted", "soft_limit_reached", "not_matched")
        return {name: getattr(self, name) for name in (*names, "unchanged", "not_a_bounce")}

    def summary(self) -> str:
        return (
            f"read {self.read} messages: {self.bounces} bounces ({self.permanent_marked} permanent marked bounced, "
            f"{self.soft_counted} soft counted, {self.soft_limit_reached} soft limit reached, "
            f"{self.not_matched} not matched, {self.unchanged} unchanged); {self.not_a_bounce} not a bounce"
            + (" — dry run, nothing written" if self.dry_run else "")
        )


def record(session: Session, ref: str, analysis: Analysis, settings: BounceSettings) -> list[Finding]:
    """Apply one analysed bounce to the subscribers and the delivery ledger (flushed, not committed)."""
    if not analysis.is_bounce:
        return [Finding(ref, Outcome.NOT_A_BOUNCE, note=analysis.reason)]
    for message_id in analysis.message_ids:
        delivery = _delivery_by_message_id(session, message_id)
        if delivery is not None:
            subscriber = session.get(Subscriber, delivery.subscriber_id)
            assert subscriber is not None
            failure = _failure_for(analysis.failures, subscriber.email)
            return [_apply(session, ref, subscriber, delivery, failure, settings, via="Message-ID")]
    # Without one of our Message-IDs the report proves nothing: anyone can mail a multipart/report naming
    # an address they know, and acting on it would let them remove any subscriber. Our Message-IDs carry
    # part of the reader's random key, which only mail we sent them contains.
    return [
        _finding(
            ref,
            Outcome.NOT_MATCHED,
            failure,
            None,
            "no subscriber has this address"
            if subs.find(session, failure.address) is None
            else "its Message-ID matches no mail we sent"
            if analysis.message_ids
            else "no Message-ID of ours in it: not applied",
        )
        for failure in analysis.failures
    ]


def _failure_for(failures: Sequence[Failure], email: str) -> Failure:
    """The failure about this subscriber: their address, else (forwarded mail) the worst reported."""
    for failure in failures:
        if failure.address == email:
            return failure
    return next((f for f in failures if not f.soft), failures[0])


def _delivery_by_message_id(session: Session, message_id: str) -> Delivery | None:
    match = OUR_MESSAGE_ID.fullmatch(message_id)
    if match is None:
        return None
    number, prefix = int(match[1]), match[2]
    found = session.scalars(
        select(Delivery)
        .join(Edition, Edition.id == Delivery.edition_id)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Edition.number == number, func.substr(Subscriber.key, 1, len(prefix)) == prefix)
        .limit(2)
    ).all()
    return found[0] if len(found) == 1 else None


_DELIVERED = (DeliveryStatus.SENT.value, DeliveryStatus.BOUNCED.value)
_MAILED = (*_DELIVERED, DeliveryStatus.FAILED.value, DeliveryStatus.RETRY.value, DeliveryStatus.SENDING.value)


def _previous_edition(session: Session, subscriber_id: int, number: int) -> int | None:
    """The edition mailed to this subscriber before `number` (segments with no news get none)."""
    return session.scalar(
        select(func.max(Edition.number))
        .join(Delivery, Delivery.edition_id == Edition.id)
        .where(Delivery.subscriber_id == subscriber_id, Delivery.status.in_(_MAILED), Edition.number < number)
    )


def _apply(
    session: Session,
    ref: str,
    subscriber: Subscriber,
    delivery: Delivery,
    failure: Failure,
    settings: BounceSettings,
    *,
    via: str,
) -> Finding:
    edition = session.get(Edition, delivery.edition_id)
    assert edition is not None
    number = edition.number

    def finding(outcome: Outcome, note: str) -> Finding:
        return _finding(ref, outcome, failure, number, f"{subscriber.email} (by {via}): {note}")

    if not failure.soft:
        _bounce_delivery(delivery, f"bounced later: {failure.diagnostic}")
        if subscriber.status != SubscriberStatus.ACTIVE:
            return finding(Outcome.UNCHANGED, f"already {subscriber.status}")
        subs.mark_bounced(session, subscriber.id)
        return finding(Outcome.MARKED, "permanent failure")
    if subscriber.status != SubscriberStatus.ACTIVE:
        return finding(Outcome.UNCHANGED, f"already {subscriber.status}")
    last = subscriber.last_soft_edition
    if last is not None and number <= last:
        return finding(Outcome.UNCHANGED, f"soft bounces counted up to edition {last} already")
    in_a_row = last is not None and _previous_edition(session, subscriber.id, number) == last
    subscriber.soft_bounces = (subscriber.soft_bounces or 0) + 1 if in_a_row else 1
    subscriber.last_soft_edition = number
    if subscriber.soft_bounces < settings.soft_limit:
        if delivery.status == DeliveryStatus.SENT:
            delivery.last_error, delivery.updated_at = f"soft bounce: {failure.diagnostic}", utcnow()
        session.flush()
        return finding(Outcome.SOFT, f"soft bounce {subscriber.soft_bounces} of {settings.soft_limit} in a row")
    _bounce_delivery(delivery, f"bounced later, soft bounce {subscriber.soft_bounces} in a row: {failure.diagnostic}")
    subscriber.soft_bounces = 0  # a later re-subscription starts a new row
    subs.mark_bounced(session, subscriber.id)
    session.flush()
    return finding(Outcome.MARKED, f"soft bounce {settings.soft_limit} of {settings.soft_limit} in a row")


def _bounce_delivery(delivery: Delivery, error: str) -> None:
    if delivery.status == DeliveryStatus.SENT:
        delivery.status, delivery.last_error, delivery.updated_at = DeliveryStatus.BOUNCED.value, error, utcnow()


def _finding(ref: str, outcome: Outcome, failure: Failure, edition: int | None, note: str) -> Finding:
    return Finding(ref, outcome, failure.address, edition, not failure.soft, failure.diagnostic, note)


# --------------------------------------------------------------------------- mailboxes


@dataclass(frozen=True)
class Incoming:
    ref: str  # the mailbox's name for it, for `mark_seen` and the report
    message: EmailMessage | None  # None when it was not read (too large)
    problem: str = ""


class Mailbox(Protocol):
    """Where bounces arrive; unread messages in, processed ones flagged seen."""

    name: str  # for messages, without any password

    def unread(self) -> Iterator[Incoming]: ...

    def mark_seen(self, ref: str) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: object) -> None: ...


class Maildir:
    """A maildir (`cur/`, `new/`): unread is what has no `S` flag; seen moves to `cur/` with `:2,S`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        if not ((self.path / "cur").is_dir() and (self.path / "new").is_dir()):
            raise BounceError(f"{self.path}: not a maildir (it needs cur/ and new/ folders)")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def unread(self) -> Iterator[Incoming]:
        names = [
            f"{sub}/{entry.name}"
            for sub in ("new", "cur")
            for entry in sorted(os.scandir(self.path / sub), key=lambda e: e.name)
            if not entry.name.startswith(".") and entry.is_file() and not {"S", "T"} & _flags(entry.name)
        ]
        for ref in names:
            path = self.path / ref
            try:
                size = path.stat().st_size
                if size > MAX_MESSAGE_BYTES:
                    yield Incoming(ref, None, f"too large ({size} bytes)")
                    continue
                raw = path.read_bytes()
            except FileNotFoundError:  # taken by another reader or a mail client meanwhile
                continue
            except OSError as exc:
                raise BounceError(f"{path}: {exc.strerror or exc}") from None
            yield Incoming(ref, parse(raw))

    def mark_seen(self, ref: str) -> None:
        sub, _, name = ref.partition("/")
        unique = name.partition(":")[0]
        flags = "".join(sorted(_flags(name) | {"S"}))
        with contextlib.suppress(FileNotFoundError):
            os.rename(self.path / sub / name, self.path / "cur" / f"{unique}:2,{flags}")


def _flags(name: str) -> set[str]:
    _unique, _, info = name.partition(":")
    return set(info[2:]) if info.startswith("2,") else set()


class ImapFolder:
    """An IMAP folder over imaplib: UNSEEN in, `\\Seen` out; read-only (EXAMINE) for a dry run."""

    def __init__(self, url: str, *, readonly: bool = False, timeout: float = 60.0) -> None:
        self.address = parse_imap_url(url)
        self.name = self.address.display
        self.readonly = readonly
        self.timeout = timeout
        self._connection: imaplib.IMAP4 | None = None

    def __enter__(self) -> Self:
        address = self.address
        try:
            if address.tls:
                context = ssl.create_default_context()
                connection: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    address.host, address.port, ssl_context=context, timeout=self.timeout
                )
            else:
                connection = imaplib.IMAP4(address.host, address.port, timeout=self.timeout)
                if address.starttls:
                    connection.starttls(ssl.create_default_context())
            self._connection = connection
            connection.login(address.user, address.password)
            status, detail = connection.select(_quoted(address.folder), readonly=self.readonly)
            if status != "OK":
                raise BounceError(f"{self.name}: no folder {address.folder!r}: {_words(detail)}")
        except (imaplib.IMAP4.error, OSError) as exc:
            self.__exit__()
            raise BounceError(f"{self.name}: {_describe(exc)}") from None
        except BounceError:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                if connection.state == "SELECTED":
                    connection.close()
                connection.logout()

    def _ask(self, command: str, *args: str) -> list[Any]:
        if self._connection is None:
            raise BounceError(f"{self.name}: not connected")
        try:
            status, data = self._connection.uid(command, *args)
        except (imaplib.IMAP4.error, OSError) as exc:
            raise BounceError(f"{self.name}: {_describe(exc)}") from None
        if status != "OK":
            raise BounceError(f"{self.name}: {command} refused: {_words(data)}")
        return list(data)

    def _search(self, *criteria: str) -> list[str]:
        return [uid.decode() for line in self._ask("SEARCH", *criteria) if line for uid in line.split()]

    def unread(self) -> Iterator[Incoming]:
        for uid in self._search("UNSEEN", "LARGER", str(MAX_MESSAGE_BYTES)):
            yield Incoming(uid, None, "too large")
        for uid in self._search("UNSEEN", "SMALLER", str(MAX_MESSAGE_BYTES + 1)):
            raw = next((item[1] for item in self._ask("FETCH", uid, "(BODY.PEEK[])") if isinstance(item, tuple)), None)
            if isinstance(raw, bytes):  # None: expunged meanwhile
                yield Incoming(uid, parse(raw))

    def mark_seen(self, ref: str) -> None:
        self._ask("STORE", ref, "+FLAGS.SILENT", "(\\Seen)")


@dataclass(frozen=True)
class ImapAddress:
    host: str
    port: int
    user: str
    password: str
    folder: str
    tls: bool
    starttls: bool

    @property
    def display(self) -> str:
        """The URL without its password."""
        return f"{'imaps' if self.tls else 'imap'}://{self.user}@{self.host}:{self.port}/{self.folder}"


def parse_imap_url(url: str) -> ImapAddress:
    """`imaps://user:password@host:993/Folder` (or `imap://…?starttls=1`); user and password
    percent-decoded; the folder defaults to INBOX. No error repeats the password."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise BounceError("the IMAP URL is malformed (percent-encode '/', '?', '#' and '@' in the password)") from None
    scheme = parts.scheme.lower()
    if scheme not in ("imap", "imaps"):
        raise BounceError(f"the bounces URL must start with imaps:// or imap:// (or be a maildir), not {scheme}://")
    if not parts.hostname:
        raise BounceError("the IMAP URL has no host")
    if not parts.username or parts.password is None:
        raise BounceError("the IMAP URL needs a user name and a password (imaps://user:password@host/INBOX)")
    params = dict(parse_qsl(parts.query))
    unknown = sorted(set(params) - {"starttls"})
    if unknown:
        raise BounceError(f"unknown IMAP URL parameter {unknown[0]!r} (known: starttls)")
    starttls = params.get("starttls", "0").lower() in ("1", "true", "yes", "on")
    if scheme == "imaps" and starttls:
        raise BounceError("imaps:// is TLS from the first byte; starttls=1 applies to imap:// only")
    return ImapAddress(
        host=parts.hostname,
        port=port or (993 if scheme == "imaps" else 143),
        user=unquote(parts.username),
        password=unquote(parts.password),
        folder=unquote(parts.path.lstrip("/")) or "INBOX",
        tls=scheme == "imaps",
        starttls=starttls,
    )


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _words(data: Any) -> str:
    parts = data if isinstance(data, list | tuple) else [data]
    text = " ".join(p.decode("utf-8", "replace") if isinstance(p, bytes) else str(p) for p in parts if p)
    return _clean(text) or "no reason given"


def _describe(exc: BaseException) -> str:
    return _clean(str(exc)) or type(exc).__name__


def open_mailbox(source: str, *, readonly: bool = False) -> Maildir | ImapFolder:
    """A maildir path (or `maildir:/path`) or an `imaps://` / `imap://` URL."""
    if source.startswith("maildir:"):
        return Maildir(Path(unquote(urlsplit(source).path)))
    if "://" in source:
        return ImapFolder(source, readonly=readonly)
    return Maildir(Path(source))


# --------------------------------------------------------------------------- the run


class _DryRunDone(Exception):
    """Raised at the end of a dry run so the unit of work rolls back."""


def process(
    open_session: Callable[[], AbstractContextManager[Session]],
    mailbox: Mailbox,
    settings: BounceSettings,
    *,
    dry_run: bool = False,
) -> BounceReport:
    """Read every unread message of `mailbox` and apply the bounces among them (see the module docstring).

    `open_session` is a unit-of-work factory (`Store.session`): each bounce is committed on its own,
    then flagged seen. A dry run applies everything in one unit of work that is rolled back and flags
    nothing, so its report says exactly what a real run would do.
    """
    report = BounceReport(dry_run=dry_run)
    if dry_run:
        with contextlib.suppress(_DryRunDone), open_session() as session:
            for incoming in mailbox.unread():
                _one(session, incoming, settings, report)
            raise _DryRunDone
        return report
    for incoming in mailbox.unread():
        with open_session() as session:
            is_bounce = _one(session, incoming, settings, report)
        if is_bounce:
            mailbox.mark_seen(incoming.ref)
    return report


def _one(session: Session, incoming: Incoming, settings: BounceSettings, report: BounceReport) -> bool:
    report.read += 1
    if incoming.message is None:
        report.add(Finding(incoming.ref, Outcome.NOT_A_BOUNCE, note=incoming.problem))
        return False
    analysis = analyse(incoming.message)
    for finding in record(session, incoming.ref, analysis, settings):
        report.add(finding)
    session.flush()
    report.bounces += analysis.is_bounce
    return analysis.is_bounce
