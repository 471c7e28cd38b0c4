"""What the crawl child tells its parent, as JSON lines on stdout: progress for the bar, and failures.

A failure is anything the crawl logged at ERROR or worse: a spider callback that raised (a feed that
could not be parsed), an item that could not be stored, an extension that broke. Scrapy logs each and
carries on, so without this the parent would see a clean run. Each is reported with the entry it
concerns, found by the target URLs named in the message.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from typing import Any

from scrapy import signals

MESSAGE_LIMIT = 500
CONTEXT_LIMIT = 200  # of the message, so the exception's words always fit
# Loggers whose errors are findings about a site, recorded by its check or feed state: robots.txt that
# could not be downloaded (the request it guards then fails with the same cause, or is refused per
# RFC 9309), and a request that failed again after its retries ("Gave up retrying": the errback
# records why).
FINDINGS = ("scrapy.downloadermiddlewares.robotstxt", "scrapy.downloadermiddlewares.retry", "crawlers.robots")


def emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


class ProgressReporter:
    """Reports `{"event": "progress", "done", "total"}` as items are scraped: at most every `EVERY`
    seconds (a line and a flush per item cost the reactor more than the bar gains), and the last one."""

    EVERY = 0.1

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.reported = 0.0  # time.monotonic() of the last report

    @classmethod
    def from_crawler(cls, crawler: Any) -> ProgressReporter:
        reporter = cls(crawler.settings.getint("NANSEN_TARGETS", 0))
        crawler.signals.connect(reporter.item_scraped, signal=signals.item_scraped)
        return reporter

    def item_scraped(self, item: Any, response: Any = None, spider: Any = None) -> None:
        self.done += 1
        now = time.monotonic()
        if now - self.reported < self.EVERY and self.done < self.total:
            return
        self.reported = now
        emit({"event": "progress", "done": self.done, "total": self.total})


class FailureReporter(logging.Handler):
    """A logging handler that reports every ERROR record as `{"event": "failure", "entry", "error"}`,
    but those of `FINDINGS`.

    `targets` pairs each URL the crawl visits with its entry's slug; the first URL a record's message
    or exception mentions names the entry, or the entries, comma-separated, when several share that
    URL (None when none is mentioned). `error` is the start of the message's first line (a message may
    quote a whole item), then the exception's type and words, at most `MESSAGE_LIMIT` characters.
    """

    def __init__(self, targets: Iterable[tuple[str, str]]) -> None:
        super().__init__(logging.ERROR)
        slugs: dict[str, list[str]] = {}
        for url, slug in targets:
            slugs.setdefault(url, []).append(slug)
        # Longest first, so https://a.org/feed/ is not taken for https://a.org/.
        self.targets = sorted(((url, ", ".join(names)) for url, names in slugs.items()), key=lambda t: -len(t[0]))

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(FINDINGS):
            return
        try:
            message = record.getMessage()
            exception = record.exc_info[1] if record.exc_info else None
            said = f"{message}\n{exception!r}"
            entry = next((slug for url, slug in self.targets if url in said), None)
            error = message.splitlines()[0][:CONTEXT_LIMIT] if message else ""
            if exception is not None:
                error += f": {type(exception).__name__}: {exception}"
            emit({"event": "failure", "entry": entry, "error": error[:MESSAGE_LIMIT]})
        except Exception:
            self.handleError(record)
