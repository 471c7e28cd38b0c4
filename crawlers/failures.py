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

from crawlers.safety import BlockedAddress


def classify(failure: Any) -> tuple[str, str]:
    """(kind, message) of a Twisted failure from a Scrapy errback."""

    error = failure.value
    message = str(error)[:300] or type(error).__name__
    if failure.check(BlockedAddress):
        return "blocked", message
    if failure.check(IgnoreRequest):
        if "robots.txt" in message:
            return "robots", "disallowed by robots.txt"
        return "ignored", message
    if failure.check(HttpError):
        return f"http-{error.response.status}", f"HTTP {error.response.status}"
    if failure.check(DNSLookupError, CannotResolveHostError):
        return "dns", message
    if failure.check(TimeoutError, TCPTimedOutError, DownloadTimeoutError):
        return "timeout", message
    if failure.check(ConnectionRefusedError, DownloadConnectionRefusedError):
        return "refused", message
    if failure.check(DownloadCancelledError):
        return "too-large", message
    if failure.check(ConnectError):
        return "connect", message
    if "maxsize" in message.lower() or "exceeds" in message.lower() or "cancel" in message.lower():
        return "too-large", message
    return type(error).__name__.lower(), message
