"""Run a crawl in a child process, so it can run again and again from one long-lived process.

Twisted's reactor cannot be restarted, so a scheduler that called Scrapy in-process would crawl once
and then fail with ReactorNotRestartable. Each crawl is therefore `python -m crawlers.run` in a child
process: it reports progress and a summary as JSON lines on stdout, and if it dies (or is killed),
everything it had written stays written and the next crawl picks up from there.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

KINDS = ("site", "feeds", "watch")


@dataclass
class CrawlSummary:
    kind: str
    targets: int = 0
    pages: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    proposals: int = 0
    posts: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    returncode: int = 0


@dataclass(frozen=True)
class CrawlOptions:
    database_url: str
    contact_url: str
    allow_networks: tuple[str, ...] = ()
    polite: bool = True
    dead_after_failures: int = 3
    dead_after_days: int = 7
    overrides: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Any) -> CrawlOptions:
        """From the installation's settings (any object with these attributes)."""
        return cls(
            settings.database_url,
            settings.contact_url,
            tuple(settings.crawl_allow_networks),
            settings.crawl_polite,
            settings.dead_after_failures,
            settings.dead_after_days,
        )


# --------------------------------------------------------------------------- targets (child side)


def targets(kind: str, database_url: str, slug: str | None = None) -> list[dict[str, Any]]:
    """What a crawl of `kind` visits, read from the directory (closed entries are left alone)."""
    from sqlalchemy import select

    from directory import entries, posts, watch
    from directory.models import Entry, LinkCheck, PageSnapshot
    from directory.store import Store

    store = Store(database_url)
    try:
        with store.session() as session:
            query = select(Entry).where(Entry.status != "closed").order_by(Entry.slug)
            if slug:
                entries.get_entry(session, slug)
                query = query.where(Entry.slug == slug)
            found: list[dict[str, Any]] = []
            for entry in session.scalars(query):
                if kind == "site" and entry.website and not _backing_off(session, entry.id, LinkCheck):
                    found.append({"slug": entry.slug, "url": entry.website})
                elif kind == "feeds":
                    for url in entry.feeds:
                        state = posts.feed_state(session, entry.slug, url)
                        found.append(
                            {
                                "slug": entry.slug,
                                "url": url,
                                "etag": state.etag if state else None,
                                "last_modified": state.last_modified if state else None,
                                "language": entry.languages[0] if entry.languages else None,
                            }
                        )
                elif kind == "watch" and (url := watch.watched_url(entry)):
                    known = session.scalars(
                        select(PageSnapshot.hash)
                        .where(PageSnapshot.entry_id == entry.id, PageSnapshot.url == url)
                        .order_by(PageSnapshot.id.desc())
                        .limit(watch.HISTORY)
                    )
                    found.append(
                        {
                            "slug": entry.slug,
                            "url": url,
                            "selector": entry.watch_selector,
                            "ignore": entry.watch_ignore,
                            "known": list(known),
                        }
                    )
            return found
    finally:
        store.close()


def _backing_off(session: Any, entry_id: int, link_check: Any) -> bool:
    """A site that answered 429 with Retry-After is not asked again before that time."""
    import datetime as dt

    from sqlalchemy import select

    last = session.scalar(
        select(link_check).where(link_check.entry_id == entry_id).order_by(link_check.checked_at.desc()).limit(1)
    )
    if last is None or last.status_code != 429:
        return False
    retry_after = (last.details or {}).get("retry_after", "")
    seconds = int(retry_after) if retry_after.isdigit() else 3600
    return dt.datetime.now(dt.UTC) < last.checked_at + dt.timedelta(seconds=seconds)


# --------------------------------------------------------------------------- the child process


def child_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawlers.run")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--options", required=True, help="CrawlOptions as JSON")
    parser.add_argument("--entry")
    args = parser.parse_args(argv)
    options = CrawlOptions(**json.loads(args.options))
    found = targets(args.kind, options.database_url, args.entry)

    from scrapy.crawler import CrawlerProcess

    from crawlers.progress import emit
    from crawlers.settings import crawl_settings
    from crawlers.spiders.feeds import FeedsSpider
    from crawlers.spiders.site import SiteSpider
    from crawlers.spiders.watch import WatchSpider

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


# --------------------------------------------------------------------------- the parent side


def run_crawl(
    kind: str,
    options: CrawlOptions,
    *,
    entry: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    timeout: float | None = None,
) -> CrawlSummary:
    """Crawl in a child process and return its summary (also when the child failed or was killed)."""
    if kind not in KINDS:
        raise ValueError(f"unknown crawl {kind!r} (expected one of {', '.join(KINDS)})")
    command = [
        sys.executable,
        "-m",
        "crawlers.run",
        kind,
        "--options",
        json.dumps(
            options.__dict__ | {"allow_networks": list(options.allow_networks), "overrides": dict(options.overrides)}
        ),
    ]
    if entry:
        command += ["--entry", entry]
    summary = CrawlSummary(kind)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as child:
        assert child.stdout is not None
        for line in child.stdout:
            event = _event(line)
            if event.get("event") == "start":
                summary.targets = event["total"]
            elif event.get("event") == "progress" and on_progress:
                on_progress(event["done"], event["total"])
            elif event.get("event") == "summary":
                _fill(summary, event["stats"])
        stderr = child.stderr.read() if child.stderr else ""
        summary.returncode = child.wait(timeout=timeout)
    if summary.returncode != 0:
        summary.errors["crawl-failed"] += 1
        summary.stats["stderr"] = stderr[-2000:]
    return summary


def _event(line: str) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except ValueError:
        return {}
    return event if isinstance(event, dict) else {}


def _fill(summary: CrawlSummary, stats: Mapping[str, Any]) -> None:
    summary.stats = dict(stats)
    summary.pages = int(stats.get("response_received_count", 0))
    summary.proposals = int(stats.get("nansen/proposals", 0))
    summary.posts = int(stats.get("nansen/posts_new", 0))
    for key, value in stats.items():
        if key.startswith("nansen/errors/"):
            summary.errors[key.removeprefix("nansen/errors/")] += int(value)


if __name__ == "__main__":
    raise SystemExit(child_main())
