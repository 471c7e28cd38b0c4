"""Items → directory service calls, written off the reactor thread in small group commits.

A crawl killed half-way keeps everything already written, and the next run adds only what is missing
(posts are unique per entry, proposals are never duplicated). An item counts as scraped (the progress
bar moves) only once its transaction has committed. Nothing here changes an entry: checks, posts and
snapshots are stored, and anything an entry should change becomes a proposal.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy.orm import Session

from crawlers.items import FeedItem, PageItem, SiteItem
from directory import health, posts, watch
from directory.store import Store

Counts = list[tuple[str, int]]  # stats to increment: (key, by how much)
BATCH = 100  # items at most in one transaction: what a kill can make the next run redo


class GroupWriter:
    """Writes items with `write(session, item)` in one thread of its own, so the reactor keeps crawling
    while the database works: the items that queued while one transaction ran are written together in
    the next (group commit, at most `BATCH`). When a transaction fails, its items are written again one
    per transaction, so only the item that fails is lost, with its own error."""

    def __init__(self, store: Store, write: Callable[[Session, Any], Counts]) -> None:
        self.store = store
        self.write_one = write
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="nansen-writer")
        self._queue: list[tuple[Any, Future[Counts]]] = []
        self._lock = threading.Lock()
        self._draining = False

    async def write(self, item: Any) -> Counts:
        """Queue `item`; returns its stats once its transaction has committed, or raises its error."""
        done: Future[Counts] = Future()
        with self._lock:
            self._queue.append((item, done))
            start, self._draining = not self._draining, True
        if start:
            self._thread.submit(self._drain)
        return await asyncio.wrap_future(done)

    def close(self) -> None:
        """Wait for every queued item to be written."""
        self._thread.shutdown(wait=True)

    def _drain(self) -> None:
        while True:
            with self._lock:
                batch, self._queue = self._queue[:BATCH], self._queue[BATCH:]
                if not batch:
                    self._draining = False
                    return
            self._commit(batch)

    def _commit(self, batch: list[tuple[Any, Future[Counts]]]) -> None:
        try:
            with self.store.session() as session:
                results = [self.write_one(session, item) for item, _ in batch]
        except Exception as error:
            if len(batch) > 1:
                for one in batch:
                    self._commit([one])
            else:
                batch[0][1].set_exception(error)
            return
        for (_, done), result in zip(batch, results, strict=True):
            done.set_result(result)


class DirectoryPipeline:
    def __init__(self, database_url: str, rules: health.HealthRules, stats: Any) -> None:
        self.database_url = database_url
        self.rules = rules
        self.stats = stats
        self.store: Store | None = None
        self.writer: GroupWriter | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> DirectoryPipeline:
        settings = crawler.settings
        rules = health.HealthRules(
            settings.getint("NANSEN_DEAD_AFTER_FAILURES", 3), settings.getint("NANSEN_DEAD_AFTER_DAYS", 7)
        )
        return cls(settings.get("NANSEN_DATABASE_URL"), rules, crawler.stats)

    def open_spider(self, spider: Any = None) -> None:
        self.store = Store(self.database_url)
        self.writer = GroupWriter(self.store, self.write)

    def close_spider(self, spider: Any = None) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.store is not None:
            self.store.close()

    async def process_item(self, item: Any, spider: Any = None) -> Any:
        assert self.writer is not None
        for key, count in await self.writer.write(item):
            self.stats.inc_value(key, count)  # here, on the reactor thread, where the stats live
        return item

    def write(self, session: Session, item: Any) -> Counts:
        """Store one item in `session`; returns the stats it adds."""
        if isinstance(item, SiteItem):
            made = health.record_check(session, item.slug, item.check, rules=self.rules)
            return [("nansen/proposals", len(made)), (f"nansen/checks/{item.check.outcome}", 1)]
        if isinstance(item, FeedItem):
            new = posts.store_posts(session, item.slug, item.url, item.posts) if item.posts else 0
            posts.save_feed_state(
                session,
                item.slug,
                item.url,
                status=item.status,
                etag=item.etag,
                last_modified=item.last_modified,
                error=item.error,
            )
            return [("nansen/posts_new", new)]
        if isinstance(item, PageItem):
            verdict = watch.record_page(session, item.slug, item.url, item.text, confirmed=item.confirmed)
            return [(f"nansen/watch/{verdict}", 1)] + ([("nansen/proposals", 1)] if verdict == "proposed" else [])
        return []
