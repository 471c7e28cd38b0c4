"""robots.txt as RFC 9309 reads it: a file that could not be read is not "allow all".

Scrapy 2.19's `RobotsTxtMiddleware` parses whatever body came back, so a robots.txt answering 503
has its error page read as rules (none: allow all), and one that could not be downloaded at all
allows everything too. RFC 9309 decides by what happened to the request:

- 2xx: the body is the rules (§2.3.1.1);
- 4xx, and any other answer that is not a server error: "unavailable", the crawler MAY access any
  resource (§2.3.1.3): an empty file, i.e. allow all; 3xx reaches here only when Scrapy did not follow
  the redirect, which §2.3.1.2 also lets us treat as unavailable;
- 5xx (after Scrapy's retry middleware has tried again, as `RETRY_HTTP_CODES` says) or unreachable
  (DNS failure, refused connection, timeout, anything that raised): the crawler MUST assume complete
  disallow (§2.3.1.4).

A request refused for either last reason fails with a `RobotsRefusal` naming it, so a health check
records why the page was not read instead of a generic "forbidden by robots.txt".
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Self

from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.robotstxt import RobotParser
from twisted.internet.defer import Deferred

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response

logger = logging.getLogger(__name__)

DISALLOW = "RFC 9309 §2.3.1.4 says assume complete disallow"


class RobotsRefusal(IgnoreRequest):
    """A request refused because its host's robots.txt could not be read as rules."""


class RobotsServerError(RobotsRefusal):
    """robots.txt answered 5xx (`status`): §2.3.1.4, complete disallow."""

    def __init__(self, status: int) -> None:
        super().__init__(f"robots.txt answered HTTP {status}: {DISALLOW}")
        self.status = status


class RobotsUnreachable(RobotsRefusal):
    """robots.txt could not be downloaded; `cause` is the exception the download raised (a DNS failure,
    a refused connection, a timeout…), kept so the check can record that failure as what it is."""

    def __init__(self, cause: BaseException) -> None:
        said = (str(cause) or type(cause).__name__)[:160]
        super().__init__(f"robots.txt unreachable ({said}): {DISALLOW}")
        self.cause = cause


class DisallowAll(RobotParser):
    """The rules assumed when robots.txt could not be read: nothing is allowed.

    `refusal()` makes the exception a refused request fails with (a new one per request).
    """

    def __init__(self, refusal: Callable[[], RobotsRefusal]) -> None:
        self.refusal = refusal

    @classmethod
    def from_crawler(cls, crawler: Crawler, robotstxt_body: bytes) -> Self:
        raise TypeError("DisallowAll is not parsed from a body: it stands for a robots.txt that was not read")

    def allowed(self, url: str | bytes, user_agent: str | bytes) -> bool:
        return False


class RFC9309RobotsTxtMiddleware(RobotsTxtMiddleware):
    """Scrapy's middleware, deciding by the robots.txt response's status as RFC 9309 §2.3.1 does.

    Overrides three methods of Scrapy 2.19's `RobotsTxtMiddleware`; the first two are private API,
    so a Scrapy upgrade must re-check them (tests/test_robots_rfc9309.py fails if they change):

    - `_parse_robots(response, netloc, request)`: called with every robots.txt response whatever
      its status; parses 2xx bodies, an empty body for other non-5xx answers, and installs
      `DisallowAll` for 5xx;
    - `_robots_error(exc, netloc)`: called when the download raised; installs `DisallowAll` instead
      of Scrapy's "no parser" (which allows everything);
    - `process_request_2(rp, request)`: raises the `DisallowAll`'s `RobotsRefusal` instead of
      Scrapy's generic "Forbidden by robots.txt".

    Decisions last for the crawl (one child process), as Scrapy's parsers do. The `robotstxt/*` stats
    stay as Scrapy keeps them; requests refused by an assumed disallow count in `robotstxt/forbidden`.
    """

    async def _parse_robots(self, response: Response, netloc: str, request: Request) -> None:
        if 200 <= response.status < 300:
            await super()._parse_robots(response, netloc, request)
        elif response.status < 500:
            await super()._parse_robots(response.replace(body=b""), netloc, request)
        else:
            self._stats.inc_value("robotstxt/response_count")
            self._stats.inc_value(f"robotstxt/response_status_count/{response.status}")
            self._assume_disallow(netloc, functools.partial(RobotsServerError, response.status))

    def _robots_error(self, exc: Exception, netloc: str) -> None:
        if not isinstance(exc, IgnoreRequest):
            self._stats.inc_value(f"robotstxt/exception_count/{type(exc)}")
        self._assume_disallow(netloc, functools.partial(RobotsUnreachable, exc))

    def process_request_2(self, rp: RobotParser | None, request: Request) -> None:
        if isinstance(rp, DisallowAll):
            self._stats.inc_value("robotstxt/forbidden")
            refusal = rp.refusal()
            logger.debug("%s: %s", request, refusal, extra={"spider": self.crawler.spider})
            raise refusal
        super().process_request_2(rp, request)

    def _assume_disallow(self, netloc: str, refusal: Callable[[], RobotsRefusal]) -> None:
        waiting = self._parsers[netloc]
        assert isinstance(waiting, Deferred)
        parser = DisallowAll(refusal)
        self._parsers[netloc] = parser
        waiting.callback(parser)
