"""Items → directory service calls, written by a process of their own in small group commits.

A crawl killed half-way keeps everything already written, and the next run adds only what is missing
(posts are unique per entry, proposals are never duplicated). An item counts as scraped (the progress
bar moves) only once its transaction has committed. Nothing here changes an entry: checks, posts and
snapshots are stored, and anything an entry should change becomes a proposal.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from sqlalchemy.orm import Session

from crawlers.items import FeedItem, PageItem, SiteItem
from directory import health, posts, watch
from directory.store import Store, connection_lost

Counts = list[tuple[str, int]]  # stats to increment: (key, by how much)
BATCH = 100  # items at most in one transaction: what a kill can make the next run redo


class NotWritten(Exception):
    """An item the writer process could not store, with the database's words."""


class GroupWriter:
    """Writes items in a process of its own, so that the database work (SQLAlchemy's, mostly CPU) runs
    beside the crawl instead of taking turns with it: in a thread, it shared the reactor's interpreter
    lock, and the crawl went slower than writing each item on the reactor thread. The items that queued
    while one transaction ran are written together in the next (group commit, at most `BATCH`). When a
    transaction fails, its items are written again one per transaction, so only the item that fails is
    lost, with its own error (`NotWritten`)."""

    def __init__(self, database_url: str, rules: health.HealthRules) -> None:
        # spawn, not fork: the crawl's process runs a reactor and threads, which a fork would copy half-way.
        self._process = ProcessPoolExecutor(
            1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_open,
            initargs=(database_url, rules, os.getpid()),
        )
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="nansen-writer")  # hands batches over, waits
        self._queue: list[tuple[Any, Future[Counts]]] = []
        self._lock = threading.Lock()
        self._draining = False

    async def write(self, item: Any) -> Counts:
        """Queue `item`; returns its stats once its transaction has committed, or raises `NotWritten`."""
        done: Future[Counts] = Future()
        with self._lock:
            self._queue.append((item, done))
            start, self._draining = not self._draining, True
        if start:
            self._thread.submit(self._drain)
        return await asyncio.wrap_future(done)

    def close(self) -> None:
        """Wait for every queued item to be written, and end the writer process."""
        self._thread.shutdown(wait=True)
        self._process.shutdown(wait=True)

    def _drain(self) -> None:
        while True:
            with self._lock:
                batch, self._queue = self._queue[:BATCH], self._queue[BATCH:]
                if not batch:
                    self._draining = False
                    return
            try:
                results = self._process.submit(_write_batch, [item for item, _ in batch]).result()
            except BaseException as error:  # the writer process failed: it could not start, died, or was stopped
                results = [NotWritten(f"the writer process failed: {error!r}")] * len(batch)
            for (_, done), result in zip(batch, results, strict=True):
                if isinstance(result, NotWritten):
                    done.set_exception(result)
                else:
                    done.set_result(result)


_writer: tuple[Store, health.HealthRules] | None = None  # the writer process's database and rules


def _open(database_url: str, rules: health.HealthRules, crawl: int) -> None:
    """The writer process's start: its database, and no life of its own. It ignores the SIGINT and
    SIGTERM a terminal or a service manager sends the whole process group (the crawl then shuts down
    and ends it), and exits as soon as the crawl's process (`crawl`, its parent) is gone: killed, it
    cannot end it. The parent's pid comes from the parent, since it may be gone before this runs."""
    global _writer  # one per writer process, made by the pool's initializer
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(crawl,), daemon=True).start()
    _writer = (Store(database_url), rules)


def _exit_with(parent: int) -> None:
    """Exit (rolling back any transaction in progress) once this process's parent is not `parent`."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _write_batch(items: list[Any], *, again: bool = False) -> list[Counts | NotWritten]:
    """In the writer process: `items` in one transaction, or each in its own when that one fails. An
    item whose connection was lost (the database restarted, or ended the session while it waited on a
    lock) is tried once more, on a new connection."""
    assert _writer is not None
    store, rules = _writer
    try:
        with store.session() as session:
            return [write(session, item, rules) for item in items]
    except Exception as error:
        if len(items) > 1:
            return [result for item in items for result in _write_batch([item])]
        if connection_lost(error) and not again:
            return _write_batch(items, again=True)
        return [NotWritten(f"{type(error).__name__}: {error}")]


def write(session: Session, item: Any, rules: health.HealthRules) -> Counts:
    """Store one item in `session`; returns the stats it adds."""
    if isinstance(item, SiteItem):
        made = health.record_check(session, item.slug, item.check, rules=rules)
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


class DirectoryPipeline:
    def __init__(self, database_url: str, rules: health.HealthRules, stats: Any) -> None:
        self.database_url = database_url
        self.rules = rules
        self.stats = stats
        self.writer: GroupWriter | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> DirectoryPipeline:
        settings = crawler.settings
        rules = health.HealthRules(
            settings.getint("NANSEN_DEAD_AFTER_FAILURES", 3), settings.getint("NANSEN_DEAD_AFTER_DAYS", 7)
        )
        return cls(settings.get("NANSEN_DATABASE_URL"), rules, crawler.stats)

    def open_spider(self, spider: Any = None) -> None:
        self.writer = GroupWriter(self.database_url, self.rules)

    def close_spider(self, spider: Any = None) -> None:
        if self.writer is not None:
            self.writer.close()

    async def process_item(self, item: Any, spider: Any = None) -> Any:
        assert self.writer is not None
        for key, count in await self.writer.write(item):
            self.stats.inc_value(key, count)  # here, on the reactor thread, where the stats live
        return item
