"""The weekly email digest: rendered once per segment, then personalized per subscriber.

A segment (one language, one choice of countries, kinds and topics) shares one digest. It is rendered
once — Jinja2 writes MJML, MJML (mjml-python, a binding of the Rust port MRML) writes the HTML — and
the plain-text part from its own template. Only the unsubscribe and preferences links differ between
subscribers, so the rendered parts carry two placeholder URLs that `personalize` replaces by string
replacement: no template runs per subscriber.

Nothing in a digest tracks its reader: no images at all, no web fonts (MRML links Google Fonts for
some font names unless told otherwise), and links go only to entry pages on our own site and to the
subscriber's unsubscribe and preferences pages.

Templates live in `templates/email/`. Their names end in `.html` because that is what Babel extracts
interface strings from (babel.cfg and the catalog test); `digest.mjml.html` is MJML and
`digest.txt.html` plain text (rendered without HTML escaping). The other mail a reader gets, the
confirmation of a subscription, is rendered here from the same templates and catalog
(`render_confirmation`), so no sentence a reader sees is written in Python.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import mjml
from babel.dates import format_date
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup, escape

from publishing.feeds import KIND_TITLES
from publishing.i18n import LANGUAGES, partial_date, translations
from publishing.updates import Update

UNSUBSCRIBE_PLACEHOLDER = "https://nansen.invalid/__unsubscribe__"  # survives MJML and escaping
PREFERENCES_PLACEHOLDER = "https://nansen.invalid/__preferences__"
LINK_PLACEHOLDERS = (UNSUBSCRIBE_PLACEHOLDER, PREFERENCES_PLACEHOLDER)  # the order of `link_values`

TEMPLATES = Path(__file__).parent / "templates" / "email"
SECTION_ORDER = ("program", "ngo", "media")  # host-country programs are the most urgent news
DATE_PATTERN = "d MMMM y"  # "23 November 2026", "23 ноября 2026"
TEXT_WIDTH = 72
_PLACEHOLDERS = re.compile(f"({re.escape(UNSUBSCRIBE_PLACEHOLDER)}|{re.escape(PREFERENCES_PLACEHOLDER)})")


@dataclass(frozen=True)
class DigestContent:
    subject: str
    html: str  # full HTML document from MJML, with the placeholders in it
    text: str  # plain text written for reading, with the placeholders

    @functools.cached_property
    def _pieces(self) -> tuple[list[str], list[str]]:
        """html and text split around the placeholders (which stay as pieces), once per rendering."""
        return _PLACEHOLDERS.split(self.html), _PLACEHOLDERS.split(self.text)


@dataclass(frozen=True)
class _Item:
    """One update as the templates show it, already in the reader's language."""

    title: str
    text: str
    url: str
    program_state: str | None  # "paused" or "closed" when the program must not read as open
    state_since: str | None
    closed: bool  # an organization that has closed
    warnings: tuple[str, ...] = ()  # the entry's warnings, worded with their dates, shown before the text


@dataclass(frozen=True)
class _Section:
    title: str  # an msgid (feeds.KIND_TITLES), translated in the template
    items: tuple[_Item, ...]


def render_digest(updates: Sequence[Update], lang: str, *, site_url: str, number: int, date: dt.date) -> DigestContent:
    """The digest of `updates` for one segment in `lang`, with placeholder links (see `personalize`)."""

    if lang not in LANGUAGES:
        raise ValueError(f"no digest in {lang!r} (expected one of {', '.join(LANGUAGES)})")
    base = site_url.rstrip("/")
    date_text = format_date(date, DATE_PATTERN, locale=lang)
    context: dict[str, Any] = {
        "number": number,
        "date": date_text,
        "count": len(updates),
        "sections": _sections(updates, lang, base),
        "home_url": f"{base}/{lang}/index.html",
        "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,
        "preferences_url": PREFERENCES_PLACEHOLDER,
    }
    subject = digest_subject(lang, number=number, count=len(updates), date=date_text)
    source = _environment(lang, markup=True).get_template("digest.mjml.html").render(context, subject=subject)
    document = mjml.mjml2html(source, fonts={}, disable_comments=True)
    text = _environment(lang, markup=False).get_template("digest.txt.html").render(context)
    return DigestContent(subject=subject, html=document, text=text)


def personalize(content: DigestContent, *, unsubscribe_url: str, preferences_url: str) -> DigestContent:
    """`content` with this subscriber's links in place of the placeholders (escaped in the HTML).

    No rendering: the pieces between the placeholders are found once per `content` and joined with
    the subscriber's links, a few microseconds per subscriber.
    """
    text_links, html_links = link_values(unsubscribe_url=unsubscribe_url, preferences_url=preferences_url)
    html_pieces, text_pieces = content._pieces
    in_html = dict(zip(LINK_PLACEHOLDERS, html_links, strict=True))
    in_text = dict(zip(LINK_PLACEHOLDERS, text_links, strict=True))
    return DigestContent(
        subject=content.subject,
        html="".join([in_html.get(piece, piece) for piece in html_pieces]),
        text="".join([in_text.get(piece, piece) for piece in text_pieces]),
    )


def link_values(*, unsubscribe_url: str, preferences_url: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """The subscriber's links as they stand in the text and in the HTML (escaped), in the order of
    `LINK_PLACEHOLDERS`; ValueError for a URL that is not http(s)."""
    for url in (unsubscribe_url, preferences_url):
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"not an http(s) URL: {url!r}")
    return (unsubscribe_url, preferences_url), (html.escape(unsubscribe_url), html.escape(preferences_url))


def digest_subject(lang: str, *, number: int, count: int, date: str) -> str:
    """The digest's subject line, e.g. "Нансен №12: 4 обновления — 23 ноября 2026"."""
    ngettext = translations(lang).ngettext
    return ngettext(
        "Nansen №{number}: {count} update — {date}", "Nansen №{number}: {count} updates — {date}", count
    ).format(number=number, count=count, date=date)


@dataclass(frozen=True)
class MailText:
    """A mail's subject and its two parts, in its reader's language."""

    subject: str
    html: str  # a whole HTML document
    text: str


def render_confirmation(lang: str, *, confirm_url: str) -> MailText:
    """The double opt-in mail in `lang`: a few sentences and the confirm link, nothing else.

    Every sentence comes from the catalog through `confirmation.html` and `confirmation.txt.html`
    (the subject through `gettext`), so a Russian reader gets no English word.
    """
    if lang not in LANGUAGES:
        raise ValueError(f"no confirmation mail in {lang!r} (expected one of {', '.join(LANGUAGES)})")
    if not confirm_url.startswith(("https://", "http://")):
        raise ValueError(f"not an http(s) URL: {confirm_url!r}")
    gettext = translations(lang).gettext
    context = {"subject": gettext("Confirm your subscription to Nansen"), "confirm_url": confirm_url}
    return MailText(
        subject=context["subject"],
        html=_environment(lang, markup=True).get_template("confirmation.html").render(context),
        text=_environment(lang, markup=False).get_template("confirmation.txt.html").render(context),
    )


def _sections(updates: Sequence[Update], lang: str, base: str) -> list[_Section]:
    """Non-empty sections in SECTION_ORDER, each keeping the order the updates came in."""

    by_kind: dict[str, list[_Item]] = {kind: [] for kind in SECTION_ORDER}
    for update in updates:
        entry = update.entry
        state = entry.program_state if entry.kind == "program" and entry.program_state in ("paused", "closed") else None
        since = entry.program_state_since
        warnings = (
            ()
            if update.kind == "warning"
            else tuple(f"{w[lang]} ({partial_date(w['date'], lang)})" for w in entry.warnings)
        )
        by_kind.setdefault(entry.kind, []).append(
            _Item(
                title=update.title[lang],
                text=update.text[lang],
                url=f"{base}/{lang}/entries/{quote(entry.slug, safe='')}.html",
                program_state=state,
                state_since=partial_date(since, lang, after_since=True) if state and since else None,
                closed=entry.kind != "program" and entry.status == "closed",
                warnings=warnings,
            )
        )
    return [_Section(KIND_TITLES.get(kind, kind), tuple(items)) for kind, items in by_kind.items() if items]


@functools.cache
def _environment(lang: str, *, markup: bool) -> Any:

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=markup,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.policies["ext.i18n.trimmed"] = True  # as Babel extracts them (babel.cfg: trimmed = true)
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.globals["lang"] = lang
    env.filters["lines"] = _lines
    env.filters["wrap"] = _wrap
    env.filters["underline"] = _underline
    return env


def _lines(text: str | None) -> Any:
    """HTML paragraphs (split at blank lines) whose single newlines become line breaks."""

    if not text:
        return Markup("")
    paragraphs = [part for part in text.replace("\r\n", "\n").split("\n\n") if part.strip()]
    style = "margin:0 0 8px;"
    return Markup("").join(
        Markup('<p style="{}">{}</p>').format(style, Markup("<br>").join(escape(line) for line in part.split("\n")))
        for part in paragraphs
    )


def _wrap(text: str | None, indent: str = "", first: str | None = None, width: int = TEXT_WIDTH) -> str:
    """Text filled to `width`, line by line (its own line breaks stay), every line after the very first
    indented by `indent` (the first by `first`, if given); URLs and long words are never broken."""
    if not text:
        return ""
    lines = []
    for number, line in enumerate(text.replace("\r\n", "\n").split("\n")):
        start = first if number == 0 and first is not None else indent
        lines.append(
            textwrap.fill(
                line.strip(),
                width=width,
                initial_indent=start,
                subsequent_indent=indent,
                break_long_words=False,
                break_on_hyphens=False,
            )
            if line.strip()
            else ""
        )
    return "\n".join(lines)


def _underline(text: str, char: str) -> str:
    return f"{text}\n{char * len(text)}"
