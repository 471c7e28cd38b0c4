"""Turn untrusted crawled text into what may be stored: plain text, or a small allow-list of HTML.

Everything a crawler stores passes through here. Titles become plain text the way a browser would show
them (inscriptis), escaped again wherever they are shown; summaries keep harmless formatting and links
(nh3, the Rust `ammonia` sanitizer).
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urljoin, urlsplit

import nh3
from inscriptis import get_text
from inscriptis.css_profiles import STRICT_CSS_PROFILE
from inscriptis.html_properties import Display
from inscriptis.model.config import ParserConfig
from inscriptis.model.html_element import HtmlElement

SUMMARY_TAGS = {"p", "br", "a", "b", "strong", "i", "em", "ul", "ol", "li", "blockquote"}

# Firefox's defaults, so an inline element never splits a word (`Ex<span>ile</span>` is "Exile", where
# inscriptis's "relaxed" profile says "Ex ile"); plus the block elements that profile leaves out, and the
# elements a browser never shows. Links, images and their alt texts stay out of the text.
_PLAIN_CONFIG = ParserConfig(
    css={
        **STRICT_CSS_PROFILE,
        **{
            tag: HtmlElement(display=Display.block)
            for tag in ("center", "dd", "details", "dl", "dt", "fieldset", "form", "hr", "legend", "section")
        },
        **{tag: HtmlElement(display=Display.none) for tag in ("iframe", "noscript", "template")},
    },
    display_images=False,
    display_links=False,
)
# Not text: control characters that are not white space, lone surrogates (lxml reads NUL as U+FFFD and
# stops at a surrogate, dropping the rest), and the noncharacter `plain` uses as a stand-in for "&".
_NOT_TEXT = re.compile(r"[\x00-\x08\x0e-\x1b\x7f\ud800-\udfff\ufdd0]")
_AMPERSAND = "\ufdd0"


def plain(value: Any, limit: int = 500) -> str:
    """Text without any markup, white space collapsed to single spaces, at most `limit` characters.

    `value` is read as HTML, since feeds and pages put both markup and character references in their
    titles: block elements separate words (`<p>Free</p><p>Press</p>` is "Free Press"), `AT&amp;T` is
    "AT&T", script and style are dropped with their content, and so is anything styled `display: none`.
    Text that was plain already reads the same, except where a browser would read a tag: a `<` is text
    when no ASCII letter, `/`, `!` or `?` follows it ("1 < 2"), but "a<b" starts a `b` element.
    Lists keep their bullets or numbers ("* one * two"). None is "".

    Character references are decoded exactly once, as a browser does (`AT&amp;amp;T` shows "AT&amp;T").
    inscriptis 2.7 unescapes text that lxml has already decoded (once more, in table cells twice), so
    every "&" goes through it as a stand-in and the references are decoded here, once the markup is
    gone: what they spell can never become markup.
    """
    return " ".join(text(value).split())[:limit].rstrip()


def text(value: Any) -> str:
    """`value` (HTML) as a browser lays it out in text: what `plain` says, but with its lines kept
    (a block element starts a line), for page texts that are compared line by line."""
    if value is None:
        return ""
    source = _NOT_TEXT.sub("", str(value)).replace("&", _AMPERSAND)
    return html.unescape(get_text(source, _PLAIN_CONFIG).replace(_AMPERSAND, "&"))


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
