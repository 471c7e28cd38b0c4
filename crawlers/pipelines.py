"""Items → directory service calls, each item in its own transaction.

A crawl killed half-way keeps everything already written, and the next run adds only what is missing
(posts are unique per entry, proposals are never duplicated). Nothing here changes an entry: checks,
posts and snapshots are stored, and anything an entry should change becomes a proposal.
"""

from __future__ import annotations

from typing import Any

from crawlers.items import FeedItem, PageItem, SiteItem
from directory import health, posts, watch
from directory.store import Store


class DirectoryPipeline:
    def __init__(self, database_url: str, rules: health.HealthRules, stats: Any) -> None:
        self.database_url = database_url
        self.rules = rules
        self.stats = stats
        self.store: Store | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> DirectoryPipeline:
        settings = crawler.settings
        rules = health.HealthRules(
            settings.getint("NANSEN_DEAD_AFTER_FAILURES", 3), settings.getint("NANSEN_DEAD_AFTER_DAYS", 7)
        )
        return cls(settings.get("NANSEN_DATABASE_URL"), rules, crawler.stats)

    def open_spider(self, spider: Any = None) -> None:
        self.store = Store(self.database_url)

    def close_spider(self, spider: Any = None) -> None:
        if self.store is not None:
            self.store.close()

    def process_item(self, item: Any, spider: Any = None) -> Any:
        assert self.store is not None
        with self.store.session() as session:
            if isinstance(item, SiteItem):
                made = health.record_check(session, item.slug, item.check, rules=self.rules)
                self.stats.inc_value("nansen/proposals", len(made))
                self.stats.inc_value(f"nansen/checks/{item.check.outcome}")
            elif isinstance(item, FeedItem):
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
                self.stats.inc_value("nansen/posts_new", new)
            elif isinstance(item, PageItem):
                verdict = watch.record_page(session, item.slug, item.url, item.text, confirmed=item.confirmed)
                self.stats.inc_value(f"nansen/watch/{verdict}")
                if verdict == "proposed":
                    self.stats.inc_value("nansen/proposals")
        return item
