"""Turn untrusted crawled text into what may be stored: plain text, or a small allow-list of HTML.

Everything a crawler stores passes through here (nh3, the Rust `ammonia` sanitizer). Titles become
plain text (escaped again wherever they are shown); summaries keep harmless formatting and links.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urljoin, urlsplit

import nh3

SUMMARY_TAGS = {"p", "br", "a", "b", "strong", "i", "em", "ul", "ol", "li", "blockquote"}


def plain(value: Any, limit: int = 500) -> str:
    """Text without any markup, white space collapsed."""
    if value is None:
        return ""
    text = html.unescape(nh3.clean(str(value), tags=set()))
    return " ".join(text.split())[:limit]


def summary_html(value: Any, limit: int = 5000) -> str:
    if not value:
        return ""
    cleaned = nh3.clean(
        str(value),
        tags=SUMMARY_TAGS,
        attributes={"a": {"href"}},
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer nofollow",
    )
    return cleaned.strip()[:limit]


def http_url(value: Any, base: str | None = None) -> str | None:
    """An absolute http(s) URL, or None (javascript:, data:, mailto: and junk are dropped)."""
    if not value or not isinstance(value, str):
        return None
    url = urljoin(base, value.strip()) if base else value.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        return None
    return url[:2000]
