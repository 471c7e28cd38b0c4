"""Where a fact may come from: the rule every `source` of an entry, designation and warning obeys.

People decide whom to trust from these pages, so a fact must be traceable to the organization's own
page, a government or court page, or a named outlet that reported it — never to a copy. Copies are
how wrong or stale facts spread: a Wikipedia clone keeps an old revision, a Telegram proxy or a CDN
copy of a broadcaster cannot be checked against its origin, a content farm rewrites others' reports
by machine. `MIRRORS` lists the patterns of such copies seen so far; add one when you find it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

SEPARATOR = " ; "


@dataclass(frozen=True)
class Mirror:
    """A host pattern (a regular expression matched against the whole lower-case host) and why it is no source."""

    pattern: str
    reason: str

    def matches(self, host: str) -> bool:
        return re.fullmatch(self.pattern, host) is not None


MIRRORS: tuple[Mirror, ...] = (
    Mirror(
        r"(?:[\w-]+\.)*(?:wikimili\.com|wikiclassic\.com|enwikipedia\.net|abcdef\.wiki|mgwiki\.top|"
        r"wiki-gateway\.eudic\.net|wikiwand\.com|wiki2\.org|wikizero\.com|db0nus869y26v\.cloudfront\.net|"
        r"justapedia\.org|alchetron\.com|dbpedia\.org|everybodywiki\.com|infogalactic\.com)",
        "a copy of Wikipedia; cite the Wikipedia article or, better, the source it cites",
    ),
    Mirror(r"wikiless\.[\w.-]+|[\w.-]*wikiless[\w.-]*", "a Wikipedia proxy; cite the Wikipedia article itself"),
    Mirror(r"(?:[\w-]+\.)*grokipedia\.com", "a machine-written encyclopedia; cite a primary source"),
    Mirror(r"[\w-]+\.cloudfront\.net", "a CDN copy of a site; cite the site's own address"),
    Mirror(
        r"(?:[\w-]+\.)*(?:tgstat\.ru|tgstat\.com|telemetr\.me|telemetr\.io|tlgrm\.ru|telegram-club\.ru|"
        r"1rj\.ru|teleteg\.com|tg-channels\.ru)",
        "a copy of Telegram posts; cite the t.me post itself",
    ),
    Mirror(
        r"(?:[\w-]+\.)*(?:rulit\.me|litmir\.me|litres\.ru|libking\.ru|twirpx\.com|studfile\.net|docslib\.org)",
        "a copy of a book or document site; cite the publisher or the document's own page",
    ),
    Mirror(
        r"(?:[\w-]+\.)*(?:pledgetimes\.com|perceptioro\.com|perceptiode\.com|bnnbreaking\.com|"
        r"cnewsliveenglish\.com|nggossips\.com|securitythisday\.com|successdigestonline\.com|sorakan\.com|"
        r"newsbreak\.com|inkl\.com|headtopics\.com|newsnow\.co\.uk|ground\.news|archive\.ph|archive\.today|"
        r"archive\.is)",
        "an aggregator or content farm re-publishing others' reports; cite the original report",
    ),
)


def refusal(url: str) -> str | None:
    """Why `url` cannot be a source, or None. Assumes an http(s) URL already checked as one.

    An IP literal has no publisher to name; a host matching `MIRRORS` is a copy of someone else's page.
    """
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return f"{url!r} is an IP address, not a publisher; cite the organization's or the outlet's own address"
    for mirror in MIRRORS:
        if mirror.matches(host):
            return f"{url!r} is {mirror.reason} (see directory/sources.py)"
    return None


def split(text: str) -> list[str]:
    """The URLs of a source field: separated by `SEPARATOR`, a `;` with white space on each side (or at
    the text's start or end), or by white space alone, which no URL holds. A URL may hold a `;` of its
    own: `https://x.org/a;jsessionid=1` is one URL."""
    return [part for part in text.split() if part != ";"]
