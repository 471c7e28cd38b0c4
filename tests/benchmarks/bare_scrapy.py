"""The baseline crawl: a bare Scrapy spider obeying robots.txt (`python -m tests.benchmarks.bare_scrapy URLS [ITEMS]`).

URLS is a file of URLs, one a line. Scrapy's defaults but for the pace the Nansen crawl also sets: 32
requests at a time, at most 2 per site, no delays, no telnet console, errors only in the log. ITEMS,
if given, sets CONCURRENT_ITEMS (Scrapy's default is 100; the Nansen crawl sets 1). Each page yields
a one-field item; nothing is stored. Prints the number of pages it received.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import scrapy
from scrapy.crawler import CrawlerProcess


class BareSpider(scrapy.Spider):
    name = "bare"

    def __init__(self, urls: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls = urls

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for url in self.urls:
            yield scrapy.Request(url, dont_filter=True)

    def parse(self, response: Any) -> Any:
        yield {"status": response.status}


def main(path: str, items: str | None = None) -> None:
    settings: dict[str, Any] = {
        "ROBOTSTXT_OBEY": True,
        "CONCURRENT_REQUESTS": 32,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 2,
        "DOWNLOAD_DELAY": 0,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "ERROR",
    }
    if items is not None:
        settings["CONCURRENT_ITEMS"] = int(items)
    process = CrawlerProcess(settings, install_root_handler=False)
    crawler = process.create_crawler(BareSpider)
    process.crawl(crawler, urls=Path(path).read_text().split())
    process.start()
    print((crawler.stats.get_stats() or {}).get("item_scraped_count", 0))


if __name__ == "__main__":
    main(*sys.argv[1:3])
