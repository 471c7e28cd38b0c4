"""A Scrapy extension that reports progress as JSON lines on stdout, for the parent process's bar."""

from __future__ import annotations

import json
import sys
from typing import Any

from scrapy import signals


def emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


class ProgressReporter:
    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0

    @classmethod
    def from_crawler(cls, crawler: Any) -> ProgressReporter:
        reporter = cls(crawler.settings.getint("NANSEN_TARGETS", 0))
        crawler.signals.connect(reporter.item_scraped, signal=signals.item_scraped)
        return reporter

    def item_scraped(self, item: Any, response: Any = None, spider: Any = None) -> None:
        self.done += 1
        emit({"event": "progress", "done": self.done, "total": self.total})
