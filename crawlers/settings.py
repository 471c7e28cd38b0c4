"""Scrapy settings for every Nansen spider: polite, bounded, and guarded.

robots.txt is obeyed as RFC 9309 reads it (`crawlers.robots`: 5xx or unreachable means disallow),
AutoThrottle adapts to each site, at most two requests run per domain, the User-Agent names Nansen
and where to reach its maintainers, and downloads are bounded in time and size. The HTTP cache keeps
robots.txt alone, for a day, in the database (`crawlers.robots_cache`): a cached page must never
hide an outage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MAX_BYTES = 5 * 1024 * 1024


def crawl_settings(
    *,
    database_url: str,
    contact_url: str,
    allow_networks: Sequence[str] = (),
    polite: bool = True,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "BOT_NAME": "nansen",
        "USER_AGENT": f"NansenBot/0.1 (+{contact_url})",
        "ROBOTSTXT_OBEY": True,
        "ROBOTSTXT_USER_AGENT": "NansenBot",
        "AUTOTHROTTLE_ENABLED": polite,
        "AUTOTHROTTLE_START_DELAY": 1.0,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": 1.0,
        "DOWNLOAD_DELAY": 0.5 if polite else 0,
        "CONCURRENT_REQUESTS": 32,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 2,
        # Each response yields one item; Scrapy starts CONCURRENT_ITEMS tasks per response to process
        # its output (100 by default, ~40% of a 1,000-site crawl's time on the reactor).
        "CONCURRENT_ITEMS": 1,
        "DOWNLOAD_TIMEOUT": 20,
        "DOWNLOAD_MAXSIZE": MAX_BYTES,
        "DOWNLOAD_WARNSIZE": MAX_BYTES // 2,
        "RETRY_ENABLED": True,
        "RETRY_TIMES": 1,
        "RETRY_HTTP_CODES": [500, 502, 503, 504, 522, 524, 408],
        "REDIRECT_MAX_TIMES": 5,
        "METAREFRESH_ENABLED": False,
        "COOKIES_ENABLED": False,
        "HTTPCACHE_ENABLED": True,
        "HTTPCACHE_POLICY": "crawlers.robots_cache.RobotsOnlyPolicy",
        "HTTPCACHE_STORAGE": "crawlers.robots_cache.DatabaseRobotsStorage",
        "TELNETCONSOLE_ENABLED": False,
        "TWISTED_DNS_RESOLVER": "crawlers.safety.GuardedResolver",
        "LOG_LEVEL": "WARNING",
        "DOWNLOADER_MIDDLEWARES": {
            "crawlers.safety.AddressGuardMiddleware": 50,
            "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
            "crawlers.robots.RFC9309RobotsTxtMiddleware": 100,
        },
        "ITEM_PIPELINES": {"crawlers.pipelines.DirectoryPipeline": 300},
        "EXTENSIONS": {"crawlers.progress.ProgressReporter": 500},
        "NANSEN_DATABASE_URL": database_url,
        "NANSEN_ALLOW_NETWORKS": list(allow_networks),
    }
    settings.update(overrides or {})
    return settings
