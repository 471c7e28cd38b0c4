"""A real SMTP server for the tests (aiosmtpd on 127.0.0.1) that keeps what it accepted, and can be
told to answer with an error or to kill the sending process at a chosen point."""

from __future__ import annotations

import email
import email.policy
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import func, select

from newsletter.models import Delivery
from tests.conftest import free_port


@dataclass
class Sink:
    """Accepted messages, plus hooks: `on_mail(n)` / `on_data(n)` run before the server answers the n-th
    MAIL FROM / DATA of the session-independent count and may return an SMTP reply to send instead."""

    messages: list[EmailMessage] = field(default_factory=list)
    on_mail: Callable[[int], str | None] | None = None
    on_data: Callable[[int], str | None] | None = None
    mail_count: int = 0
    data_count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]) -> Any:
        """Offer PIPELINING (RFC 2920), as Postfix does."""
        session.host_name = hostname  # aiosmtpd leaves this to a handle_EHLO hook; MAIL fails without it
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        with self.lock:
            self.mail_count += 1
            n = self.mail_count
        if self.on_mail and (reply := self.on_mail(n)):
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.data_count += 1
            n = self.data_count
        if self.on_data and (reply := self.on_data(n)):
            return reply
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def killer(
        self, pid_of: Callable[[], int | None], at: set[int], reply: str, first: Callable[[], None] | None = None
    ) -> Callable[[int], str | None]:
        """A hook that SIGKILLs the sender when the count reaches one of `at` (after `first`, if given,
        returns), then answers `reply`."""

        def hook(n: int) -> str | None:
            if n in at and (pid := pid_of()):
                if first is not None:
                    first()
                os.kill(pid, signal.SIGKILL)
                return reply
            return None

        return hook

    def recorded(self, store: Any) -> Callable[[], None]:
        """For `killer(first=...)` at MAIL FROM: wait (10 s at most) until every address this server
        accepted has its row recorded `sent`. A sender transmits a message while the one before is
        recorded, so a MAIL FROM may come before that commit; killing then would hit the one window
        the ledger cannot close (delivered, not yet recorded), not the moment between two messages."""

        def wait() -> None:
            delivered = len({m["To"] for m in self.messages})
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with store.session() as session:
                    if session.scalar(select(func.count(Delivery.id)).where(Delivery.status == "sent")) >= delivered:
                        return
                time.sleep(0.01)

        return wait


@contextmanager
def serving(sink: Sink, port: int | None = None) -> Iterator[str]:
    """The smtp URL of aiosmtpd answering with `sink` on 127.0.0.1 (on `port`, or a free one), until
    the block ends."""
    from aiosmtpd.controller import Controller

    port = port or free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


@pytest.fixture
def mail_sink() -> Iterator[tuple[Sink, str]]:
    """(sink, smtp URL) of a running aiosmtpd server on 127.0.0.1."""
    sink = Sink()
    with serving(sink) as url:
        yield sink, url
