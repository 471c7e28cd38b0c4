"""Site health and metadata: status, final URL, latency, title, OpenGraph/JSON-LD, feeds, contacts."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, ClassVar

import extruct
import scrapy

from crawlers import clean
from crawlers.failures import classify
from crawlers.items import SiteItem
from crawlers.safety import Network, parse_networks
from directory.health import Check

FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json", "application/json")
CONTACT = re.compile(r"contact|kontakt|контакт|about|о нас", re.I)
DONATE = re.compile(r"donat|support us|пожертв|поддерж", re.I)


class SiteSpider(scrapy.Spider):
    name = "site"
    handle_httpstatus_list: ClassVar[list[int]] = list(
        range(400, 600)
    )  # a 404 or 500 is a finding, not an error to drop

    def __init__(self, targets: list[dict[str, Any]] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.targets = targets or []

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for target in self.targets:
            yield scrapy.Request(
                target["url"],
                callback=self.parse,
                errback=self.failed,
                dont_filter=True,
                meta={"slug": target["slug"], "start_url": target["url"]},
            )

    def parse(self, response: Any) -> Any:
        meta = response.meta
        reasons = meta.get("redirect_reasons") or []
        permanent = response.url if reasons and all(r in (301, 308) for r in reasons) else None
        check = Check(
            url=meta["start_url"],
            final_url=clean.http_url(response.url),
            status_code=response.status,
            latency_ms=int(meta.get("download_latency", 0) * 1000),
            permanent_redirect=permanent,
        )
        if response.status < 400 and isinstance(response, scrapy.http.TextResponse):
            found = metadata(response, parse_networks(self.crawler.settings.get("NANSEN_ALLOW_NETWORKS")))
            check = Check(
                **{**check.__dict__, "feeds": tuple(found.pop("feeds")), "email": found.pop("email"), "details": found}
            )
        elif response.status == 429:
            check = Check(
                **{
                    **check.__dict__,
                    "details": {"retry_after": response.headers.get("Retry-After", b"").decode("latin-1")[:40]},
                }
            )
        self.crawler.stats.inc_value(f"nansen/status/{response.status}")
        yield SiteItem(meta["slug"], check)

    def failed(self, failure: Any) -> Any:
        kind, message = classify(failure)
        self.crawler.stats.inc_value(f"nansen/errors/{kind}")
        request = failure.request
        yield SiteItem(request.meta["slug"], Check(url=request.meta["start_url"], error=message, error_kind=kind))


def metadata(response: Any, allowed: Sequence[Network] = ()) -> dict[str, Any]:
    """What the page says about itself, sanitized: nothing here is trusted or applied by itself.

    Titles, descriptions and attribute values are text (an HTML `<title>` holds no markup), read as the
    parser decoded them; links are kept only when public (`clean.public_url`, outside `allowed`).
    """

    def link(value: Any) -> str | None:
        return clean.public_url(value, response.url, allowed)

    try:
        data = extruct.extract(response.text, base_url=response.url, syntaxes=["opengraph", "json-ld"], uniform=True)
    except Exception:  # malformed markup must not lose the health check
        data = {}
    og: dict[str, Any] = next(iter(data.get("opengraph") or []), {})
    organization: dict[str, Any] = next((d for d in data.get("json-ld") or [] if _is_org(d)), {})
    same_as = organization.get("sameAs") or []
    same_as = [same_as] if isinstance(same_as, str) else same_as
    email = organization.get("email")
    if not email:
        email = next(
            (a.split(":", 1)[1].split("?")[0] for a in response.css("a[href^='mailto:']::attr(href)").getall()), None
        )
    feeds = [
        url
        for element in response.css("link[rel~='alternate']")
        if (element.attrib.get("type") or "").lower() in FEED_TYPES and (url := link(element.attrib.get("href")))
    ]
    # Words of each link, nested elements included (`<a><span>Donate</span></a>`), for keyword matching only.
    anchors = [(a.attrib.get("href"), " ".join(a.xpath(".//text()").getall())) for a in response.css("a[href]")]
    return {
        "title": clean.words(response.css("title::text").get(), 300),
        "description": clean.words(response.css("meta[name='description']::attr(content)").get(), 1000),
        "language": clean.words(response.css("html::attr(lang)").get(), 16),
        "og_title": clean.words(og.get("og:title"), 300),
        "og_image": link(og.get("og:image")),
        "logo": link(_logo(organization)),
        "same_as": [u for u in (link(s) for s in same_as if isinstance(s, str)) if u][:20],
        "contact_links": _links(anchors, CONTACT, link),
        "donation_links": _links(anchors, DONATE, link),
        "feeds": list(dict.fromkeys(feeds))[:10],
        "email": clean.words(email, 320) or None,
    }


def _is_org(item: Any) -> bool:
    kind = item.get("@type") if isinstance(item, dict) else None
    kinds = kind if isinstance(kind, list) else [kind]
    return any(k in ("Organization", "NGO", "NewsMediaOrganization", "GovernmentOrganization") for k in kinds)


def _logo(organization: dict[str, Any]) -> Any:
    logo = organization.get("logo")
    return logo.get("url") if isinstance(logo, dict) else logo


def _links(
    anchors: list[tuple[str | None, str]], pattern: re.Pattern[str], link: Callable[[Any], str | None]
) -> list[str]:
    found = [url for href, text in anchors if pattern.search(f"{href} {text}") and (url := link(href))]
    return list(dict.fromkeys(found))[:5]
