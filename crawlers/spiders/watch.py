"""Page watch: fetch each watched page, reduce it to its normalized main text, confirm a change twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import scrapy
import trafilatura

from crawlers import clean
from crawlers.failures import classify
from crawlers.items import PageItem
from directory.watch import normalize, text_hash


class WatchSpider(scrapy.Spider):
    name = "watch"

    def __init__(self, targets: list[dict[str, Any]] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.targets = targets or []

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for target in self.targets:
            yield self._request(target)

    def _request(self, target: dict[str, Any], confirm: str | None = None) -> scrapy.Request:
        return scrapy.Request(
            target["url"],
            callback=self.parse,
            errback=self.failed,
            dont_filter=True,
            meta={"target": target, "confirm": confirm},
        )

    def parse(self, response: Any) -> Any:
        target, confirm = response.meta["target"], response.meta["confirm"]
        text = normalize(main_text(response, target.get("selector")), target.get("ignore"))
        digest = text_hash(text)
        if confirm is None and target["known"] and digest not in target["known"]:
            # Different from every recent snapshot: fetch again before believing it.
            self.crawler.stats.inc_value("nansen/watch/second_fetches")
            yield self._request(target, confirm=digest)
            return
        confirmed = confirm is not None and digest == confirm
        if confirm is not None and not confirmed:
            self.crawler.stats.inc_value("nansen/watch/unstable")
        yield PageItem(target["slug"], target["url"], text, confirmed)

    def failed(self, failure: Any) -> Any:
        kind, _ = classify(failure)
        self.crawler.stats.inc_value(f"nansen/errors/{kind}")
        return []


def main_text(response: Any, selector: str | None) -> str:
    """The text that matters: the entry's CSS selector, else trafilatura's main-content extraction."""
    if not isinstance(response, scrapy.http.TextResponse):
        return ""
    if selector:
        return "\n".join(clean.text(block.get()) for block in response.css(selector))

    extracted = trafilatura.extract(response.text, include_comments=False, include_tables=True, favor_precision=True)
    if extracted:
        return extracted
    return clean.text(response.text)
