"""Delivery against a real SMTP server: aiosmtpd on 127.0.0.1, with handlers that refuse, stall and hang up.

Each handler answers the way real servers do when things go wrong (451 greylisting, 550 unknown user,
a connection closed between messages or in the middle of one), and the tests check what `SmtpSender`
reports for each, since the ledger records exactly that. Backoff sleeps are recorded, not slept.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import mailbox
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

from newsletter.delivery import (  # noqa: E402
    DeliveryError,
    MaildirSender,
    Outcome,
    SmtpSender,
    SmtpSettings,
    build_message,
    parse_smtp_url,
)

DATE = dt.datetime(2026, 4, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=3)))
SUBJECT = "Дайджест Нансена: что изменилось за неделю"


class _Controller(aiosmtpd_controller.Controller):
    """A Controller that can listen on port 0: aiosmtpd pokes its own port to start, so learn it first."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class Recorder:
    """Accepts everything; remembers each message and each distinct client session (= TCP connection).
    With `pipelining`, offers PIPELINING (RFC 2920), as Postfix does; aiosmtpd reads commands one by
    one from the stream, so it takes a pipelined client without offering it."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.sessions: list[Any] = []
        self.mail_options: list[list[str]] = []
        self.pipelining = False

    def _note(self, session: Any) -> None:
        if not any(known is session for known in self.sessions):
            self.sessions.append(session)

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]) -> Any:
        self._note(session)
        session.host_name = hostname  # aiosmtpd leaves this to a handle_EHLO hook; MAIL fails without it
        return [*responses[:-1], "250-PIPELINING", responses[-1]] if self.pipelining else responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        self._note(session)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        self.mail_options.append(list(options))
        return "250 2.1.0 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 queued"

    def parsed(self, index: int = -1) -> EmailMessage:
        return email.message_from_bytes(self.messages[index][2], policy=email.policy.default)


class FailFirstData(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.data_commands = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_commands += 1
        if self.data_commands == 1:
            return "451 4.3.0 try later"
        return await super().handle_DATA(server, session, envelope)


class AlwaysBusy(Recorder):
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "451 4.3.0 try later"


class NoSuchUser(Recorder):
    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        return "550 5.1.1 no such user"


class HangUpAfterFirst(Recorder):
    """Closes the connection right after accepting the first message, as an idle timeout would."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if len(self.messages) == 1:
            asyncio.get_running_loop().call_soon(server.transport.close)  # after the 250 is written
        return reply


class ClosingAtSecondMail(Recorder):
    """Answers 421 to the second MAIL on a connection (a per-connection message limit) and hangs up."""

    def __init__(self) -> None:
        super().__init__()
        self.mails: dict[int, int] = {}

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        count = self.mails[id(session)] = self.mails.get(id(session), 0) + 1
        if count == 2:
            asyncio.get_running_loop().call_soon(server.transport.close)
            return "421 4.7.0 too many messages on one connection"
        return await super().handle_MAIL(server, session, envelope, address, options)


class VanishesBeforeReply(Recorder):
    """Receives the whole message, then drops the connection without answering: the ambiguous case."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await super().handle_DATA(server, session, envelope)
        server.transport.abort()
        return "250 2.0.0 queued"  # never reaches the client


@pytest.fixture(params=[False, True], ids=["one-command-at-a-time", "pipelining"])
def serve(request: pytest.FixtureRequest) -> Iterator[Callable[..., _Controller]]:
    """Start aiosmtpd servers on free loopback ports, offering PIPELINING or not (each test runs with
    both); all are stopped after the test."""
    controllers: list[_Controller] = []

    def start(handler: Recorder, **kwargs: Any) -> _Controller:
        handler.pipelining = request.param
        controller = _Controller(handler, hostname="127.0.0.1", port=0, **kwargs)
        controller.start()
        controllers.append(controller)
        return controller

    yield start
    for controller in controllers:
        controller.stop()


def settings_for(controller: _Controller, **overrides: Any) -> SmtpSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": controller.port,
        "username": None,
        "password": None,
        "security": "none",
        "timeout": 5.0,
    }
    return SmtpSettings(**(values | overrides))


def digest(n: int = 0, *, to: str | None = None, **overrides: Any) -> EmailMessage:
    values: dict[str, Any] = {
        "sender": "Нансен <digest@nansen.example>",
        "to": to or f"Reader {n} <reader{n}@example.org>",
        "subject": SUBJECT,
        "text": f"Новое в каталоге, выпуск {n}.\n.Строка с точкой в начале.\n",
        "html": f"<p>Новое в каталоге, выпуск {n}.</p>",
        "message_id": f"digest-{n}.2026-04-01@nansen.example",
        "list_id": "Nansen digest <digest.nansen.example>",
        "unsubscribe_url": f"https://nansen.example/unsubscribe?token={'t' * 120}{n}",
        "unsubscribe_mailto": "unsubscribe@nansen.example",
        "date": DATE,
    }
    return build_message(**(values | overrides))


class Sleeps(list[float]):
    """A `sleep` that records what it was asked to wait, so backoff is checked without waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# ---------------------------------------------------------------------------------------------- sending


def test_twenty_messages_share_one_connection_and_arrive_intact(serve: Callable[..., _Controller]) -> None:
    handler = Recorder()
    controller = serve(handler)
    with SmtpSender(settings_for(controller)) as sender:
        results = [sender.send(digest(n)) for n in range(20)]
    assert {r.outcome for r in results} == {Outcome.SENT}
    assert {(r.code, r.attempts, r.maybe_delivered) for r in results} == {(250, 1, False)}
    assert sender.connections_opened == 1
    assert len(handler.sessions) == 1
    assert len(handler.messages) == 20

    for n, (mail_from, rcpt_tos, _) in enumerate(handler.messages):
        assert mail_from == "digest@nansen.example"
        assert rcpt_tos == [f"reader{n}@example.org"]  # exactly one recipient per transaction

    message = handler.parsed(7)
    assert message["Message-ID"] == "<digest-7.2026-04-01@nansen.example>"
    assert message["Subject"] == SUBJECT
    assert message["Date"].datetime == DATE
    assert message["Date"] == "Wed, 01 Apr 2026 06:30:00 +0000"  # UTC: the sender's zone is not disclosed
    assert message["From"].addresses[0].display_name == "Нансен"
    assert str(message["To"]) == "Reader 7 <reader7@example.org>"
    assert message["List-Id"] == "Nansen digest <digest.nansen.example>"
    assert message["List-Unsubscribe"] == (
        f"<https://nansen.example/unsubscribe?token={'t' * 120}7>, <mailto:unsubscribe@nansen.example>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert set(message.keys()) == {
        "Message-ID", "Date", "From", "To", "Subject", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post",
        "Precedence", "MIME-Version", "Content-Type",
    }  # fmt: skip

    assert message.get_content_type() == "multipart/alternative"
    plain, html = message.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    assert plain.get_content_charset() == html.get_content_charset() == "utf-8"
    assert plain.get_content() == "Новое в каталоге, выпуск 7.\n.Строка с точкой в начале.\n"  # dot-stuffing undone
    assert html.get_content() == "<p>Новое в каталоге, выпуск 7.</p>\n"

    raw = handler.messages[7][2]
    assert raw.isascii()  # no 8BITMIME needed
    assert b"\nList-Unsubscribe: <https://nansen.example/unsubscribe?token=" in raw  # not an encoded-word


def test_a_451_on_data_is_left_for_a_later_run_without_waiting(serve: Callable[..., _Controller]) -> None:
    """A full mailbox or a greylisting does not clear in seconds: the ledger retries it in a later run."""
    handler = FailFirstData()
    sleeps = Sleeps()
    with SmtpSender(settings_for(serve(handler)), sleep=sleeps) as sender:
        first = sender.send(digest())
        second = sender.send(digest())
    assert (first.outcome, first.code, first.attempts) == (Outcome.RETRY, 451, 1)
    assert (second.outcome, second.code, second.attempts) == (Outcome.SENT, 250, 1)
    assert sleeps == []
    assert len(handler.messages) == 1
    assert sender.connections_opened == 1  # a 451 is answered with RSET, not a new connection


def test_a_550_at_rcpt_is_a_bounce_after_one_attempt(serve: Callable[..., _Controller]) -> None:
    handler = NoSuchUser()
    sleeps = Sleeps()
    with SmtpSender(settings_for(serve(handler)), sleep=sleeps) as sender:
        result = sender.send(digest())
        assert (result.outcome, result.code, result.attempts) == (Outcome.BOUNCED, 550, 1)
        assert "no such user" in result.detail
        assert sleeps == []
        # the connection is reset and stays usable for the next reader
        assert sender.send(digest(1)).outcome is Outcome.BOUNCED
    assert sender.connections_opened == 1
    assert handler.messages == []


def test_a_server_that_keeps_answering_451_leaves_the_message_for_later(serve: Callable[..., _Controller]) -> None:
    sleeps = Sleeps()
    with SmtpSender(settings_for(serve(AlwaysBusy())), retries=3, backoff=(1, 4, 16), sleep=sleeps) as sender:
        result = sender.send(digest())
    assert (result.outcome, result.code, result.attempts) == (Outcome.RETRY, 451, 1)
    assert sleeps == []
    assert not result.maybe_delivered


def test_backoff_reuses_its_last_value_when_there_are_more_retries() -> None:
    with socket.socket() as probe:  # a port nothing listens on: connection errors are retried here
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = Sleeps()
    settings = SmtpSettings("127.0.0.1", port, None, None, "none", timeout=1.0)
    with SmtpSender(settings, retries=4, backoff=(2, 5), sleep=sleeps) as sender:
        assert sender.send(digest()).attempts == 5
    assert sleeps == [2, 5, 5, 5]


@pytest.mark.parametrize("handler_class", [HangUpAfterFirst, ClosingAtSecondMail])
def test_a_dropped_connection_is_replaced_without_costing_an_attempt(
    serve: Callable[..., _Controller], handler_class: type[Recorder]
) -> None:
    handler = handler_class()
    sleeps = Sleeps()
    with SmtpSender(settings_for(serve(handler)), sleep=sleeps) as sender:
        first = sender.send(digest(0))
        time.sleep(0.05)  # let the server's close reach the client, as between two real messages
        second = sender.send(digest(1))
    assert (first.outcome, second.outcome) == (Outcome.SENT, Outcome.SENT)
    assert second.attempts == 1
    assert sleeps == []
    assert sender.connections_opened == 2
    assert [rcpt for _, rcpt, _ in handler.messages] == [["reader0@example.org"], ["reader1@example.org"]]


def test_a_connection_lost_after_the_message_is_not_resent(serve: Callable[..., _Controller]) -> None:
    """The server may have queued it: retrying here could deliver it twice, so the ledger is told instead."""
    handler = VanishesBeforeReply()
    sleeps = Sleeps()
    with SmtpSender(settings_for(serve(handler)), sleep=sleeps) as sender:
        result = sender.send(digest())
    assert (result.outcome, result.code, result.attempts) == (Outcome.RETRY, None, 1)
    assert result.maybe_delivered
    assert sleeps == []
    assert len(handler.messages) == 1


class RefusesFirstMail(Recorder):
    """Answers the first MAIL with `reply`, then accepts everything."""

    def __init__(self, reply: str) -> None:
        super().__init__()
        self.reply, self.mails = reply, 0

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        self.mails += 1
        if self.mails == 1:
            return self.reply
        return await super().handle_MAIL(server, session, envelope, address, options)


def test_after_a_refused_mail_the_connection_stays_in_step(serve: Callable[..., _Controller]) -> None:
    """A 451 at MAIL: with PIPELINING, RCPT and DATA were sent with it and are refused too; their
    replies are read before RSET, so the next message on the same connection gets its own replies."""
    handler = RefusesFirstMail("451 4.3.2 not now")
    with SmtpSender(settings_for(serve(handler)), sleep=Sleeps()) as sender:
        first = sender.send(digest(0))
        second = sender.send(digest(1))
    assert (first.outcome, first.code) == (Outcome.DEFERRED, 451)
    assert (second.outcome, second.code) == (Outcome.SENT, 250)
    assert sender.connections_opened == 1
    assert [rcpt for _, rcpt, _ in handler.messages] == [["reader1@example.org"]]


def test_a_refused_sender_stops_the_run_whatever_the_pipeline_holds(serve: Callable[..., _Controller]) -> None:
    handler = RefusesFirstMail("553 5.1.8 sender address rejected")
    with SmtpSender(settings_for(serve(handler))) as sender, pytest.raises(DeliveryError, match="sender address"):
        sender.send(digest(0))
    assert handler.messages == []


class ScriptedServer:
    """One SMTP connection on 127.0.0.1 answered from a script, to see exactly what the client writes
    and when: after EHLO, it answers nothing until it holds `wait_for` whole command lines, so a client
    that waited for a reply between MAIL, RCPT and DATA would time out instead of passing."""

    def __init__(self, replies: list[bytes], wait_for: int) -> None:
        self.replies, self.wait_for = replies, wait_for
        self.received = b""
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection, self.listener:
            connection.settimeout(5)
            connection.sendall(b"220 scripted ESMTP\r\n")
            self._read_lines(connection, 1)  # EHLO
            connection.sendall(b"250-scripted\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            if not self._read_lines(connection, 1 + self.wait_for):
                return  # the client waited for a reply: hang up, and its send fails
            for reply in self.replies:
                connection.sendall(reply)
                if not self._read_lines(connection, self.received.count(b"\r\n") + 1):
                    return

    def _read_lines(self, connection: socket.socket, lines: int) -> bool:
        while self.received.count(b"\r\n") < lines:
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                return False
            if not chunk:
                return False
            self.received += chunk
        return True

    def settings(self) -> SmtpSettings:
        return SmtpSettings("127.0.0.1", self.port, None, None, "none", timeout=10.0)


def commands_after_ehlo(server: ScriptedServer) -> list[bytes]:
    return server.received.split(b"\r\n")[1:]


def test_with_pipelining_mail_rcpt_and_data_go_in_one_write() -> None:
    """RFC 2920: where the server offers PIPELINING, the three commands go without waiting between them
    (the scripted server answers nothing until it holds all three), then the message in a second write."""
    message = digest(0)
    server = ScriptedServer([b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n", b"250 2.0.0 queued\r\n"], 3)
    sender = SmtpSender(server.settings(), retries=0)
    assert sender.send(message).outcome is Outcome.SENT
    sender._discard()
    server.thread.join(5)
    lines = commands_after_ehlo(server)
    assert lines[:3] == [b"MAIL FROM:<digest@nansen.example>", b"RCPT TO:<reader0@example.org>", b"DATA"]
    assert lines[-2:] == [b".", b""] and b"\r\n.\r\n" not in server.received[:-3]  # one end of data


def test_a_server_that_accepts_data_without_a_recipient_gets_an_empty_message_ended() -> None:
    """RCPT refused, DATA accepted all the same (against RFC 2920 §3.1): the client ends the empty
    message with a lone "." and resets, instead of sending the reader's message to nobody or reading
    the next replies out of step."""
    replies = [
        b"250 2.1.0 ok\r\n550 5.1.1 no such user\r\n354 go ahead\r\n",
        b"554 5.5.1 no valid recipients\r\n",
        b"250 2.0.0 reset\r\n",
    ]
    server = ScriptedServer(replies, 3)
    sender = SmtpSender(server.settings(), retries=0)
    result = sender.send(digest(0))
    sender._discard()
    server.thread.join(5)
    assert (result.outcome, result.code) == (Outcome.BOUNCED, 550)
    assert commands_after_ehlo(server) == [
        b"MAIL FROM:<digest@nansen.example>",
        b"RCPT TO:<reader0@example.org>",
        b"DATA",
        b".",
        b"rset",  # smtplib's own commands are in lower case
        b"",
    ]


def test_a_server_that_is_not_there_is_retried_then_left_for_later() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = SmtpSettings("127.0.0.1", port, None, None, "none", timeout=1.0)
    sleeps = Sleeps()
    with SmtpSender(settings, retries=2, sleep=sleeps) as sender:
        result = sender.send(digest())
    assert (result.outcome, result.code, result.attempts) == (Outcome.RETRY, None, 3)
    assert "connecting" in result.detail
    assert sleeps == [1, 4]
    assert sender.connections_opened == 0


def test_rate_limit_spaces_messages(serve: Callable[..., _Controller]) -> None:
    handler = Recorder()
    with SmtpSender(settings_for(serve(handler), rate_per_second=20)) as sender:
        started = time.monotonic()
        results = [sender.send(digest(n)) for n in range(10)]
        elapsed = time.monotonic() - started
    assert {r.outcome for r in results} == {Outcome.SENT}
    assert elapsed >= 0.45  # ten starts at 20 a second; no upper bound: the machine is shared


def test_one_recipient_only_nothing_is_sent_otherwise(serve: Callable[..., _Controller]) -> None:
    handler = Recorder()
    two = digest()
    two.replace_header("To", "a@example.org, b@example.org")
    blind = digest()
    blind["Bcc"] = "list@example.org"
    with SmtpSender(settings_for(serve(handler))) as sender:
        with pytest.raises(ValueError, match="exactly one"):
            sender.send(two)
        with pytest.raises(ValueError, match="Bcc"):
            sender.send(blind)
    assert handler.messages == []
    assert sender.connections_opened == 0


def test_internationalized_domain_goes_out_in_idna_form(serve: Callable[..., _Controller]) -> None:
    handler = Recorder()
    with SmtpSender(settings_for(serve(handler))) as sender:
        result = sender.send(digest(to="Читатель <reader@пример.рф>"))
    assert result.outcome is Outcome.SENT
    assert handler.messages[0][1] == ["reader@xn--e1afmkfd.xn--p1ai"]
    assert handler.mail_options == [[]]
    assert handler.parsed()["To"].addresses[0].display_name == "Читатель"


def test_non_ascii_mailbox_needs_smtputf8(serve: Callable[..., _Controller]) -> None:
    handler = Recorder()
    with SmtpSender(settings_for(serve(handler, enable_SMTPUTF8=True))) as sender:
        assert sender.send(digest(to="читатель@example.org")).outcome is Outcome.SENT
    assert handler.messages[0][1] == ["читатель@example.org"]
    assert "SMTPUTF8" in handler.mail_options[0]
    # RFC 6532 header in raw UTF-8 (the stdlib bytes parser cannot decode it, so check the bytes)
    assert "\nTo: читатель@example.org\r\n".encode() in handler.messages[0][2]

    plain = Recorder()
    with SmtpSender(settings_for(serve(plain, enable_SMTPUTF8=False))) as sender:  # Controller's default is True
        result = sender.send(digest(to="читатель@example.org"))
    assert (result.outcome, result.code, result.attempts) == (Outcome.BOUNCED, None, 1)
    assert "SMTPUTF8" in result.detail
    assert plain.messages == []


def test_sign_hook_sees_the_serialized_message(serve: Callable[..., _Controller]) -> None:
    handler = Recorder()
    seen: list[bytes] = []

    def sign(data: bytes) -> bytes:
        seen.append(data)
        return b"DKIM-Signature: v=1; a=rsa-sha256; d=nansen.example; s=test; b=abc\r\n" + data

    with SmtpSender(settings_for(serve(handler)), sign=sign) as sender:
        sender.send(digest())
    assert seen[0].startswith(b"Message-ID: <digest-0.2026-04-01@nansen.example>\r\n")
    assert handler.parsed()["DKIM-Signature"].startswith("v=1;")


# ---------------------------------------------------------------------------------------------- TLS and AUTH


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made now (EC keys are quick to generate)."""
    x509 = pytest.importorskip("cryptography.x509", reason="cryptography is needed to make a test certificate")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class Authenticator:
    def __init__(self) -> None:
        self.logins: list[tuple[str, bool]] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"nansen", b"p@ss w0rd")
        self.logins.append((mechanism, ok))
        return AuthResult(success=ok, handled=False)  # aiosmtpd's default, handled=True, sends no reply


def tls_contexts(certificate: tuple[Path, Path]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(*certificate)
    return server, ssl.create_default_context(cafile=str(certificate[0]))


def test_auth_over_starttls(serve: Callable[..., _Controller], certificate: tuple[Path, Path]) -> None:
    server_context, client_context = tls_contexts(certificate)
    handler, authenticator = Recorder(), Authenticator()
    controller = serve(
        handler, tls_context=server_context, require_starttls=True, auth_required=True, authenticator=authenticator
    )
    url = f"smtp://nansen:p%40ss%20w0rd@127.0.0.1:{controller.port}?starttls=1&timeout=5"
    with SmtpSender(parse_smtp_url(url), ssl_context=client_context) as sender:
        results = [sender.send(digest(n)) for n in range(3)]
    assert [r.outcome for r in results] == [Outcome.SENT] * 3
    assert sender.connections_opened == 1
    assert [ok for _, ok in authenticator.logins] == [True]
    assert len(handler.messages) == 3

    wrong = parse_smtp_url(f"smtp://nansen:wrong-secret@127.0.0.1:{controller.port}?starttls=1&timeout=5")
    sleeps = Sleeps()
    with SmtpSender(wrong, ssl_context=client_context, sleep=sleeps) as sender, pytest.raises(DeliveryError) as refused:
        sender.send(digest())
    assert refused.value.code == 535
    assert "wrong-secret" not in str(refused.value)
    assert sleeps == []  # not retried: the next attempt would be refused too
    assert len(handler.messages) == 3


def test_untrusted_certificate_stops_the_run(serve: Callable[..., _Controller], certificate: tuple[Path, Path]) -> None:
    server_context, _ = tls_contexts(certificate)
    handler = Recorder()
    controller = serve(handler, tls_context=server_context, require_starttls=True)
    sleeps = Sleeps()
    sender = SmtpSender(settings_for(controller, security="starttls"), sleep=sleeps)  # system CAs only
    with sender, pytest.raises(DeliveryError, match="not trusted"):
        sender.send(digest())
    assert sleeps == []
    assert handler.messages == []


def test_starttls_required_but_not_offered_stops_the_run(serve: Callable[..., _Controller]) -> None:
    handler = Recorder()
    sender = SmtpSender(settings_for(serve(handler), security="starttls"))
    with sender, pytest.raises(DeliveryError, match="does not offer"):
        sender.send(digest())
    assert handler.messages == []


def test_implicit_tls(serve: Callable[..., _Controller], certificate: tuple[Path, Path]) -> None:
    server_context, client_context = tls_contexts(certificate)
    handler = Recorder()
    controller = serve(handler, ssl_context=server_context)
    settings = parse_smtp_url(f"smtps://127.0.0.1:{controller.port}")
    with SmtpSender(settings, ssl_context=client_context) as sender:
        assert sender.send(digest()).outcome is Outcome.SENT
    assert len(handler.messages) == 1


# ---------------------------------------------------------------------------------------------- dry run


def test_maildir_sender_writes_one_eml_per_message(tmp_path: Path) -> None:
    with MaildirSender(tmp_path / "outbox") as sender:
        results = [sender.send(digest(n)) for n in range(3)]
    assert {(r.outcome, r.attempts) for r in results} == {(Outcome.SENT, 1)}
    files = sorted((tmp_path / "outbox" / "new").iterdir())
    assert len(files) == 3
    assert all(path.suffix == ".eml" for path in files)
    ids = set()
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert message["Subject"] == SUBJECT
        assert message.get_body(("plain",)).get_content().startswith("Новое в каталоге")
        ids.add(message["Message-ID"])
    assert ids == {f"<digest-{n}.2026-04-01@nansen.example>" for n in range(3)}
    assert len(mailbox.Maildir(tmp_path / "outbox", create=False)) == 3


def test_maildir_sender_applies_the_same_checks(tmp_path: Path) -> None:
    message = digest()
    message["Cc"] = "someone@example.org"
    with pytest.raises(ValueError, match="Cc"):
        MaildirSender(tmp_path / "outbox").send(message)


# ---------------------------------------------------------------------------------------------- messages


def test_plain_http_unsubscribe_has_no_one_click_header() -> None:
    message = digest(unsubscribe_url="http://127.0.0.1:8000/unsubscribe?t=x", unsubscribe_mailto=None)
    assert message["List-Unsubscribe"] == "<http://127.0.0.1:8000/unsubscribe?t=x>"
    assert "List-Unsubscribe-Post" not in message


def test_long_unsubscribe_url_is_never_encoded() -> None:
    """The stock policy would turn the long token into RFC 2047 encoded-words, which no provider decodes there."""
    url = f"https://nansen.example/unsubscribe?token={'t' * 200}"
    message = digest(unsubscribe_url=url)
    for serialized in (message.as_string(), message.as_bytes().decode("ascii")):
        assert f"\nList-Unsubscribe: <{url}>,\n <mailto:unsubscribe@nansen.example>\n" in serialized


def test_optional_reply_to_and_message_id_brackets() -> None:
    message = digest(reply_to="team@nansen.example", message_id="<x@nansen.example>")
    assert message["Reply-To"] == "team@nansen.example"
    assert message["Message-ID"] == "<x@nansen.example>"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"subject": "Hi\r\nBcc: everyone@example.org"}, "one line"),
        ({"to": "reader@example.org\nBcc: x@example.org"}, "one line"),
        ({"to": "a@example.org, b@example.org"}, "exactly one"),
        ({"to": "not an address"}, "exactly one"),
        ({"date": dt.datetime(2026, 4, 1, 9, 30)}, "timezone-aware"),
        ({"message_id": "no-at-sign"}, "message_id"),
        ({"list_id": "not a list id"}, "list_id"),
        ({"unsubscribe_url": "javascript:alert(1)"}, "https"),
        ({"unsubscribe_url": "https://nansen.example/u?t=<x>"}, "ASCII"),
        ({"unsubscribe_mailto": "nobody"}, "mailto"),
    ],
)
def test_build_message_refuses_bad_values(overrides: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        digest(**overrides)


# ---------------------------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.org", ("mail.example.org", 25, None, None, "none", 30.0, None)),
        ("smtp://mail.example.org:2525/", ("mail.example.org", 2525, None, None, "none", 30.0, None)),
        ("smtp://u:p@mail.example.org?starttls=1", ("mail.example.org", 587, "u", "p", "starttls", 30.0, None)),
        ("smtp://u:p@mail.example.org:25?starttls=true", ("mail.example.org", 25, "u", "p", "starttls", 30.0, None)),
        ("smtps://mail.example.org", ("mail.example.org", 465, None, None, "tls", 30.0, None)),
        (
            "SMTPS://digest%40nansen.example:p%3Aa%2Fs%23s%40@Mail.Example.org:1465?rate=10&timeout=7.5",
            ("mail.example.org", 1465, "digest@nansen.example", "p:a/s#s@", "tls", 7.5, 10.0),
        ),
        ("smtp://[::1]:2525?rate=0.5", ("::1", 2525, None, None, "none", 30.0, 0.5)),
    ],
)
def test_parse_smtp_url(url: str, expected: tuple[Any, ...]) -> None:
    s = parse_smtp_url(url)
    assert (s.host, s.port, s.username, s.password, s.security, s.timeout, s.rate_per_second) == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://mail.example.org", "smtp:// or smtps://"),
        ("mail.example.org", "smtp:// or smtps://"),
        ("smtp://", "no host"),
        ("smtp://u:s3cret@mail.example.org:99999", "port"),
        ("smtp://u:s3cret@mail.example.org:abc", "port"),
        ("smtp://mail.example.org:0", "port"),
        ("smtp://mail.example.org?tls=1", "unknown SMTP URL parameter 'tls'"),
        ("smtp://mail.example.org?rate=1&rate=2", "twice"),
        ("smtp://mail.example.org?rate=0", "rate"),
        ("smtp://mail.example.org?rate=fast", "rate"),
        ("smtp://mail.example.org?timeout=-1", "timeout"),
        ("smtp://mail.example.org?starttls=maybe", "starttls"),
        ("smtps://mail.example.org?starttls=1", "smtp:// only"),
        ("smtp://mail.example.org/relay", "path"),
        ("smtp://u@mail.example.org", "no password"),
        ("smtp://:s3cret@mail.example.org", "no user name"),
        ("smtp://u:s3c/ret@mail.example.org", "percent-encode"),
        ("smtp://u:s3c?ret@mail.example.org", "percent-encode"),
        ("smtp://u:s3c#ret@mail.example.org", "percent-encode"),
        ("smtp://u:s3cret@mail.example.org#x", "fragment"),
    ],
)
def test_parse_smtp_url_errors_never_show_the_password(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as error:
        parse_smtp_url(url)
    assert "s3c" not in str(error.value)
    assert "ret" not in str(error.value).replace("parameter", "")


def test_settings_repr_hides_the_password() -> None:
    settings = parse_smtp_url("smtp://nansen:hunter2-s3cret@mail.example.org?starttls=1")
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings)
    assert "nansen" in repr(settings)


def test_settings_are_checked_when_built_directly() -> None:
    with pytest.raises(ValueError, match="security"):
        SmtpSettings("h", 25, None, None, "ssl")
    with pytest.raises(ValueError, match="both"):
        SmtpSettings("h", 25, "user", None, "none")
