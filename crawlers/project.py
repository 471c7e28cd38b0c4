"""The Scrapy project that scrapyd runs: the settings of `crawlers.settings` and the three spiders.

scrapy.cfg names this module as the project's settings (`scrapyd-deploy` writes it into the egg's
`scrapy` entry point); its spiders are Nansen's own, which read what to visit from the directory
themselves, since scrapyd passes spider arguments only as strings:

    curl http://scrapyd:6800/schedule.json -d project=nansen -d spider=feeds

The environment of the scrapyd service gives the defaults, under the names `nansen` reads:
NANSEN_DATABASE_URL, NANSEN_CONTACT_URL (in the User-Agent), NANSEN_CRAWL_ALLOW_NETWORKS (CIDRs,
comma-separated) and NANSEN_CRAWL_POLITE (`0` turns AutoThrottle and delays off); a job's
`-d setting=NAME=VALUE` overrides any setting, e.g. `setting=NANSEN_DATABASE_URL=postgresql+psycopg://…`.
"""

from __future__ import annotations

import os
from typing import Any

from crawlers.child import targets
from crawlers.settings import crawl_settings
from crawlers.spiders import feeds, site, watch

globals().update(
    crawl_settings(
        database_url=os.environ.get("NANSEN_DATABASE_URL", ""),
        contact_url=os.environ.get("NANSEN_CONTACT_URL", ""),
        allow_networks=os.environ.get("NANSEN_CRAWL_ALLOW_NETWORKS", "").split(","),
        polite=os.environ.get("NANSEN_CRAWL_POLITE", "1").lower() not in {"0", "false", "no", "off"},
    )
)
SPIDER_MODULES = [__name__]


class FromDirectory:
    """Spider mixin: without `targets` (a scrapyd job), the targets are read from the directory at
    NANSEN_DATABASE_URL, as `python -m crawlers.child` reads them. Raises ValueError when no database is set."""

    name: str

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> Any:
        if "targets" not in kwargs:
            database_url = crawler.settings.get("NANSEN_DATABASE_URL")
            if not database_url:
                raise ValueError("NANSEN_DATABASE_URL is not set: set it for scrapyd, or pass it as a job setting")
            kwargs["targets"] = targets(cls.name, database_url)
        return super().from_crawler(crawler, *args, **kwargs)  # type: ignore[misc]


class FeedsSpider(FromDirectory, feeds.FeedsSpider):
    pass


class SiteSpider(FromDirectory, site.SiteSpider):
    pass


class WatchSpider(FromDirectory, watch.WatchSpider):
    pass
