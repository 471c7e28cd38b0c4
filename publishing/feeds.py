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
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from feedgen.feed import FeedGenerator

from directory import untrusted
from directory.names import country_name, language_name
from directory.taxonomy import KINDS, TOPIC_BY_SLUG, TOPICS, Topic
from publishing.i18n import LANGUAGES, gettext_for, partial_date
from publishing.updates import EntryView, Update, _

EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
_FEED_MESSAGES = (
    _("All updates"), _("Exile media"), _("Organizations and initiatives"), _("Host-country programs"),
    _("Updates: {name}"), _("Changes in the Nansen directory of organizations serving people who left Russia "
                             "and Belarus."), _("This program is {state}."), _("Warning: {text} ({date})"),
)  # fmt: skip
KIND_TITLES = {"media": "Exile media", "ngo": "Organizations and initiatives", "program": "Host-country programs"}


@dataclass(frozen=True)
class FeedSettings:
    base_url: str  # where the site is served, e.g. https://nansen.example.org
    id_authority: str  # tag URI authority: set once, never change (ids must stay stable)
    item_limit: int = 50

    def url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"

    def tag(self, specific: str, lang: str | None) -> str:
        """The item's Atom id (RFC 4151 tag URI), one per language: the Russian and the English item
        about one update are different entries (different text), and a reader subscribed to both
        keeps both. The same update keeps its one id in every feed of a language."""
        return f"tag:{self.id_authority},2026:{lang}/{specific}" if lang else f"tag:{self.id_authority},2026:{specific}"


@dataclass(frozen=True)
class FeedSpec:
    """One feed: where it lives (`kind/media`), its title per language, which updates it holds."""

    path: str
    title: Callable[[str], str]
    matches: Callable[[Update], bool]
    page: str  # the site page it belongs to, relative to /<lang>/


def specs(entries: Collection[EntryView]) -> list[FeedSpec]:
    """All feeds worth having: every kind and topic, and every country and language that occurs among
    `entries` (the entries that have updates)."""
    found: list[FeedSpec] = [FeedSpec("all", partial(gettext_for, message="All updates"), _every, "index.html")]
    for kind in KINDS:
        found.append(
            FeedSpec(f"kind/{kind}", partial(_kind_title, kind), partial(_of_kind, kind), f"kinds/{kind}.html")
        )
    for code in sorted({c for e in entries for c in e.host_countries}):
        found.append(
            FeedSpec(
                f"country/{code.lower()}",
                partial(_country_title, code),
                partial(_in_country, code),
                f"countries/{code.lower()}.html",
            )
        )
    for code, topic_or_kind in sorted(_combinations(entries)):
        found.append(_combined_spec(code, topic_or_kind))
    for topic in TOPICS:
        found.append(
            FeedSpec(
                f"topic/{topic.slug}",
                partial(_topic_title, topic),
                partial(_on_topic, topic.slug),
                f"topics/{topic.slug}.html",
            )
        )
    for code in sorted({c for e in entries for c in e.languages}):
        found.append(
            FeedSpec(
                f"language/{code}",
                partial(_language_title, code),
                partial(_in_language, code),
                f"languages/{code}.html",
            )
        )
    return found


def combined_path(code: str, topic_or_kind: str) -> str:
    """The feed of one host country and one topic or kind: `country/ge/topic/legal-aid`,
    `country/ge/kind/media`."""
    facet = "kind" if topic_or_kind in KINDS else "topic"
    return f"country/{code.lower()}/{facet}/{topic_or_kind}"


def combined_page(code: str, topic_or_kind: str) -> str:
    """The site page (under /<lang>/) of one host country and one topic or kind:
    `countries/ge/topics/legal-aid.html`, `countries/ge/kinds/media.html`."""
    facet = "kinds" if topic_or_kind in KINDS else "topics"
    return f"countries/{code.lower()}/{facet}/{topic_or_kind}.html"


def facets_of(kind: str, topics: Sequence[str]) -> tuple[str, ...]:
    """What an entry is listed under within a country: its kind and its topics. The one definition of
    membership of a country × topic or country × kind page and feed."""
    return (kind, *topics)


def _combinations(entries: Collection[EntryView]) -> set[tuple[str, str]]:
    """Every (host country, topic) and (host country, kind) some entry has: the non-empty combinations."""
    return {
        (code, facet)
        for entry in entries
        for code in entry.host_countries
        for facet in facets_of(entry.kind, entry.topics)
    }


def _combined_spec(code: str, topic_or_kind: str) -> FeedSpec:
    return FeedSpec(
        combined_path(code, topic_or_kind),
        partial(combined_title, code, topic_or_kind),
        partial(_in_combination, code, topic_or_kind),
        combined_page(code, topic_or_kind),
    )


def combined_title(code: str, topic_or_kind: str, lang: str) -> str:
    """ "Юридическая помощь — Грузия", "Exile media — Georgia"."""
    if topic_or_kind in KINDS:
        what = gettext_for(lang, KIND_TITLES[topic_or_kind])
    else:
        what = getattr(TOPIC_BY_SLUG[topic_or_kind], lang)
    return f"{what} — {country_name(code, lang)}"


def _in_combination(code: str, topic_or_kind: str, update: Update) -> bool:
    entry = update.entry
    return code in entry.host_countries and topic_or_kind in facets_of(entry.kind, entry.topics)


def _every(update: Update) -> bool:
    return True


def _kind_title(kind: str, lang: str) -> str:
    return gettext_for(lang, KIND_TITLES[kind])


def _of_kind(kind: str, update: Update) -> bool:
    return update.entry.kind == kind


def _country_title(code: str, lang: str) -> str:
    return _named(lang, country_name(code, lang))


def _in_country(code: str, update: Update) -> bool:
    return code in update.entry.host_countries


def _topic_title(topic: Topic, lang: str) -> str:
    return _named(lang, getattr(topic, lang))


def _on_topic(slug: str, update: Update) -> bool:
    return slug in update.entry.topics


def _language_title(code: str, lang: str) -> str:
    return _named(lang, language_name(code, lang))


def _in_language(code: str, update: Update) -> bool:
    return code in update.entry.languages


def _named(lang: str, name: str) -> str:
    return gettext_for(lang, "Updates: {name}").format(name=name)


def item_title(update: Update, lang: str) -> str:
    """The update's title, prefixed with the program's state when it is paused or closed."""
    state = update.entry.program_state
    if update.entry.kind == "program" and state in ("paused", "closed"):
        return f"[{gettext_for(lang, state)}] {update.title[lang]}"
    return update.title[lang]


def item_notices(update: Update, lang: str) -> list[str]:
    """What a reader must know before the update's text: a paused or closed program, the entry's
    warnings (unless the update is that news itself)."""
    state = update.entry.program_state
    notices = [
        gettext_for(lang, "Warning: {text} ({date})").format(text=w[lang], date=partial_date(w["date"], lang))
        for w in update.entry.warnings
        if update.kind != "warning"  # a new warning is the text itself
    ]
    if update.entry.kind == "program" and state in ("paused", "closed") and update.kind != "program-state":
        notices.insert(0, gettext_for(lang, "This program is {state}.").format(state=gettext_for(lang, state)))
    return notices


def item_text(update: Update, lang: str) -> str:
    """The update's text, after its notices (`item_notices`)."""
    notices = item_notices(update, lang)
    return "\n".join([*notices, update.text[lang]] if update.text[lang] else notices)


def entry_page(lang: str, slug: str) -> str:
    return f"{lang}/entries/{slug}.html"


@dataclass(frozen=True)
class Item:
    """One feed item, whatever it announces (an update, an organization's post)."""

    id: str
    title: str
    link: str
    time: dt.datetime
    text: str = ""
    html: str | None = None  # already sanitized markup (crawled summaries); else `text` is plain
    category: str | None = None
    author: str | None = None
    origin: str = ""  # the row it comes from, to name it when it cannot be published ("post 17 (slug)")


@dataclass(frozen=True)
class FeedHead:
    path: str  # e.g. "kind/media": the file is <lang>/feeds/<path>.<fmt>
    title: str
    page: str  # the site page it belongs to, relative to /<lang>/
    subtitle: str


def update_items(updates: Sequence[Update], lang: str, settings: FeedSettings) -> list[Item]:
    return [
        Item(
            id=settings.tag(u.id, lang),
            title=item_title(u, lang),
            link=settings.url(entry_page(lang, u.entry.slug)),
            time=u.time,
            text=item_text(u, lang) or item_title(u, lang),
            category=u.kind,
            origin=f"update {u.id} ({u.entry.slug})",
        )
        for u in updates
    ]


def _generator(head: FeedHead, items: Sequence[Item], lang: str, settings: FeedSettings, fmt: str) -> FeedGenerator:

    updated = max((item.time for item in items), default=EPOCH)
    feed = FeedGenerator()
    feed.id(settings.tag(f"feed/{lang}/{head.path}", None))
    feed.title(f"Nansen — {head.title}")
    feed.subtitle(head.subtitle)
    feed.author({"name": "Nansen"})
    # feedgen puts the last link into RSS <link>, which must be the page, not the feed itself.
    feed.link(href=settings.url(f"{lang}/feeds/{head.path}.{fmt}"), rel="self")
    feed.link(href=settings.url(f"{lang}/{head.page}"), rel="alternate")
    feed.language(lang)
    feed.updated(updated)
    feed.lastBuildDate(updated)
    feed.generator("Nansen")
    for item in items:
        entry = feed.add_entry(order="append")
        entry.id(item.id)
        entry.guid(item.id, permalink=False)
        # Atom titles are text (type="text"); RSS readers often render <title> as HTML, so there its
        # "<" and ">" are escaped once more: a title that is literally "<script>" stays words in both.
        entry.title(item.title if fmt == "atom" else item.title.replace("<", "&lt;").replace(">", "&gt;"))
        entry.link(href=item.link, rel="alternate")
        entry.updated(item.time)
        entry.published(item.time)
        if item.author:
            entry.author({"name": item.author})
        if item.html:
            entry.summary(item.html, type="html")
        elif fmt == "rss":
            # RSS readers take <description> as HTML: escape the plain text so it stays text.
            entry.summary(html.escape(item.text).replace("\n", "<br>"))
        else:
            entry.summary(item.text)
        if item.category:
            entry.category(term=item.category)
    return feed


def atom(head: FeedHead, items: Sequence[Item], lang: str, settings: FeedSettings) -> bytes:
    return _generator(head, items, lang, settings, "atom").atom_str(pretty=True)


def rss(head: FeedHead, items: Sequence[Item], lang: str, settings: FeedSettings) -> bytes:
    return _generator(head, items, lang, settings, "rss").rss_str(pretty=True)


def json_feed(head: FeedHead, items: Sequence[Item], lang: str, settings: FeedSettings) -> bytes:
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": f"Nansen — {head.title}",
        "home_page_url": settings.url(f"{lang}/{head.page}"),
        "feed_url": settings.url(f"{lang}/feeds/{head.path}.json"),
        "description": head.subtitle,
        "language": lang,
        "items": [
            {
                "id": item.id,
                "url": item.link,
                "title": item.title,
                **({"content_html": item.html} if item.html else {"content_text": item.text}),
                "date_published": item.time.isoformat(),
                **({"tags": [item.category]} if item.category else {}),
                **({"authors": [{"name": item.author}]} if item.author else {}),
            }
            for item in items
        ],
    }
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


FORMATS: dict[str, Callable[[FeedHead, Sequence[Item], str, FeedSettings], bytes]] = {
    "atom": atom,
    "rss": rss,
    "json": json_feed,
}


SUBTITLE = "Changes in the Nansen directory of organizations serving people who left Russia and Belarus."
POSTS_SUBTITLE = "Recent posts from the organizations' own feeds, as they published them."
POSTS_PATH = "organizations"


@dataclass(frozen=True)
class PostView:
    id: int
    slug: str
    name: dict[str, str]
    title: str
    link: str | None
    time: dt.datetime
    summary: str | None


def post_items(posts: Sequence[PostView], lang: str, settings: FeedSettings) -> list[Item]:
    """The posts as feed items; a post without a title (JSON Feed allows it) is "(untitled)"."""
    return [
        Item(
            id=settings.tag(f"post-{p.id}", lang),
            title=p.title or gettext_for(lang, "(untitled)"),
            link=p.link or settings.url(entry_page(lang, p.slug)),
            time=p.time,
            text=p.title or gettext_for(lang, "(untitled)"),
            html=p.summary or None,
            author=p.name[lang],
            origin=f"post {p.id} ({p.slug})",
        )
        for p in posts
    ]


def build(
    chosen: Iterable[tuple[FeedSpec, Sequence[Update]]],
    by_entry: Mapping[str, Sequence[Update]],
    settings: FeedSettings,
    skipped: dict[str, str],
    posts: Sequence[PostView] = (),
) -> Iterator[tuple[str, bytes]]:
    """The feed files of `chosen` (each feed with its updates, newest first), of each entry's own updates
    in `by_entry` (slug → newest first) and of the organizations' `posts`: (path
    under the site root, e.g. `ru/feeds/kind/media.atom`, bytes), one at a time.

    A row that cannot be written stops nothing: an item holding a character XML 1.0 forbids (which
    the store keeps out of crawled text, see `directory.untrusted`) is left out of every feed, and
    named in `skipped` (origin → why); every other item is published.
    """
    for spec, updates in chosen:
        for lang in LANGUAGES:
            head = FeedHead(spec.path, spec.title(lang), spec.page, gettext_for(lang, SUBTITLE))
            items = update_items(updates[: settings.item_limit], lang, settings)
            yield from _files(head, items, lang, settings, skipped)
    for slug, own in by_entry.items():
        for lang in LANGUAGES:
            name = own[0].entry.name[lang]
            head = FeedHead(entry_feed(slug), _named(lang, name), f"entries/{slug}.html", gettext_for(lang, SUBTITLE))
            items = update_items(own[: settings.item_limit], lang, settings)
            yield from _files(head, items, lang, settings, skipped)
    recent = list(posts[: settings.item_limit])
    for lang in LANGUAGES:
        head = FeedHead(
            POSTS_PATH, gettext_for(lang, "From the organizations"), "feeds.html", gettext_for(lang, POSTS_SUBTITLE)
        )
        yield from _files(head, post_items(recent, lang, settings), lang, settings, skipped)


def _files(
    head: FeedHead, items: Sequence[Item], lang: str, settings: FeedSettings, skipped: dict[str, str]
) -> Iterator[tuple[str, bytes]]:
    kept = _writable(items, skipped)
    for fmt, render in FORMATS.items():
        yield f"{lang}/feeds/{head.path}.{fmt}", render(head, kept, lang, settings)


def choose(spec: FeedSpec, updates: Iterable[Update], limit: int) -> list[Update]:
    """The newest `limit` of `updates` (newest first) that belong in the feed `spec`."""
    return list(itertools.islice((u for u in updates if spec.matches(u)), limit))


def entry_feed(slug: str) -> str:
    """The path of one entry's own feed of updates, under `<lang>/feeds/`: what "follow this page" follows."""
    return f"entry/{slug}"


def _writable(items: Sequence[Item], skipped: dict[str, str]) -> list[Item]:
    kept = []
    for item in items:
        if character := untrusted.forbidden(item):
            skipped[item.origin] = f"holds {character}, which XML 1.0 does not allow"
        elif not item.title.strip():
            skipped[item.origin] = "has no title, which Atom requires"
        else:
            kept.append(item)
    return kept


@dataclass(frozen=True)
class OrgFeed:
    slug: str
    kind: str
    name: dict[str, str]
    url: str
    website: str | None


def opml(feeds: Sequence[OrgFeed], lang: str, skipped: dict[str, str] | None = None) -> bytes:
    """OPML 2.0 of every organization's own feed, one outline per kind, to subscribe to all at once.

    A feed holding a character XML 1.0 forbids is left out (ElementTree would write it, and the file
    would no longer parse), and named in `skipped` when given.
    """
    writable = []
    for feed in feeds:
        if character := untrusted.forbidden(feed):
            if skipped is not None:
                skipped[f"feed {feed.url!r} ({feed.slug})"] = f"holds {character}, which XML 1.0 does not allow"
        else:
            writable.append(feed)
    feeds = writable
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


def entry_opml(entry: EntryFeeds, lang: str, settings: FeedSettings) -> bytes:
    """OPML 2.0 of everything one entry has to follow: our feed of its updates and its own feeds."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = "Nansen — " + entry.name[lang]
    body = ET.SubElement(root, "body")
    page = settings.url(entry_page(lang, entry.slug))
    title = _named(lang, entry.name[lang])
    ours = settings.url(f"{lang}/feeds/{entry_feed(entry.slug)}.atom")
    ET.SubElement(body, "outline", type="rss", text=title, title=title, xmlUrl=ours, htmlUrl=page)
    for url in entry.own:
        # Several feeds of one organization (a site's news and its podcast) must not read alike in a reader.
        name = entry.name[lang] if len(entry.own) == 1 else f"{entry.name[lang]} ({_feed_label(url)})"
        attributes = {"type": "rss", "text": name, "title": name, "xmlUrl": url}
        if entry.website:
            attributes["htmlUrl"] = entry.website
        ET.SubElement(body, "outline", attributes)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _feed_label(url: str) -> str:
    """A feed's host and path, to tell one organization's feeds apart: `meduza.io/rss/podcasts`."""
    parts = urlsplit(url)
    return f"{parts.hostname or ''}{parts.path.rstrip('/')}" + (f"?{parts.query}" if parts.query else "")


@dataclass(frozen=True)
class EntryFeeds:
    """What `entry_opml` lists for one entry: its name, site and its own feeds (curated URLs)."""

    slug: str
    name: dict[str, str]
    website: str | None
    own: tuple[str, ...]


_OPML_MESSAGES = (
    _("(untitled)"),
    _("Feeds of the organizations"),
    _("From the organizations"),
    _("Recent posts from the organizations' own feeds, as they published them."),
)
