"""Turn untrusted crawled text into what may be stored: plain text, or a small allow-list of HTML.

Everything a crawler stores passes through here. A field is read as what its source says it is: an
HTML title becomes plain text the way a browser would show it (`plain`, inscriptis), a plain-text
title keeps every word, `<col>` included (`words`); both are escaped again wherever they are shown.
Summaries keep harmless formatting and links (`summary_html`, nh3, the Rust `ammonia` sanitizer), and
a plain-text summary is escaped into that HTML (`text_html`), never read as markup. Links are kept
only when they are http(s) on a public host (`public_url`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

import nh3
from inscriptis import get_text
from inscriptis.css_profiles import STRICT_CSS_PROFILE
from inscriptis.html_properties import Display
from inscriptis.model.config import ParserConfig
from inscriptis.model.html_element import HtmlElement

from crawlers.safety import Network, refusal
from directory import untrusted
from directory.fields import HIDDEN
from directory.posts import SUMMARY_LIMIT

URL_LIMIT = 2000
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
# Controls that Python's str.split takes for white space (form feed, vertical tab, the information
# separators, NEL): spaces here, before `untrusted.text` removes the controls XML forbids, so no two
# words run together. `_AMPERSAND` is the noncharacter `text` uses as a stand-in for "&".
_SPACE_LIKE = re.compile(r"[\x0b\x0c\x1c-\x1f\x85]")
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
    return _seen(" ".join(text(value).split())[:limit].rstrip())


def text(value: Any) -> str:
    """`value` (HTML) as a browser lays it out in text: what `plain` says, but with its lines kept
    (a block element starts a line), for page texts that are compared line by line."""
    if value is None:
        return ""
    source = _not_text(value).replace("&", _AMPERSAND)
    return html.unescape(get_text(source, _PLAIN_CONFIG).replace(_AMPERSAND, "&"))


def words(value: Any, limit: int = 500) -> str:
    """Plain text as it was, every word kept (`a <col> b` stays so), white space collapsed, at most
    `limit` characters. For fields their source declares to be text (Atom `type="text"`, JSON Feed)."""
    if value is None:
        return ""
    return _seen(" ".join(_not_text(value).split())[:limit].rstrip())


def _seen(text: str) -> str:
    """`text`, or "" when nothing in it would be seen (only format characters such as U+FEFF, U+200B
    or bidi marks, and spaces): a title no one can read is no title."""
    return text if HIDDEN.sub("", text).strip() else ""


def _not_text(value: Any) -> str:
    """`value` as a string as `untrusted.text` stores it (lone surrogates as U+FFFD, no control
    characters but white space), and without the stand-in for "&"."""
    return untrusted.text(_SPACE_LIKE.sub(" ", str(value))).replace(_AMPERSAND, "")


def text_html(value: Any, limit: int = SUMMARY_LIMIT) -> str:
    """Plain text as summary HTML: escaped, blank lines between paragraphs, at most `limit` characters."""
    source = _not_text(value or "")
    paragraphs = (" ".join(block.split()) for block in re.split(r"\n\s*\n", source))
    return summary_html("".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs if p), limit)


def summary_html(value: Any, limit: int = SUMMARY_LIMIT) -> str:
    """HTML with only `SUMMARY_TAGS`, links as http(s) `href` only, at most `limit` characters.

    A summary too long is cut in its source and sanitized again, so it never ends inside a tag, an
    attribute or a character reference (nh3 closes what the cut left open), and ends with "…".
    """
    if not value:
        return ""
    full = _sanitize(untrusted.text(str(value)))
    cleaned, cut = full, limit
    while len(cleaned) > limit and cut > 0:
        cleaned = _sanitize(_HALF_MARKUP.sub("", full[:cut]).rstrip() + "…")
        cut -= len(cleaned) - limit
    return cleaned if len(cleaned) <= limit else ""


def _sanitize(value: str) -> str:
    return nh3.clean(
        value,
        tags=SUMMARY_TAGS,
        attributes={"a": {"href"}},
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer nofollow",
    ).strip()


# What a cut through sanitized HTML can leave at its end: part of a tag, or of a character reference.
_HALF_MARKUP = re.compile(r"<[^>]*$|&[#\w]*$")


def http_url(value: Any, base: str | None = None) -> str | None:
    """An absolute http(s) URL, or None (javascript:, data:, mailto:, white space, control characters,
    credentials, backslashes, more than `URL_LIMIT` characters and other junk are dropped: a URL cut
    short is another URL, and `http://10.0.0.1\\@example.org/` goes to 10.0.0.1 in a browser)."""
    if not value or not isinstance(value, str):
        return None
    url = urljoin(base, value.strip()) if base else value.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or not url.isprintable() or " " in url:
        return None
    if parts.username or parts.password or "\\" in url:  # a browser reads "\" as "/": another host
        return None
    return url if len(url) <= URL_LIMIT else None


def public_url(value: Any, base: str | None = None, allowed: Sequence[Network] = ()) -> str | None:
    """`http_url`, and None too when its host is a non-public IP address in any spelling
    (`http://169.254.169.254/`, `http://2852039166/`, `http://[::ffff:10.0.0.1]/`) outside `allowed`:
    such a link is neither stored nor republished. Names are not resolved here; the request guard
    (`crawlers.safety`) checks what a name resolves to before anything is fetched."""
    url = http_url(value, base)
    return url if url and refusal(url, allowed) is None else None
