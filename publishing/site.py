"""The static bilingual site: home, a page per entry, country, kind, topic and language, and the feeds.

Pages are plain HTML (no JavaScript needed), one template set for both languages with interface
strings through gettext. A build is incremental: each page's inputs are hashed, a page whose inputs
and templates are unchanged is not rendered again, and a file is written only when its bytes differ.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import posixpath
import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import babel
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from directory import search, sources, untrusted
from directory.models import Entry, Post, utcnow
from directory.names import country_name, language_name
from directory.taxonomy import (
    AUTHORITY_BY_SLUG,
    DESIGNATION_KIND_BY_SLUG,
    DESIGNATION_KINDS,
    KINDS,
    TOPIC_BY_SLUG,
    TOPICS,
)
from publishing import feeds, history, search_index
from publishing.history import LATEST
from publishing.i18n import (
    LANGUAGES,
    collation_key,
    gettext_for,
    partial_date,
    translations,
)
from publishing.updates import Update, _, collect, newest_revision

TEMPLATES = Path(__file__).parent / "templates" / "site"
STATIC = Path(__file__).parent / "static"
MANIFEST = ".nansen-build.json"
STOPWORDS = " ".join(sorted(search.STOPWORDS))  # for the search page, which leaves them out of a query


@dataclass(frozen=True)
class SiteSettings:
    output: Path
    feeds: feeds.FeedSettings
    page_size: int = 100  # entries on one page of a listing


@dataclass
class BuildReport:
    """What a build did, by kind of file: written (new or changed), unchanged, removed."""

    written: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)
    removed: list[str] = field(default_factory=list)
    changed_paths: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # rows left out ("post 17 (slug)") and why
    dirty: set[str] | None = None  # the entries rebuilt after reading only newer revisions; None: all, in full

    @property
    def total_written(self) -> int:
        return sum(self.written.values())


# --------------------------------------------------------------------------- templates


@functools.cache
def environment(lang: str) -> Any:

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters["country"] = lambda code: country_name(code, lang)
    env.filters["language"] = lambda code: language_name(code, lang)
    env.filters["topic"] = lambda slug: getattr(TOPIC_BY_SLUG[slug], lang) if slug in TOPIC_BY_SLUG else slug
    env.filters["paragraphs"] = _paragraphs
    env.filters["date"] = lambda text: partial_date(text, lang)
    env.filters["since_date"] = lambda text: partial_date(text, lang, after_since=True)
    env.filters["authority"] = lambda slug: getattr(AUTHORITY_BY_SLUG[slug], lang)
    env.filters["designation"] = lambda slug: getattr(DESIGNATION_KIND_BY_SLUG[slug], lang)
    env.filters["host"] = lambda url: (urlsplit(url).hostname or url).removeprefix("www.")
    env.globals["lang"] = lang
    env.globals["other_lang"] = "en" if lang == "ru" else "ru"
    env.globals["kind_titles"] = feeds.KIND_TITLES
    return env


def _paragraphs(text: str | None) -> Any:

    if not text:
        return Markup("")
    return Markup("".join(f"<p>{escape(part)}</p>" for part in text.split("\n") if part.strip()))


@functools.cache
def templates_digest() -> str:
    """What the site's words come from besides the data: templates, static files, the catalogs, the
    taxonomy's labels and the CLDR names of Babel's version. When it changes, the next build is full."""
    digest = hashlib.sha256()
    digest.update(repr((TOPICS, DESIGNATION_KINDS, tuple(AUTHORITY_BY_SLUG.values()), babel.__version__)).encode())
    for path in sorted([*TEMPLATES.rglob("*"), *STATIC.rglob("*")]):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    for lang in LANGUAGES:
        po = Path(__file__).parent / "locale" / lang / "LC_MESSAGES" / "messages.po"
        if po.exists():
            digest.update(po.read_bytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------- page contexts


def _entry_context(entry: Entry) -> dict[str, Any]:
    return {
        "slug": entry.slug,
        "kind": entry.kind,
        "name": {"en": entry.name_en, "ru": entry.name_ru},
        "summary": {"en": entry.summary_en, "ru": entry.summary_ru},
        "website": entry.website,
        "feeds": list(entry.feeds),
        "host_countries": list(entry.host_countries),
        "countries_served": list(entry.countries_served),
        "languages": list(entry.languages),
        "topics": list(entry.topics),
        "email": entry.contact_email,
        "telegram": entry.contact_telegram,
        "other_links": list(entry.contact_other),
        "status": entry.status,
        "status_note": entry.status_note,
        "verified_at": entry.verified_at.date().isoformat() if entry.verified_at else None,
        "sources": sources.split(entry.source or ""),
        "designations": [{**d, "sources": sources.split(d["source"])} for d in entry.designations],
        "warnings": [{**w, "sources": sources.split(w["source"])} for w in entry.warnings],
        "program": None
        if entry.kind != "program"
        else {
            "state": entry.program_state,
            "since": entry.program_state_since,
            "note": {"en": entry.state_note_en, "ru": entry.state_note_ru},
            "eligibility": {"en": entry.eligibility_en, "ru": entry.eligibility_ru},
            "official_url": entry.official_url,
            "application_route": {"en": entry.application_route_en, "ru": entry.application_route_ru},
            "next_call": {"opens": entry.next_call_opens, "closes": entry.next_call_closes},
        },
    }


def _update_context(update: Update, lang: str) -> dict[str, Any]:
    return {
        "id": update.id,
        "time": update.time.date().isoformat(),
        "kind": update.kind,
        "title": feeds.item_title(update, lang),
        "text": update.text[lang],
        "slug": update.entry.slug,
    }


def _brief(entry: Mapping[str, Any]) -> dict[str, Any]:
    """What a listing shows of an entry (so a listing is rebuilt only when that changes)."""
    keys = ("slug", "kind", "name", "summary", "host_countries", "languages", "topics", "status")
    brief = {key: entry[key] for key in keys}
    brief["designated"] = sorted({d["kind"] for d in entry["designations"] if not d.get("lifted")})
    brief["warned"] = bool(entry["warnings"])
    brief["program_state"] = entry["program"]["state"] if entry["program"] else None
    return brief


@dataclass(frozen=True)
class Page:
    """A page to build. `key` is what the page depends on (JSON-able; the context itself when None);
    a callable `context` is only evaluated when the page has to be rendered."""

    path: str  # under the output directory, e.g. "ru/entries/meduza.html"
    template: str
    context: dict[str, Any] | Callable[[], dict[str, Any]]
    lang: str
    key: Any = None

    def render_context(self) -> dict[str, Any]:
        return self.context() if callable(self.context) else self.context


def pages(
    entries: Sequence[dict[str, Any]],
    selection: history.Selection,
    feed_names: Mapping[str, Mapping[str, str]],
    posts_of: Mapping[str, list[dict[str, Any]]],
    digests: Mapping[str, str],
    page_size: int = 100,
) -> Iterator[Page]:
    """Every page of the site, in both languages, but only the dirty entries' own pages when the selection
    has dirty entries; `feed_names` is {lang: {feed path: title}}, `posts_of` {slug: its recent posts},
    `digests` {slug: digest of the entry and its posts}; listings have `page_size` entries a page."""
    updates = selection.latest
    own_updates = selection.own
    briefs = [_brief(e) for e in entries]
    # Digests computed once per entry, so a page's key is cheap even when it lists thousands.
    brief_digest = {b["slug"]: _digest(b) for b in briefs}
    groups = _groups(briefs)
    languages = sorted(groups["languages"])
    counts = dict(Counter(e["kind"] for e in entries))
    facets_in = {code: _facet_members(members) for code, members in groups["host_countries"].items()}
    yield Page("index.html", "choose.html", {}, LANGUAGES[0])
    for lang in LANGUAGES:
        countries = sorted(groups["host_countries"], key=partial(_country_key, lang))
        country_counts = [(c, len(groups["host_countries"][c])) for c in countries]
        yield Page(
            f"{lang}/index.html",
            "home.html",
            {
                "counts": counts,
                "countries": country_counts,
                "latest": [_update_context(u, lang) for u in updates[:LATEST]],
                "feed": "all",
            },
            lang,
        )
        for entry in entries:
            if selection.dirty is not None and entry["slug"] not in selection.dirty:
                continue
            own = own_updates.get(entry["slug"], [])[:LATEST]
            # An update's wording follows from its id (its revisions never change) and the entry itself.
            yield Page(
                f"{lang}/entries/{entry['slug']}.html",
                "entry.html",
                functools.partial(_entry_page, entry, own, lang, posts_of.get(entry["slug"], [])),
                lang,
                key=[digests[entry["slug"]], [u.id for u in own]],
            )
        yield Page(f"{lang}/countries/index.html", "countries.html", {"countries": country_counts}, lang)
        for code in countries:
            facets = _facets(facets_in[code], lang)
            yield from _listing(
                lang,
                f"countries/{code.lower()}.html",
                country_name(code, lang),
                groups["host_countries"][code],
                f"country/{code.lower()}",
                brief_digest,
                page_size,
                facets,
            )
            for facet, _label, members in facets:
                yield from _listing(
                    lang,
                    feeds.combined_page(code, facet),
                    feeds.combined_title(code, facet, lang),
                    members,
                    feeds.combined_path(code, facet),
                    brief_digest,
                    page_size,
                )
        for kind in KINDS:
            yield from _listing(
                lang,
                f"kinds/{kind}.html",
                gettext_for(lang, feeds.KIND_TITLES[kind]),
                groups["kind"].get(kind, []),
                f"kind/{kind}",
                brief_digest,
                page_size,
            )
        yield Page(
            f"{lang}/topics/index.html",
            "topics.html",
            {"topics": [(t.slug, len(groups["topics"].get(t.slug, []))) for t in TOPICS]},
            lang,
        )
        for topic in TOPICS:
            yield from _listing(
                lang,
                f"topics/{topic.slug}.html",
                getattr(topic, lang),
                groups["topics"].get(topic.slug, []),
                f"topic/{topic.slug}",
                brief_digest,
                page_size,
            )
        for code in languages:
            yield from _listing(
                lang,
                f"languages/{code}.html",
                language_name(code, lang).capitalize(),
                groups["languages"][code],
                f"language/{code}",
                brief_digest,
                page_size,
            )
        yield Page(
            f"{lang}/feeds.html", "feeds.html", {"groups": _feed_groups(feed_names[lang], lang), "feed": "all"}, lang
        )
        yield Page(f"{lang}/search/index.html", "search.html", {"feed": "all", "stopwords": STOPWORDS}, lang)
        yield Page(
            f"{lang}/designations.html",
            "designations.html",
            {
                "kinds": [(kind, groups["designated"].get(kind.slug, [])) for kind in DESIGNATION_KINDS],
                "feed": "all",
            },
            lang,
        )


def _groups(briefs: Sequence[dict[str, Any]]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """{field: {value: the briefs that have it}} for the fields listings are made of, in one pass; each
    list keeps the briefs' order. A list field counts a value once however often it repeats it."""
    groups: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: defaultdict(list) for name in ("host_countries", "topics", "languages", "designated", "kind")
    }
    for brief in briefs:
        groups["kind"][brief["kind"]].append(brief)
        for name in ("host_countries", "topics", "languages", "designated"):
            for value in dict.fromkeys(brief[name]):
                groups[name][value].append(brief)
    return {name: dict(of_name) for name, of_name in groups.items()}


def _entry_page(
    entry: dict[str, Any], own: Sequence[Update], lang: str, recent_posts: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "entry": entry,
        "posts": list(recent_posts),
        "updates": [_update_context(u, lang) for u in own],
        "feed": feeds.entry_feed(entry["slug"]),
    }


def _archive_pages(editions: Sequence[Mapping[str, Any]]) -> list[Page]:
    """The newsletter archive index; the editions themselves are written by `archive.write_archive`."""
    return [
        Page(f"{lang}/newsletter/index.html", "archive.html", {"editions": list(editions)}, lang) for lang in LANGUAGES
    ]


def _listing(
    lang: str,
    path: str,
    heading: str,
    members: list[dict[str, Any]],
    feed: str,
    digests: Mapping[str, str],
    page_size: int,
    facets: Sequence[tuple[str, str, list[dict[str, Any]]]] = (),
) -> Iterator[Page]:
    """The listing's pages: `path` (e.g. `countries/ge.html`) with the first `page_size` members, in the
    order of KINDS, then `countries/ge/page-2.html` and on, each with a link to every other."""
    ordered = [m for kind in KINDS for m in members if m["kind"] == kind]
    chunks = [ordered[start : start + page_size] for start in range(0, len(ordered), page_size)] or [[]]
    paths = [path, *(f"{path.removesuffix('.html')}/page-{n}.html" for n in range(2, len(chunks) + 1))]
    country = feed.split("/")[1].upper() if feed.startswith("country/") else ""
    shown_facets = [(facet, label, len(chosen)) for facet, label, chosen in facets]
    for number, (chunk, page_path) in enumerate(zip(chunks, paths, strict=True), start=1):
        context = {
            "heading": heading,
            "groups": {kind: [m for m in chunk if m["kind"] == kind] for kind in KINDS},
            "feed": feed,
            "total": len(members),
            "subscribe_country": country,
            "facets": shown_facets,
            "pages": list(enumerate(paths, start=1)) if len(paths) > 1 else [],
            "current": number,
        }
        key = [heading, feed, [digests[m["slug"]] for m in chunk], shown_facets, len(members), number, len(paths)]
        yield Page(f"{lang}/{page_path}", "listing.html", context, lang, key=key)


def _feed_groups(names: Mapping[str, str], lang: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """The feeds page: (heading msgid, [(label, feed path)]) for all, by kind, country, topic and language,
    each sorted by name in the reader's order. A country's topic and kind feeds are on its own page."""
    groups: dict[str, list[tuple[str, str]]] = {
        "All updates": [], "By kind": [], "By country": [], "By topic": [], "By language": []
    }  # fmt: skip
    for path, title in names.items():
        parts = path.split("/")
        if len(parts) == 1:
            groups["All updates"].append((title, path))
        elif parts[0] == "kind":
            groups["By kind"].append((gettext_for(lang, feeds.KIND_TITLES[parts[1]]), path))
        elif parts[0] == "country" and len(parts) == 2:
            groups["By country"].append((country_name(parts[1].upper(), lang), path))
        elif parts[0] == "topic" and parts[1] in TOPIC_BY_SLUG:
            groups["By topic"].append((getattr(TOPIC_BY_SLUG[parts[1]], lang), path))
        elif parts[0] == "language":
            groups["By language"].append((language_name(parts[1], lang).capitalize(), path))
    ordered = {
        heading: sorted(items, key=lambda item: collation_key(item[0], lang)) for heading, items in groups.items()
    }
    ordered["All updates"] = groups["All updates"]  # "All updates" first, then the organizations' posts
    ordered["By kind"] = groups["By kind"]  # in the taxonomy's order
    return [(heading, items) for heading, items in ordered.items() if items]


_FEED_HEADINGS = (_("All updates"), _("By kind"), _("By country"), _("By topic"), _("By language"))


def _facet_members(members: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """{topic or kind: the members listed under it} of one country's members (`feeds.facets_of`)."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for member in members:
        for facet in dict.fromkeys(feeds.facets_of(member["kind"], member["topics"])):
            found[facet].append(member)
    return found


def _facets(members_of: Mapping[str, list[dict[str, Any]]], lang: str) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(topic or kind, its name, the members it has) for each non-empty one in a country (`members_of`,
    from `_facet_members`): what the country page offers as "what is there for me here", kinds first,
    then topics by name."""
    kinds = [(kind, gettext_for(lang, feeds.KIND_TITLES[kind])) for kind in KINDS]
    topics = sorted(((t.slug, getattr(t, lang)) for t in TOPICS), key=lambda pair: collation_key(pair[1], lang))
    return [(facet, label, members_of[facet]) for facet, label in (*kinds, *topics) if members_of.get(facet)]


def _country_key(lang: str, code: str) -> tuple[str, str]:
    return collation_key(country_name(code, lang), lang)


def _digest(data: Any) -> str:
    return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- building


def load_entries(session: Session) -> list[dict[str, Any]]:
    return [_entry_context(e) for e in session.scalars(select(Entry).order_by(Entry.slug))]


def org_feeds(entries: Sequence[Mapping[str, Any]]) -> list[feeds.OrgFeed]:
    return [
        feeds.OrgFeed(e["slug"], e["kind"], e["name"], url, e["website"])
        for e in entries
        if e["status"] != "closed"
        for url in e["feeds"]
    ]


def load_posts(session: Session, limit: int = 1000, now: dt.datetime | None = None) -> list[feeds.PostView]:
    """The organizations' most recent posts (crawled, sanitized when stored), newest first.

    A post's time is when it says it was published, never later than `now` (default: the clock), so
    no feed's `<updated>` is in the future, whatever a feed claimed before its dates were bounded.
    """
    now = now or utcnow()

    moment = func.coalesce(Post.published_at, Post.fetched_at)
    rows = session.execute(
        select(Post, Entry.slug, Entry.name_en, Entry.name_ru)
        .join(Entry, Entry.id == Post.entry_id)
        .where(Entry.status != "closed")
        .order_by(moment.desc(), Post.id.desc())
        .limit(limit)
    )
    return [
        feeds.PostView(
            post.id,
            slug,
            {"en": name_en, "ru": name_ru},
            post.title,
            post.link,
            min(post.published_at or post.fetched_at, now),
            post.summary,
        )
        for post, slug, name_en, name_ru in rows
    ]


def build(session: Session, settings: SiteSettings, editions: Sequence[Mapping[str, Any]] = ()) -> BuildReport:
    """Build feeds, OPML and pages into `settings.output`, touching only what changed.

    `editions` lists the sent newsletter editions for the archive index (`{"number", "date"}` each);
    the newsletter supplies them, since publishing knows nothing of mail. The output folder is the
    build's own: what the manifest lists is taken to be there as the last build wrote it. After the
    first build, only the revisions newer than the manifest's high-water mark are read
    (`publishing.history`).
    """
    previous, state, searched = _read_manifest(settings.output)
    entries = load_entries(session)
    posts = load_posts(session)
    posts_of = _posts_of(posts)
    digests = {e["slug"]: _digest([e, posts_of.get(e["slug"], [])]) for e in entries}
    keep = max(settings.feeds.item_limit, LATEST)
    feed = settings.feeds
    inputs = _digest([templates_digest(), feed.base_url, feed.id_authority, feed.item_limit, settings.page_size])
    mark = newest_revision(session)
    selection = history.incremental(session, state, keep, mark, inputs, digests) or history.full(
        collect(session), keep, mark, inputs, digests
    )
    last_index = search_index.restore(previous, searched, (state or {}).get("entries") or ())
    index = _search_index(session, entries, selection.dirty, last_index, settings.output)
    return _build_from(entries, selection, settings, previous, posts, posts_of, digests, editions, index)


def _search_index(
    session: Session,
    entries: Sequence[Mapping[str, Any]],
    dirty: set[str] | None,
    previous: search_index.Index | None,
    output: Path,
) -> search_index.Index:
    """The search index after this build: only the dirty entries' part of it when the last build's
    index is all there as it was written, else the whole."""
    briefs = [_brief(e) for e in entries]
    cards = {lang: {e["slug"]: _card(e, b, lang) for e, b in zip(entries, briefs, strict=True)} for lang in LANGUAGES}
    if dirty is not None and previous is not None and search_index.intact(output, previous):
        changed = session.scalars(select(Entry).where(Entry.slug.in_(dirty)))
        updated = search_index.update(output, previous, dirty, {e.slug: search.document(e) for e in changed}, cards)
        if updated is not None:
            return updated
    documents = {e.slug: search.document(e) for e in session.scalars(select(Entry))}
    return search_index.build(documents, cards)


def _sweep(folder: Path, kept: Iterable[str], report: BuildReport) -> None:
    """Remove the files under `folder` (the search index's own) that `kept` does not list: a shard
    no build wrote, or one left by a build whose manifest is lost, would still answer searches."""
    output = folder.parent
    for path in sorted(folder.rglob("*.json")) if folder.is_dir() else []:
        relative = path.relative_to(output).as_posix()
        if relative not in kept:
            path.unlink(missing_ok=True)
            report.removed.append(relative)


def _card(entry: Mapping[str, Any], brief: Mapping[str, Any], lang: str, length: int = 200) -> search_index.Card:
    """A search result: the entry's name, the start of its summary cut at a word, and the badges its
    listing card (`macros.html`, from its `brief`) shows: a paused or closed program, designations, a status."""
    summary = " ".join(entry["summary"][lang].split())
    if len(summary) > length:
        summary = summary[:length].rsplit(" ", 1)[0] + "…"
    badges = (
        [(gettext_for(lang, brief["program_state"]), True)] if brief["program_state"] in ("paused", "closed") else []
    )
    badges += [(getattr(DESIGNATION_KIND_BY_SLUG[kind], lang), True) for kind in brief["designated"]]
    if brief["status"] != "active":
        badges.append((gettext_for(lang, brief["status"]), False))
    return search_index.Card(entry["name"][lang], summary, tuple(badges))


def _posts_of(posts: Sequence[feeds.PostView]) -> dict[str, list[dict[str, Any]]]:
    """{slug: its 5 most recent posts, as its page shows them}."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for post in posts:
        if len(found[post.slug]) < 5:
            found[post.slug].append(
                {"id": post.id, "title": post.title, "link": post.link, "time": post.time.date().isoformat()}
            )
    return dict(found)


def _build_from(
    entries: Sequence[dict[str, Any]],
    selection: history.Selection,
    settings: SiteSettings,
    previous: Mapping[str, str],
    posts: Sequence[feeds.PostView],
    posts_of: Mapping[str, list[dict[str, Any]]],
    digests: Mapping[str, str],
    editions: Sequence[Mapping[str, Any]],
    index: search_index.Index,
) -> BuildReport:
    output = settings.output
    output.mkdir(parents=True, exist_ok=True)
    report = BuildReport(dirty=selection.dirty)
    manifest = _carried(previous, selection)
    report.unchanged.update(_category(path) for path in manifest)

    def put(path: str, content: bytes, category: str) -> None:
        _write(output, path, content, category, report)
        manifest[path] = ""

    for path, content in feeds.build(selection.feeds, selection.own, settings.feeds, report.skipped, posts):
        put(path, content, _category(path))
    for lang in LANGUAGES:
        put(f"{lang}/organizations.opml", feeds.opml(org_feeds(entries), lang, report.skipped), "opml")
        for e in entries:
            if selection.dirty is not None and e["slug"] not in selection.dirty:
                continue
            entry_feeds = feeds.EntryFeeds(e["slug"], e["name"], e["website"], tuple(e["feeds"]))
            if not untrusted.forbidden(entry_feeds):
                path = f"{lang}/feeds/{feeds.entry_feed(e['slug'])}.opml"
                put(path, feeds.entry_opml(entry_feeds, lang, settings.feeds), "feeds")
    for path, content in index.files.items():
        _write(output, path, content, "search", report)
    manifest |= index.paths  # with each file's SHA-1, which `search_index.intact` checks
    report.unchanged["search"] += len(index.paths.keys() - index.files.keys())
    _sweep(output / search_index.INDEX_DIR, index.paths.keys(), report)
    for name in ("style.css", "search.js"):
        put(name, (STATIC / name).read_bytes(), _category(name))

    feed_names = {
        lang: {spec.path: spec.title(lang) for spec in selection.specs}
        | {feeds.POSTS_PATH: gettext_for(lang, "From the organizations")}
        for lang in LANGUAGES
    }
    digest = templates_digest()
    site_pages = pages(entries, selection, feed_names, posts_of, digests, settings.page_size)
    for page in [*site_pages, *_archive_pages(editions)]:
        key = _key(page, digest)
        manifest[page.path] = key
        if previous.get(page.path) == key and (output / page.path).exists():
            report.unchanged[_category(page.path)] += 1
            continue
        html = environment(page.lang).get_template(page.template).render(**page.render_context(), **_links(page))
        _write(output, page.path, html.encode("utf-8"), _category(page.path), report)

    for stale in sorted(set(previous) - set(manifest)):
        target = output / stale
        if target.exists():
            target.unlink(missing_ok=True)  # another build may remove it first
            report.removed.append(stale)
    document = {"pages": manifest, "state": selection.state, "search": search_index.saved(index)}
    # One line: with an indent the json module encodes in Python, not C, 1 s for 100,000 files.
    _replace(output / MANIFEST, json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8"))
    return report


def _carried(previous: Mapping[str, str], selection: history.Selection) -> dict[str, str]:
    """The files of the last build that this one keeps without writing: with dirty entries, the other
    entries' pages and feeds, and the feeds no dirty entry is or was in; nothing in a full build."""
    if selection.dirty is None:
        return {}
    kept_feeds = {spec.path for spec in selection.specs} - {spec.path for spec, _ in selection.feeds}
    carried = {}
    for path, key in previous.items():
        lang, _, rest = path.partition("/")
        section, _, name = rest.partition("/")
        if lang not in LANGUAGES:
            continue
        stem = name.rsplit(".", 1)[0]
        if section == "entries":
            keep = stem not in selection.dirty
        elif section == "feeds" and stem.startswith("entry/"):
            keep = stem.removeprefix("entry/") not in selection.dirty
        else:
            keep = section == "feeds" and stem in kept_feeds
        if keep:
            carried[path] = key
    return carried


def _links(page: Page) -> dict[str, str]:
    """Relative links, so the site works under any base path and from the file system."""
    other = "en" if page.lang == "ru" else "ru"
    other_page = page.path.replace(f"{page.lang}/", f"{other}/", 1) if page.path.startswith(page.lang) else page.path
    return {"root": "../" * page.path.count("/"), "other_page": other_page}


def _key(page: Page, digest: str) -> str:
    inputs = page.context if page.key is None else page.key
    return _digest([page.template, page.lang, inputs, digest])


def _category(path: str) -> str:
    if "/feeds/" in path:
        return "feeds"
    if path.endswith(".opml"):
        return "opml"
    parts = path.split("/")
    return parts[1] if len(parts) > 2 else "pages"


def _read_manifest(output: Path) -> tuple[dict[str, str], dict[str, Any] | None, Any]:
    """({path: key} of the files the last build left, its history state or None, its search index's)."""
    try:
        document = json.loads((output / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}, None, None
    if not isinstance(document, dict):
        return {}, None, None
    if "pages" not in document:  # written before the state was kept
        document = {"pages": document}
    pages = document["pages"]
    if not isinstance(pages, dict):
        return {}, None, None
    # Only paths this build could have written: a manifest edited by hand must not remove anything
    # outside the output folder (`../x`, `/etc/x`).
    kept = {path: key for path, key in pages.items() if isinstance(key, str) and _inside(path)}
    state = document.get("state")
    return kept, state if isinstance(state, dict) else None, document.get("search")


def _inside(path: object) -> bool:
    """Whether `path` is a plain relative path under the output folder, as `Page.path` is."""
    return (
        isinstance(path, str)
        and path != ""
        and not path.startswith("/")
        and "\\" not in path
        and posixpath.normpath(path) == path
        and not path.startswith("..")
    )


def _write(output: Path, path: str, content: bytes, category: str, report: BuildReport) -> None:
    target = output / path
    try:
        if target.read_bytes() == content:
            report.unchanged[category] += 1
            return
    except OSError:
        pass
    _replace(target, content)
    report.written[category] += 1
    report.changed_paths.append(path)


def _replace(target: Path, content: bytes) -> None:
    """Write `target` atomically: a reader (a web server, another build) sees the old bytes or the new,
    never half. The temporary file is this build's own, so two builds into one folder never take each
    other's (`nansen publish` run twice at once, or beside the scheduler)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    temporary.write_bytes(content)  # with the umask's permissions, as a web server needs to read it
    temporary.replace(target)
