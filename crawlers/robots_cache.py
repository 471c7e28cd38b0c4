"""robots.txt kept between crawls for a day, as RFC 9309 §2.4 allows ("crawlers SHOULD NOT use the
cached version for more than 24 hours"), in the database: an hourly feed crawl asks each site for its
rules once a day, not 24 times.

Scrapy's own HTTP cache middleware does the work, with a policy that caches nothing but robots.txt
and a storage that is a table of the directory's database (`RobotsTxt`). The rows a crawl may use are
read once when it opens and what it fetched is written once when it closes, so the reactor never waits
on the database per site. A 5xx is never kept: it means "disallow" for the crawl that saw it only
(§2.3.1.4), and the next crawl asks again. Nothing else is cached: a cached page must never hide an
outage.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.extensions.httpcache import DummyPolicy
from scrapy.http import Headers
from scrapy.responsetypes import responsetypes
from sqlalchemy import JSON, ColumnElement, Integer, LargeBinary, String, and_, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from directory.models import Base, UTCDateTime, utcnow
from directory.store import Store, insert_new

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.http import Request, Response
    from scrapy.settings import BaseSettings

LIFETIME = dt.timedelta(hours=24)  # RFC 9309 §2.4
# A row dated further ahead than this came from a clock that was wrong (this machine's, or another
# crawl host's): it is not used, and it is removed, rather than trusted until a day past that date.
CLOCK_SKEW = dt.timedelta(minutes=10)
URL_LENGTH = 2000


class RobotsTxt(Base):
    """A robots.txt answer as fetched (after Scrapy's retries; a redirect is kept as the 3xx it was)."""

    __tablename__ = "robots_txt"

    url: Mapped[str] = mapped_column(String(URL_LENGTH), primary_key=True)
    status: Mapped[int] = mapped_column(Integer)
    headers: Mapped[dict[str, list[str]]] = mapped_column(JSON)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    fetched_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class RobotsOnlyPolicy(DummyPolicy):
    """Cache robots.txt answers but server errors; a cached copy within `LIFETIME` is used as is.

    Only an origin's own robots.txt is cacheable: `scheme://host[:port]/robots.txt`, nothing after it
    (RFC 9309 §2.3). A page that merely has that path with a query (an entry's website, a redirect's
    target) is crawled afresh each time, and the URL is bounded by the host's length.
    """

    def should_cache_request(self, request: Request) -> bool:
        return is_robots_txt(request.url) and super().should_cache_request(request)

    def should_cache_response(self, response: Response, request: Request) -> bool:
        return response.status < 500

    def is_cached_response_valid(self, cachedresponse: Response, response: Response, request: Request) -> bool:
        return False  # never reached for a copy within its lifetime; a fresh answer replaces any other


def is_robots_txt(url: str) -> bool:
    """Whether `url` is exactly its origin's robots.txt (no parameters, query or fragment)."""
    parts = urlsplit(url)
    return len(url) <= URL_LENGTH and url == f"{parts.scheme}://{parts.netloc}/robots.txt"


def _usable(now: dt.datetime) -> ColumnElement[bool]:
    """Rows fetched within the last `LIFETIME`, and not ahead of the clock by more than `CLOCK_SKEW`."""
    return and_(RobotsTxt.fetched_at > now - LIFETIME, RobotsTxt.fetched_at <= now + CLOCK_SKEW)


class DatabaseRobotsStorage:
    """Scrapy `HTTPCACHE_STORAGE` over `RobotsTxt`, in the database `NANSEN_DATABASE_URL` names."""

    def __init__(self, settings: BaseSettings) -> None:
        self._database_url: str = settings["NANSEN_DATABASE_URL"]
        self._kept: dict[str, RobotsTxt] = {}
        self._fetched: dict[str, dict[str, Any]] = {}

    def open_spider(self, spider: Spider) -> None:
        """Read every answer younger than `LIFETIME`: one query."""
        store = Store(self._database_url)
        try:
            with store.session() as session:
                young = select(RobotsTxt).where(_usable(utcnow()))
                self._kept = {row.url: row for row in session.scalars(young)}
                session.expunge_all()
        finally:
            store.close()

    def close_spider(self, spider: Spider) -> None:
        """Write what this crawl fetched, replacing older answers, and forget those past `LIFETIME`."""
        store = Store(self._database_url)
        try:
            with store.session() as session:
                urls = list(self._fetched)
                for start in range(0, len(urls), 500):
                    session.execute(delete(RobotsTxt).where(RobotsTxt.url.in_(urls[start : start + 500])))
                session.execute(delete(RobotsTxt).where(~_usable(utcnow())))
                # Another crawl may have written the same URL meanwhile: its answer is as young as ours.
                # In groups: PostgreSQL takes at most 65,535 parameters a statement, 5 a row here.
                rows = list(self._fetched.values())
                for start in range(0, len(rows), 1000):
                    insert_new(session, RobotsTxt, rows[start : start + 1000], ["url"])
        finally:
            store.close()

    def retrieve_response(self, spider: Spider, request: Request) -> Response | None:
        row = self._kept.get(request.url)
        if row is None:
            return None
        headers = Headers({name: values for name, values in row.headers.items()})
        cls = responsetypes.from_args(headers=headers, url=request.url, body=row.body)
        return cls(url=request.url, status=row.status, headers=headers, body=row.body)

    def store_response(self, spider: Spider, request: Request, response: Response) -> None:
        headers = {
            name.decode("latin-1"): [value.decode("latin-1") for value in values]
            for name, values in response.headers.items()
        }
        self._fetched[request.url] = {
            "url": request.url,
            "status": response.status,
            "headers": headers,
            "body": response.body,
            "fetched_at": utcnow(),
        }
