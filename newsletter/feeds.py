"""Atom 1.0, RSS 2.0 and JSON Feed 1.1 of the updates, per kind, host country, topic and language, plus an
OPML file of the organizations' own feeds.

Feeds are rebuilt from the updates each time, and must not change when nothing changed: ids are tag
URIs built from the update id under a fixed authority, every date comes from the data (never "now"),
and the caller writes a file only when its bytes differ, so a static host keeps its ETag.
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from directory.taxonomy import KINDS, TOPICS
from newsletter.i18n import LANGUAGES, country_name, gettext_for, language_name
from newsletter.updates import Update, _

EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
_FEED_MESSAGES = (
    _("All updates"), _("Exile media"), _("Organizations and initiatives"), _("Host-country programs"),
    _("Updates: {name}"), _("Changes in the Nansen directory of organizations serving people who left Russia "
                             "and Belarus."), _("This program is {state}."),
)  # fmt: skip
KIND_TITLES = {"media": "Exile media", "ngo": "Organizations and initiatives", "program": "Host-country programs"}


@dataclass(frozen=True)
class FeedSettings:
    base_url: str  # where the site is served, e.g. https://nansen.example.org
    id_authority: str  # tag URI authority: set once, never change (ids must stay stable)
    item_limit: int = 50

    def url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"

    def tag(self, specific: str) -> str:
        return f"tag:{self.id_authority},2026:{specific}"


@dataclass(frozen=True)
class FeedSpec:
    """One feed: where it lives (`kind/media`), its title per language, which updates it holds."""

    path: str
    title: Callable[[str], str]
    matches: Callable[[Update], bool]
    page: str  # the site page it belongs to, relative to /<lang>/


def specs(updates: Sequence[Update]) -> list[FeedSpec]:
    """All feeds worth having: every kind and topic, and every country and language that occurs."""
    found: list[FeedSpec] = [
        FeedSpec("all", lambda lang: gettext_for(lang, "All updates"), lambda u: True, "index.html")
    ]
    for kind in KINDS:
        found.append(
            FeedSpec(
                f"kind/{kind}",
                lambda lang, k=kind: gettext_for(lang, KIND_TITLES[k]),
                lambda u, k=kind: u.entry.kind == k,
                f"kinds/{kind}.html",
            )
        )
    countries = sorted({c for u in updates for c in u.entry.host_countries})
    for code in countries:
        found.append(
            FeedSpec(
                f"country/{code.lower()}",
                lambda lang, c=code: _named(lang, country_name(c, lang)),
                lambda u, c=code: c in u.entry.host_countries,
                f"countries/{code.lower()}.html",
            )
        )
    for topic in TOPICS:
        found.append(
            FeedSpec(
                f"topic/{topic.slug}",
                lambda lang, t=topic: _named(lang, getattr(t, lang)),
                lambda u, t=topic.slug: t in u.entry.topics,
                f"topics/{topic.slug}.html",
            )
        )
    for code in sorted({c for u in updates for c in u.entry.languages}):
        found.append(
            FeedSpec(
                f"language/{code}",
                lambda lang, c=code: _named(lang, language_name(c, lang)),
                lambda u, c=code: c in u.entry.languages,
                f"languages/{code}.html",
            )
        )
    return found


def _named(lang: str, name: str) -> str:
    return gettext_for(lang, "Updates: {name}").format(name=name)


def item_title(update: Update, lang: str) -> str:
    """The update's title, prefixed with the program's state when it is paused or closed."""
    state = update.entry.program_state
    if update.entry.kind == "program" and state in ("paused", "closed"):
        return f"[{gettext_for(lang, state)}] {update.title[lang]}"
    return update.title[lang]


def item_text(update: Update, lang: str) -> str:
    state = update.entry.program_state
    text = update.text[lang]
    if update.entry.kind == "program" and state in ("paused", "closed"):
        notice = gettext_for(lang, "This program is {state}.").format(state=gettext_for(lang, state))
        text = f"{notice}\n{text}" if text else notice
    return text


def entry_page(lang: str, slug: str) -> str:
    return f"{lang}/entries/{slug}.html"


def _generator(spec: FeedSpec, items: Sequence[Update], lang: str, settings: FeedSettings, fmt: str):  # type: ignore[no-untyped-def]
    from feedgen.feed import FeedGenerator

    updated = items[0].time if items else EPOCH
    feed = FeedGenerator()
    feed.id(settings.tag(f"feed/{lang}/{spec.path}"))
    feed.title(f"Nansen — {spec.title(lang)}")
    feed.subtitle(
        gettext_for(
            lang, "Changes in the Nansen directory of organizations serving people who left Russia and Belarus."
        )
    )
    feed.author({"name": "Nansen"})
    # feedgen puts the last link into RSS <link>, which must be the page, not the feed itself.
    feed.link(href=settings.url(f"{lang}/feeds/{spec.path}.{fmt}"), rel="self")
    feed.link(href=settings.url(f"{lang}/{spec.page}"), rel="alternate")
    feed.language(lang)
    feed.updated(updated)
    feed.lastBuildDate(updated)
    feed.generator("Nansen")
    for update in items:
        entry = feed.add_entry(order="append")
        entry.id(settings.tag(update.id))
        entry.guid(settings.tag(update.id), permalink=False)
        entry.title(item_title(update, lang))
        entry.link(href=settings.url(entry_page(lang, update.entry.slug)), rel="alternate")
        entry.updated(update.time)
        entry.published(update.time)
        text = item_text(update, lang) or item_title(update, lang)
        # RSS readers take <description> as HTML: escape the plain text so it stays text.
        entry.description(html.escape(text).replace("\n", "<br>") if fmt == "rss" else text)
        entry.category(term=update.kind)
    return feed


def atom(spec: FeedSpec, items: Sequence[Update], lang: str, settings: FeedSettings) -> bytes:
    return _generator(spec, items, lang, settings, "atom").atom_str(pretty=True)


def rss(spec: FeedSpec, items: Sequence[Update], lang: str, settings: FeedSettings) -> bytes:
    return _generator(spec, items, lang, settings, "rss").rss_str(pretty=True)


def json_feed(spec: FeedSpec, items: Sequence[Update], lang: str, settings: FeedSettings) -> bytes:
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": f"Nansen — {spec.title(lang)}",
        "home_page_url": settings.url(f"{lang}/{spec.page}"),
        "feed_url": settings.url(f"{lang}/feeds/{spec.path}.json"),
        "language": lang,
        "items": [
            {
                "id": settings.tag(update.id),
                "url": settings.url(entry_page(lang, update.entry.slug)),
                "title": item_title(update, lang),
                "content_text": item_text(update, lang) or item_title(update, lang),
                "date_published": update.time.isoformat(),
                "tags": [update.kind],
            }
            for update in items
        ],
    }
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


FORMATS: dict[str, Callable[[FeedSpec, Sequence[Update], str, FeedSettings], bytes]] = {
    "atom": atom,
    "rss": rss,
    "json": json_feed,
}


def build(updates: Sequence[Update], settings: FeedSettings) -> dict[str, bytes]:
    """Every feed file, keyed by its path under the site root (`ru/feeds/kind/media.atom`)."""
    files: dict[str, bytes] = {}
    for spec in specs(updates):
        items = list(itertools.islice((u for u in updates if spec.matches(u)), settings.item_limit))
        for lang in LANGUAGES:
            for fmt, render in FORMATS.items():
                files[f"{lang}/feeds/{spec.path}.{fmt}"] = render(spec, items, lang, settings)
    return files


@dataclass(frozen=True)
class OrgFeed:
    slug: str
    kind: str
    name: dict[str, str]
    url: str
    website: str | None


def opml(feeds: Sequence[OrgFeed], lang: str) -> bytes:
    """OPML 2.0 of every organization's own feed, one outline per kind, to subscribe to all at once."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = "Nansen — " + gettext_for(lang, "Feeds of the organizations")
    body = ET.SubElement(root, "body")
    for kind in KINDS:
        in_kind = [f for f in feeds if f.kind == kind]
        if not in_kind:
            continue
        group = ET.SubElement(body, "outline", text=gettext_for(lang, KIND_TITLES[kind]))
        for feed in sorted(in_kind, key=lambda f: (f.slug, f.url)):
            attributes = {"type": "rss", "text": feed.name[lang], "title": feed.name[lang], "xmlUrl": feed.url}
            if feed.website:
                attributes["htmlUrl"] = feed.website
            ET.SubElement(group, "outline", attributes)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


_OPML_MESSAGES = (_("Feeds of the organizations"),)
