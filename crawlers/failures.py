"""Name what went wrong with a request, for link checks and the crawl summary."""

from __future__ import annotations

from typing import Any

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import (
    ConnectError,
    ConnectionRefusedError,
    DNSLookupError,
    TCPTimedOutError,
    TimeoutError,
)

from crawlers.robots import RobotsRefusal, RobotsUnreachable
from crawlers.safety import BlockedAddress


def classify(failure: Any) -> tuple[str, str]:
    """(kind, message) of a Twisted failure from a Scrapy errback.

    A request refused because robots.txt answered 5xx is kind `robots` (not a sign the site is gone);
    one refused because robots.txt was unreachable has the kind of that network failure (`dns`,
    `refused`, `timeout`…), since a host that does not answer is what the dead-site rule is for. Both
    keep the refusal's message, which says why (RFC 9309 §2.3.1.4, see `crawlers.robots`).
    """

    error = failure.value
    if isinstance(error, RobotsUnreachable):
        return describe(error.cause)[0], _text(error)
    if isinstance(error, RobotsRefusal):
        return "robots", _text(error)
    return describe(error)


def describe(error: BaseException) -> tuple[str, str]:
    """(kind, message) of the exception a request failed with."""

    message = _text(error)
    if isinstance(error, BlockedAddress):
        return "blocked", message
    if isinstance(error, IgnoreRequest):
        if "robots.txt" in message:
            return "robots", "disallowed by robots.txt"
        return "ignored", message
    if isinstance(error, HttpError):
        return f"http-{error.response.status}", f"HTTP {error.response.status}"
    if isinstance(error, DNSLookupError | CannotResolveHostError):
        return "dns", message
    if isinstance(error, TimeoutError | TCPTimedOutError | DownloadTimeoutError):
        return "timeout", message
    if isinstance(error, ConnectionRefusedError | DownloadConnectionRefusedError):
        return "refused", message
    if isinstance(error, DownloadCancelledError):
        return "too-large", message
    if isinstance(error, ConnectError):
        return "connect", message
    if "maxsize" in message.lower() or "exceeds" in message.lower() or "cancel" in message.lower():
        return "too-large", message
    return type(error).__name__.lower(), message


def _text(error: BaseException) -> str:
    return str(error)[:300] or type(error).__name__
