"""The child process of a crawl (`python -m crawlers.child KIND --options JSON`): Scrapy runs here.

It reads what to visit from the directory, runs one spider over it, and reports progress and a
summary as JSON lines on stdout for `crawlers.run.run_crawl`, the parent's side.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
from collections.abc import Sequence
from typing import Any

from scrapy.crawler import CrawlerProcess
from sqlalchemy import func, select

from crawlers.progress import FailureReporter, emit
from crawlers.run import KINDS, CrawlOptions
from crawlers.settings import crawl_settings
from crawlers.spiders.feeds import FeedsSpider
from crawlers.spiders.site import SiteSpider
from crawlers.spiders.watch import WatchSpider
from directory import entries, posts, watch
from directory.fields import ascii_url
from directory.models import Entry, LinkCheck
from directory.store import Store

# --------------------------------------------------------------------------- targets (child side)


def targets(kind: str, database_url: str, slug: str | None = None) -> list[dict[str, Any]]:
    """What a crawl of `kind` visits, read from the directory (closed entries are left alone)."""

    store = Store(database_url)
    try:
        with store.session() as session:
            query = select(Entry).where(Entry.status != "closed").order_by(Entry.slug)
            if slug:
                entries.get_entry(session, slug)
                query = query.where(Entry.slug == slug)
            found: list[dict[str, Any]] = []
            waiting = _backing_off(session) if kind == "site" else set()
            for entry in session.scalars(query):
                if kind == "site" and entry.website and entry.id not in waiting:
                    found.append({"slug": entry.slug, "url": ascii_url(entry.website)})
                elif kind == "feeds":
                    for url in entry.feeds:
                        state = posts.feed_state(session, entry.slug, url)
                        found.append(
                            {
                                "slug": entry.slug,
                                "url": ascii_url(url),
                                "etag": state.etag if state else None,
                                "last_modified": state.last_modified if state else None,
                                "language": entry.languages[0] if entry.languages else None,
                            }
                        )
                elif kind == "watch" and (watched := watch.watched_url(entry)):
                    page = ascii_url(watched)
                    known = [snapshot.hash for snapshot in watch.history(session, entry.id, page)]
                    found.append(
                        {
                            "slug": entry.slug,
                            "url": page,
                            "selector": entry.watch_selector,
                            "ignore": entry.watch_ignore,
                            "known": known,
                        }
                    )
            return found
    finally:
        store.close()


def _backing_off(session: Any) -> set[int]:
    """Ids of the entries whose site last answered 429 and whose Retry-After (seconds; an hour when it
    is missing or a date) has not passed: they are not asked again before then. One query."""

    latest = select(
        LinkCheck.entry_id,
        LinkCheck.status_code,
        LinkCheck.details,
        LinkCheck.checked_at,
        func.row_number()
        .over(partition_by=LinkCheck.entry_id, order_by=(LinkCheck.checked_at.desc(), LinkCheck.id.desc()))
        .label("rank"),
    ).subquery()
    rows = session.execute(select(latest).where(latest.c.rank == 1, latest.c.status_code == 429))
    now = dt.datetime.now(dt.UTC)
    return {row.entry_id for row in rows if now < row.checked_at + _retry_after(row.details)}


def _retry_after(details: dict[str, Any] | None) -> dt.timedelta:
    retry_after = (details or {}).get("retry_after", "")
    return dt.timedelta(seconds=int(retry_after) if retry_after.isdigit() else 3600)


# --------------------------------------------------------------------------- the child process


def child_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawlers.child")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--options", required=True, help="CrawlOptions as JSON")
    parser.add_argument("--entry")
    args = parser.parse_args(argv)
    options = CrawlOptions(**json.loads(args.options))
    found = targets(args.kind, options.database_url, args.entry)

    settings = crawl_settings(
        database_url=options.database_url,
        contact_url=options.contact_url,
        allow_networks=options.allow_networks,
        polite=options.polite,
        overrides={
            "NANSEN_TARGETS": len(found),
            "NANSEN_DEAD_AFTER_FAILURES": options.dead_after_failures,
            "NANSEN_DEAD_AFTER_DAYS": options.dead_after_days,
            **options.overrides,
        },
    )
    emit({"event": "start", "total": len(found)})
    logging.getLogger().addHandler(FailureReporter((target["url"], target["slug"]) for target in found))
    spider = {"site": SiteSpider, "feeds": FeedsSpider, "watch": WatchSpider}[args.kind]
    process = CrawlerProcess(settings, install_root_handler=False)
    crawler = process.create_crawler(spider)
    process.crawl(crawler, targets=found)
    process.start()
    stats = {
        key: value for key, value in (crawler.stats.get_stats() or {}).items() if isinstance(value, int | float | str)
    }
    emit({"event": "summary", "targets": len(found), "stats": stats})
    return 0


if __name__ == "__main__":
    raise SystemExit(child_main())
