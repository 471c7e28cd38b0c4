"""The project's own checks of the feeds it publishes: Atom 1.0 (RFC 4287), RSS 2.0 and JSON Feed 1.1.

No real feed validator installs here: the feedvalidator.org code was packaged for Debian only up to
buster (Python 2) and is not on PyPI, and no PyPI or Debian package ships the RFC 4287 RELAX NG schema
for `lxml.etree.RelaxNG` or Debian's `jing`. So these functions check the specs' rules themselves.

Each `*_problems` function returns human-readable problems, an empty list meaning the feed is valid.
Rules marked "(project rule)" go beyond the spec: a self link / feed_url is required, entry ids and
guids must be unique, links absolute, and HTML content must carry no active markup (script, iframe,
on* handlers, javascript: URLs), as feedvalidator.org warns.

`assert_valid_feed(path)` picks the checker by file suffix, also parses the feed with feedparser
(which must not set `bozo`), and raises an AssertionError listing every problem.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections import Counter
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import feedparser
from lxml import etree

ATOM_NS = "http://www.w3.org/2005/Atom"
XHTML_NS = "http://www.w3.org/1999/xhtml"
JSONFEED_VERSION = "https://jsonfeed.org/version/1.1"
_CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
_A = f"{{{ATOM_NS}}}"

# --------------------------------------------------------------------------------------------- values

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:Z|([+-])(\d{2}):(\d{2}))",
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_RFC822 = re.compile(
    rf"(?:({'|'.join(_DAYS)}), )?(\d{{1,2}}) ({'|'.join(_MONTHS)}) (\d+) (\d{{2}}):(\d{{2}})(?::(\d{{2}}))? "
    r"([+-]\d{4}|UT|GMT|Z|[ECMP][SD]T)",
)
# An IRI: a scheme, then no whitespace nor the characters RFC 3987 excludes.
_ABSOLUTE_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+")
_IRI_REFERENCE = re.compile(r"[^\s<>\"{}|\\^`]*")
_MIME_TYPE = re.compile(r"[\w!#$&^.+-]+/[\w!#$&^.+-]+(?:\s*;.*)?")
_EMAIL = re.compile(r"[^@\s()<>]+@[^@\s()<>]+\.[^@\s()<>]+")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")

_UNSAFE_TAGS = frozenset(
    {"applet", "base", "embed", "frame", "frameset", "iframe", "link", "meta", "object", "script", "style"}
)
_URL_ATTRIBUTES = frozenset({"action", "background", "formaction", "href", "poster", "src", "xlink:href"})


def rfc3339_problem(value: str | None, *, uppercase: bool = True) -> str | None:
    """Why `value` is not an RFC 3339 date-time, or None when it is one (Atom requires uppercase T and Z)."""
    if value is None or not value.strip():
        return "is empty, expected an RFC 3339 date-time such as 2025-01-31T12:00:00Z"
    text = value if uppercase else value.upper()
    match = _RFC3339.fullmatch(text)
    if match is None:
        return f"{value!r} is not an RFC 3339 date-time such as 2025-01-31T12:00:00Z"
    year, month, day, hour, minute, second, _sign, off_hour, off_minute = match.groups()
    try:
        dt.datetime(int(year), int(month), int(day), int(hour), int(minute), min(int(second), 59))
    except ValueError as error:
        return f"{value!r} is not a real date-time ({error})"
    if int(second) > 60 or (off_hour is not None and (int(off_hour) > 23 or int(off_minute) > 59)):
        return f"{value!r} is not a real date-time"
    return None


def rfc822_problem(value: str | None) -> str | None:
    """Why `value` is not an RFC 822 date-time with a 4-digit year, as RSS 2.0 uses, or None when it is one."""
    if value is None or not value.strip():
        return "is empty, expected an RFC 822 date such as 'Fri, 31 Jan 2025 12:00:00 +0000'"
    match = _RFC822.fullmatch(value.strip())
    if match is None:
        return f"{value!r} is not an RFC 822 date such as 'Fri, 31 Jan 2025 12:00:00 +0000'"
    weekday, _day, _month, year, hour, minute, second, zone = match.groups()
    if len(year) != 4:
        return f"{value!r} must have a 4-digit year"
    if int(hour) > 23 or int(minute) > 59 or int(second or 0) > 59:
        return f"{value!r} has an impossible time of day"
    if zone[0] in "+-" and int(zone[3:]) > 59:
        return f"{value!r} has an impossible time zone offset"
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError) as error:
        return f"{value!r} is not a real date ({error})"
    if weekday is not None and _DAYS[parsed.weekday()] != weekday:
        return f"{value!r} names the wrong day of the week (it was a {_DAYS[parsed.weekday()]})"
    return None


def _is_absolute_iri(value: str | None) -> bool:
    return value is not None and _ABSOLUTE_IRI.fullmatch(value) is not None


def _is_http_url(value: Any) -> bool:
    if not isinstance(value, str) or not _is_absolute_iri(value):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _unsafe_url(value: str) -> bool:
    squeezed = re.sub(r"[\x00-\x20]", "", value).lower()
    return squeezed.startswith(("javascript:", "vbscript:"))


class _ActiveMarkupFinder(HTMLParser):
    """Collects active markup in an HTML fragment: dangerous elements, on* handlers, script URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.extend(_active_markup(tag, attrs))


def _active_markup(tag: str, attrs: list[tuple[str, str | None]]) -> list[str]:
    found = [f"<{tag}>"] if tag.lower() in _UNSAFE_TAGS else []
    for name, value in attrs:
        if name.lower().startswith("on"):
            found.append(f"{name}= handler on <{tag}>")
        elif name.lower() in _URL_ATTRIBUTES and value and _unsafe_url(value):
            found.append(f"{value.strip()[:30]!r} URL on <{tag}>")
    return found


def html_active_markup(fragment: str) -> list[str]:
    """The active markup (script and the like) that an escaped-HTML fragment would put in a reader's page."""
    finder = _ActiveMarkupFinder()
    finder.feed(fragment)
    finder.close()
    return finder.found


def _xhtml_active_markup(div: Any) -> list[str]:
    found: list[str] = []
    for element in div.iter(etree.Element):
        attrs = [(etree.QName(name).localname, value) for name, value in element.attrib.items()]
        found.extend(_active_markup(etree.QName(element).localname, attrs))
    return found


# ------------------------------------------------------------------------------------------------ XML


def _parse_xml(xml: bytes) -> tuple[Any, list[str]]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        return etree.fromstring(xml, parser), []
    except etree.XMLSyntaxError as error:
        return None, [f"not well-formed XML: {error}"]


def _at(element: Any) -> str:
    return f"line {element.sourceline}" if element.sourceline else "?"


def _text(element: Any) -> str:
    return (element.text or "").strip()


def _has_text(element: Any) -> bool:
    """Whether an element holds non-whitespace character data directly (between its children too)."""
    return bool(_text(element)) or any((child.tail or "").strip() for child in element)


def _prefixed(tag: str) -> str:
    if tag.startswith(_A):
        return "atom:" + tag[len(_A) :]
    return tag


# ----------------------------------------------------------------------------------------------- Atom

_ATOM_METADATA = {"author", "category", "contributor", "id", "link", "rights", "title", "updated"}
_ATOM_CHILDREN = {
    "feed": _ATOM_METADATA | {"generator", "icon", "logo", "subtitle", "entry"},
    "source": _ATOM_METADATA | {"generator", "icon", "logo", "subtitle"},
    "entry": _ATOM_METADATA | {"content", "published", "source", "summary"},
}
_ATOM_EXACTLY_ONE = {"feed": ("id", "title", "updated"), "source": (), "entry": ("id", "title", "updated")}
_ATOM_AT_MOST_ONE = {
    "feed": ("generator", "icon", "logo", "rights", "subtitle"),
    "source": ("generator", "icon", "id", "logo", "rights", "subtitle", "title", "updated"),
    "entry": ("content", "published", "rights", "source", "summary"),
}
_ATOM_TEXT_CONSTRUCTS = ("title", "subtitle", "rights", "summary")


def atom_problems(xml: bytes) -> list[str]:
    """Problems of an Atom 1.0 feed document against RFC 4287 (and the project's rules)."""
    root, problems = _parse_xml(xml)
    if root is None:
        return problems
    if root.tag != f"{_A}feed":
        return [f"root element is <{root.tag}>, expected <feed> in the Atom namespace {ATOM_NS}"]
    _check_atom_element(root, "feed", "feed", problems)

    selfs = [link for link in root.findall(f"{_A}link") if link.get("rel") == "self"]
    if not selfs:
        problems.append('feed: no atom:link rel="self" giving the feed\'s own URL (project rule)')
    for link in selfs:
        if not _is_http_url(link.get("href")):
            problems.append(f'feed: atom:link rel="self" href {link.get("href")!r} is not an absolute http(s) URL')
        if link.get("type") not in (None, "application/atom+xml"):
            problems.append(f'feed: atom:link rel="self" type {link.get("type")!r} should be "application/atom+xml"')

    feed_has_author = root.find(f"{_A}author") is not None
    ids: dict[str, list[int]] = {}
    for number, entry in enumerate(root.findall(f"{_A}entry"), start=1):
        label = f"entry {number} ({_at(entry)})"
        _check_atom_element(entry, "entry", label, problems)
        _check_atom_entry(entry, label, feed_has_author, problems)
        entry_id = entry.find(f"{_A}id")
        if entry_id is not None and _text(entry_id):
            ids.setdefault(_text(entry_id), []).append(number)
    for entry_id, numbers in ids.items():
        if len(numbers) > 1:
            listed = ", ".join(map(str, numbers))
            problems.append(f"entries {listed} share the atom:id {entry_id!r}; ids must be unique (project rule)")
    return problems


def _check_atom_element(element: Any, kind: str, label: str, problems: list[str]) -> None:
    """The rules a feed, entry and source element share: children, cardinality and their constructs."""
    counts = Counter(child.tag for child in element if isinstance(child.tag, str))
    for tag in counts:
        if tag.startswith(_A) and tag[len(_A) :] not in _ATOM_CHILDREN[kind]:
            problems.append(f"{label}: atom:{tag[len(_A) :]} is not an element of atom:{kind}")
    for name in _ATOM_EXACTLY_ONE[kind]:
        if counts[_A + name] != 1:
            how = "is missing" if counts[_A + name] == 0 else f"appears {counts[_A + name]} times"
            problems.append(f"{label}: atom:{name} {how}; atom:{kind} must have exactly one")
    for name in _ATOM_AT_MOST_ONE[kind]:
        if counts[_A + name] > 1:
            problems.append(f"{label}: atom:{name} appears {counts[_A + name]} times; at most one is allowed")

    for child in element:
        if not isinstance(child.tag, str) or not child.tag.startswith(_A):
            continue
        name = child.tag[len(_A) :]
        where = f"{label}: atom:{name} ({_at(child)})"
        if name == "id":
            if not _is_absolute_iri(_text(child)) or _text(child) != (child.text or ""):
                problems.append(f"{where}: {child.text or ''!r} is not an absolute IRI (without surrounding spaces)")
        elif name in ("updated", "published"):
            if (why := rfc3339_problem(child.text)) is not None:
                problems.append(f"{where}: {why}")
        elif name in _ATOM_TEXT_CONSTRUCTS:
            _check_atom_text(child, where, problems)
        elif name in ("author", "contributor"):
            _check_atom_person(child, where, problems)
        elif name == "link":
            _check_atom_link(child, where, problems)
        elif name == "category":
            if not (child.get("term") or "").strip():
                problems.append(f"{where}: has no term attribute")
            if child.get("scheme") is not None and not _is_absolute_iri(child.get("scheme")):
                problems.append(f"{where}: scheme {child.get('scheme')!r} is not an IRI")
        elif name == "generator":
            if len(child):
                problems.append(f"{where}: must hold text only")
            if child.get("uri") is not None and _IRI_REFERENCE.fullmatch(child.get("uri")) is None:
                problems.append(f"{where}: uri {child.get('uri')!r} is not an IRI reference")
        elif name in ("icon", "logo"):
            if not _text(child) or _IRI_REFERENCE.fullmatch(_text(child)) is None:
                problems.append(f"{where}: {child.text or ''!r} is not an IRI reference")
        elif name == "source":
            _check_atom_element(child, "source", where, problems)
        elif name == "content":
            _check_atom_content(child, where, problems)

    alternates = Counter(
        (link.get("type"), link.get("hreflang"))
        for link in element.findall(f"{_A}link")
        if link.get("rel", "alternate") == "alternate"
    )
    for (type_, hreflang), count in alternates.items():
        if count > 1:
            problems.append(
                f'{label}: {count} atom:link rel="alternate" with the same type={type_!r} and hreflang={hreflang!r}'
            )


def _check_atom_entry(entry: Any, label: str, feed_has_author: bool, problems: list[str]) -> None:
    content = entry.find(f"{_A}content")
    links = entry.findall(f"{_A}link")
    if content is None and not any(link.get("rel", "alternate") == "alternate" for link in links):
        problems.append(f'{label}: has neither atom:content nor an atom:link rel="alternate"')
    if content is not None and entry.find(f"{_A}summary") is None:
        if content.get("src") is not None:
            problems.append(f"{label}: atom:content has a src attribute, so atom:summary is required")
        elif _atom_content_kind(content.get("type")) == "base64":
            problems.append(f"{label}: atom:content is Base64-encoded, so atom:summary is required")
    has_author = entry.find(f"{_A}author") is not None or entry.find(f"{_A}source/{_A}author") is not None
    if not (has_author or feed_has_author):
        problems.append(f"{label}: has no atom:author, and neither does the feed")


def _check_atom_text(element: Any, where: str, problems: list[str]) -> None:
    type_ = element.get("type", "text")
    if type_ not in ("text", "html", "xhtml"):
        problems.append(f'{where}: type {type_!r} must be "text", "html" or "xhtml"')
        return
    _check_atom_typed_text(element, type_, where, problems)


def _check_atom_typed_text(element: Any, type_: str, where: str, problems: list[str]) -> None:
    """Text, html and xhtml content: the shared rules of text constructs and atom:content."""
    if type_ in ("text", "html"):
        if len(element):
            first = next(iter(element))
            problems.append(f"{where}: type {type_!r} must hold escaped text, not the element <{first.tag}>")
        if type_ == "html" and (found := html_active_markup(element.text or "")):
            problems.append(f"{where}: HTML holds active markup: {', '.join(found)} (project rule)")
        return
    children = [child for child in element if isinstance(child.tag, str)]
    if len(children) != 1 or children[0].tag != f"{{{XHTML_NS}}}div" or _has_text(element):
        problems.append(f"{where}: type 'xhtml' must hold exactly one xhtml:div (namespace {XHTML_NS}) and no text")
    elif found := _xhtml_active_markup(children[0]):
        problems.append(f"{where}: XHTML holds active markup: {', '.join(found)} (project rule)")


def _atom_content_kind(type_: str | None) -> str:
    if type_ in (None, "text", "html", "xhtml"):
        return type_ or "text"
    media = (type_ or "").split(";")[0].strip().lower()
    if media.endswith(("+xml", "/xml", "/xml-external-parsed-entity")):
        return "xml"
    if media.startswith("text/"):
        return "text/*"
    return "base64"


def _check_atom_content(element: Any, where: str, problems: list[str]) -> None:
    type_ = element.get("type")
    src = element.get("src")
    if type_ not in (None, "text", "html", "xhtml") and _MIME_TYPE.fullmatch(type_) is None:
        problems.append(f'{where}: type {type_!r} is neither "text", "html", "xhtml" nor a MIME media type')
        return
    if src is not None:
        if _IRI_REFERENCE.fullmatch(src) is None or not src:
            problems.append(f"{where}: src {src!r} is not an IRI reference")
        if type_ in ("text", "html", "xhtml"):
            problems.append(f"{where}: with src, type must be a MIME media type, not {type_!r}")
        if len(element) or _has_text(element):
            problems.append(f"{where}: with src, the element must be empty")
        return
    kind = _atom_content_kind(type_)
    if kind in ("text", "html", "xhtml"):
        _check_atom_typed_text(element, kind, where, problems)
    elif kind == "xml":
        if len([child for child in element if isinstance(child.tag, str)]) > 1:
            problems.append(f"{where}: XML content {type_!r} may hold at most one element")
    elif kind == "text/*":
        if len(element):
            problems.append(f"{where}: text content {type_!r} must not hold child elements")
    else:
        try:
            base64.b64decode("".join((element.text or "").split()), validate=True)
        except (binascii.Error, ValueError):
            problems.append(f"{where}: content of type {type_!r} must be Base64-encoded")


def _check_atom_person(element: Any, where: str, problems: list[str]) -> None:
    counts = Counter(child.tag for child in element if isinstance(child.tag, str))
    for tag in counts:
        if tag.startswith(_A) and tag not in (f"{_A}name", f"{_A}uri", f"{_A}email"):
            problems.append(f"{where}: {_prefixed(tag)} is not an element of a person construct")
    if counts[f"{_A}name"] != 1:
        problems.append(f"{where}: must have exactly one atom:name (has {counts[f'{_A}name']})")
    elif not _text(element.find(f"{_A}name")):
        problems.append(f"{where}: atom:name is empty")
    for name in ("uri", "email"):
        if counts[_A + name] > 1:
            problems.append(f"{where}: atom:{name} appears {counts[_A + name]} times; at most one is allowed")
    uri = element.find(f"{_A}uri")
    if uri is not None and (not _text(uri) or _IRI_REFERENCE.fullmatch(_text(uri)) is None):
        problems.append(f"{where}: atom:uri {uri.text or ''!r} is not an IRI")
    email = element.find(f"{_A}email")
    if email is not None and _EMAIL.fullmatch(_text(email)) is None:
        problems.append(f"{where}: atom:email {email.text or ''!r} is not an e-mail address")


def _check_atom_link(element: Any, where: str, problems: list[str]) -> None:
    href = element.get("href")
    if href is None or not href.strip():
        problems.append(f"{where}: has no href")
    elif not _is_absolute_iri(href):
        problems.append(f"{where}: href {href!r} is not an absolute IRI (project rule: no relative links)")
    rel = element.get("rel")
    if rel is not None and not (_is_absolute_iri(rel) or re.fullmatch(r"[A-Za-z0-9._~-]+", rel)):
        problems.append(f"{where}: rel {rel!r} is neither a registered name nor an IRI")
    type_ = element.get("type")
    if type_ is not None and _MIME_TYPE.fullmatch(type_) is None:
        problems.append(f"{where}: type {type_!r} is not a MIME media type")
    length = element.get("length")
    if length is not None and not length.isdigit():
        problems.append(f"{where}: length {length!r} is not a non-negative integer")
    hreflang = element.get("hreflang")
    if hreflang is not None and _LANGUAGE.fullmatch(hreflang) is None:
        problems.append(f"{where}: hreflang {hreflang!r} is not a language tag")


# ------------------------------------------------------------------------------------------------ RSS

_RSS_CHANNEL_CHILDREN = {
    "title", "link", "description", "language", "copyright", "managingEditor", "webMaster", "pubDate",
    "lastBuildDate", "category", "generator", "docs", "cloud", "ttl", "image", "rating", "textInput",
    "skipHours", "skipDays", "item",
}  # fmt: skip
_RSS_CHANNEL_REPEATABLE = {"category", "item"}
_RSS_ITEM_CHILDREN = {
    "title", "link", "description", "author", "category", "comments", "enclosure", "guid", "pubDate", "source",
}  # fmt: skip
_RSS_ITEM_REPEATABLE = {"category"}
_RSS_DAYS = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}


def rss_problems(xml: bytes) -> list[str]:
    """Problems of an RSS 2.0 document against the RSS 2.0 specification (and the project's rules)."""
    root, problems = _parse_xml(xml)
    if root is None:
        return problems
    if root.tag != "rss":
        return [f"root element is <{root.tag}>, expected <rss> (in no namespace)"]
    if root.get("version") != "2.0":
        problems.append(f'rss: version is {root.get("version")!r}, expected "2.0"')
    channels = root.findall("channel")
    if len(channels) != 1:
        problems.append(f"rss: must hold exactly one <channel> (has {len(channels)})")
    for child in root:
        if isinstance(child.tag, str) and child.tag != "channel":
            problems.append(f"rss: <{child.tag}> ({_at(child)}) is not allowed; everything goes in <channel>")
    if not channels:
        return problems
    channel = channels[0]

    _check_rss_children(channel, "channel", _RSS_CHANNEL_CHILDREN, _RSS_CHANNEL_REPEATABLE, problems)
    for name in ("title", "link", "description"):
        element = channel.find(name)
        if element is None:
            problems.append(f"channel: required <{name}> is missing")
        elif name != "description" and not _text(element):
            problems.append(f"channel: <{name}> is empty")
    _check_rss_common(channel, "channel", problems)
    for name in ("pubDate", "lastBuildDate"):
        for element in channel.findall(name):
            if (why := rfc822_problem(element.text)) is not None:
                problems.append(f"channel: <{name}> ({_at(element)}) {why}")
    for name in ("managingEditor", "webMaster"):
        for element in channel.findall(name):
            if _EMAIL.search(_text(element)) is None:
                problems.append(f"channel: <{name}> {element.text or ''!r} holds no e-mail address")
    for element in channel.findall("language"):
        if _LANGUAGE.fullmatch(_text(element)) is None:
            problems.append(f"channel: <language> {element.text or ''!r} is not a language code")
    for element in channel.findall("ttl"):
        if not _text(element).isdigit():
            problems.append(f"channel: <ttl> {element.text or ''!r} is not a whole number of minutes")
    _check_rss_extras(channel, problems)

    selfs = [link for link in channel.findall(f"{_A}link") if link.get("rel") == "self"]
    if not selfs:
        problems.append('channel: no atom:link rel="self" giving the feed\'s own URL (project rule)')
    for link in channel.findall(f"{_A}link"):
        where = f"channel: atom:link ({_at(link)})"
        if not _is_http_url(link.get("href")):
            problems.append(f"{where}: href {link.get('href')!r} is not an absolute http(s) URL")
        if link.get("rel") == "self" and link.get("type") not in (None, "application/rss+xml"):
            problems.append(f'{where}: rel="self" type {link.get("type")!r} should be "application/rss+xml"')
    self_hrefs = {link.get("href") for link in selfs}
    if channel.findtext("link") in self_hrefs:
        # feedgen puts the href of the *last* fg.link() call in <link>: add rel="self" first, "alternate" last.
        problems.append(
            f"channel: <link> {channel.findtext('link')!r} is the feed's own URL; it must be the web site's page "
            "(project rule)"
        )

    guids: dict[str, list[int]] = {}
    for number, item in enumerate(channel.findall("item"), start=1):
        label = f"item {number} ({_at(item)})"
        _check_rss_item(item, label, problems)
        guid = item.find("guid")
        if guid is not None and _text(guid):
            guids.setdefault(_text(guid), []).append(number)
    for guid, numbers in guids.items():
        if len(numbers) > 1:
            listed = ", ".join(map(str, numbers))
            problems.append(f"items {listed} share the guid {guid!r}; guids must be unique (project rule)")
    return problems


def _check_rss_children(element: Any, label: str, allowed: set[str], repeatable: set[str], problems: list[str]) -> None:
    counts = Counter(child.tag for child in element if isinstance(child.tag, str))
    for tag, count in counts.items():
        if tag.startswith("{"):
            continue  # namespaced extensions (atom:link, content:encoded, dc:creator...) are allowed
        if tag not in allowed:
            problems.append(f"{label}: <{tag}> is not an RSS 2.0 element of <{label.split()[0]}>")
        elif count > 1 and tag not in repeatable:
            problems.append(f"{label}: <{tag}> appears {count} times; at most one is allowed")


def _check_rss_common(element: Any, label: str, problems: list[str]) -> None:
    """Rules of the elements that channel and item share: link, description, category."""
    for link in element.findall("link"):
        if _text(link) and not _is_http_url(_text(link)):
            problems.append(f"{label}: <link> {link.text!r} is not an absolute http(s) URL")
    for name in ("description", f"{{{_CONTENT_NS}}}encoded"):
        for html in element.findall(name):
            if found := html_active_markup(html.text or ""):
                shown = "content:encoded" if name.startswith("{") else name
                problems.append(f"{label}: <{shown}> HTML holds active markup: {', '.join(found)} (project rule)")
    for category in element.findall("category"):
        if not _text(category):
            problems.append(f"{label}: <category> ({_at(category)}) is empty")


def _check_rss_extras(channel: Any, problems: list[str]) -> None:
    """The channel's optional structured elements: image, textInput, cloud, skipHours, skipDays."""
    for image in channel.findall("image"):
        for name in ("url", "title", "link"):
            if not (image.findtext(name) or "").strip():
                problems.append(f"channel: <image> ({_at(image)}) lacks a required <{name}>")
        for name, limit in (("width", 144), ("height", 400)):
            size = image.find(name)
            if size is not None and not (_text(size).isdigit() and int(_text(size)) <= limit):
                problems.append(f"channel: <image> <{name}> {size.text!r} must be a whole number up to {limit}")
    for text_input in channel.findall("textInput"):
        for name in ("title", "description", "name", "link"):
            if text_input.find(name) is None:
                problems.append(f"channel: <textInput> ({_at(text_input)}) lacks a required <{name}>")
    for cloud in channel.findall("cloud"):
        for name in ("domain", "port", "path", "registerProcedure", "protocol"):
            if cloud.get(name) is None:
                problems.append(f"channel: <cloud> ({_at(cloud)}) lacks the {name} attribute")
    for hour in channel.findall("skipHours/hour"):
        if not (_text(hour).isdigit() and int(_text(hour)) <= 23):
            problems.append(f"channel: <skipHours> <hour> {hour.text!r} is not 0-23")
    for day in channel.findall("skipDays/day"):
        if _text(day) not in _RSS_DAYS:
            problems.append(f"channel: <skipDays> <day> {day.text!r} is not a day name such as Monday")


def _check_rss_item(item: Any, label: str, problems: list[str]) -> None:
    _check_rss_children(item, label, _RSS_ITEM_CHILDREN, _RSS_ITEM_REPEATABLE, problems)
    title, description = item.find("title"), item.find("description")
    if (title is None or not _text(title)) and (description is None or not _text(description)):
        problems.append(f"{label}: needs a non-empty <title> or <description>")
    _check_rss_common(item, label, problems)
    for element in item.findall("pubDate"):
        if (why := rfc822_problem(element.text)) is not None:
            problems.append(f"{label}: <pubDate> {why}")
    for element in item.findall("author"):
        if _EMAIL.search(_text(element)) is None:
            problems.append(f"{label}: <author> {element.text or ''!r} holds no e-mail address")
    for element in item.findall("comments"):
        if not _is_http_url(_text(element)):
            problems.append(f"{label}: <comments> {element.text or ''!r} is not an absolute http(s) URL")
    for enclosure in item.findall("enclosure"):
        if not _is_http_url(enclosure.get("url")):
            problems.append(f"{label}: <enclosure> url {enclosure.get('url')!r} is not an absolute http(s) URL")
        if not (enclosure.get("length") or "").isdigit():
            problems.append(f"{label}: <enclosure> length {enclosure.get('length')!r} is not a number of bytes")
        if _MIME_TYPE.fullmatch(enclosure.get("type") or "") is None:
            problems.append(f"{label}: <enclosure> type {enclosure.get('type')!r} is not a MIME type")
    for source in item.findall("source"):
        if not _is_http_url(source.get("url")):
            problems.append(f"{label}: <source> url {source.get('url')!r} is not an absolute http(s) URL")
    for guid in item.findall("guid"):
        permalink = guid.get("isPermaLink")
        if permalink not in (None, "true", "false"):
            problems.append(f'{label}: <guid> isPermaLink is {permalink!r}, expected "true" or "false"')
        elif not _text(guid):
            problems.append(f"{label}: <guid> is empty")
        elif permalink != "false" and not _is_http_url(_text(guid)):
            said = "isPermaLink is absent, so true" if permalink is None else 'isPermaLink="true"'
            problems.append(f"{label}: <guid> {guid.text!r} is not an absolute http(s) URL, but {said}")


# ------------------------------------------------------------------------------------------ JSON Feed

_JSONFEED_TOP = {
    "version", "title", "home_page_url", "feed_url", "description", "user_comment", "next_url", "icon",
    "favicon", "author", "authors", "language", "expired", "hubs", "items",
}  # fmt: skip
_JSONFEED_ITEM = {
    "id", "url", "external_url", "title", "content_html", "content_text", "summary", "image", "banner_image",
    "date_published", "date_modified", "author", "authors", "tags", "language", "attachments",
}  # fmt: skip
_JSONFEED_AUTHOR = {"name", "url", "avatar"}
_JSONFEED_ATTACHMENT = {"url", "mime_type", "title", "size_in_bytes", "duration_in_seconds"}


def jsonfeed_problems(data: bytes) -> list[str]:
    """Problems of a JSON Feed 1.1 document against https://jsonfeed.org/version/1.1 (and the project's rules)."""
    try:
        feed = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        return [f"not UTF-8: {error}"]
    except json.JSONDecodeError as error:
        return [f"not valid JSON: {error}"]
    if not isinstance(feed, dict):
        return [f"top level is a JSON {type(feed).__name__}, expected an object"]
    problems: list[str] = []
    _unknown_keys(feed, _JSONFEED_TOP, "feed", problems)
    if feed.get("version") != JSONFEED_VERSION:
        problems.append(f"feed: version is {feed.get('version')!r}, expected {JSONFEED_VERSION!r}")
    if not isinstance(feed.get("title"), str) or not feed["title"].strip():
        problems.append("feed: title is missing or not a non-empty string")
    if "feed_url" not in feed:
        problems.append("feed: feed_url, the feed's own URL, is missing (project rule)")
    for key in ("home_page_url", "feed_url", "next_url", "icon", "favicon"):
        if key in feed and not _is_http_url(feed[key]):
            problems.append(f"feed: {key} {feed[key]!r} is not an absolute http(s) URL")
    for key in ("description", "user_comment", "language"):
        if key in feed and not isinstance(feed[key], str):
            problems.append(f"feed: {key} must be a string")
    if "language" in feed and isinstance(feed["language"], str) and not _LANGUAGE.fullmatch(feed["language"]):
        problems.append(f"feed: language {feed['language']!r} is not a language tag")
    if "expired" in feed and not isinstance(feed["expired"], bool):
        problems.append("feed: expired must be true or false")
    _check_jsonfeed_authors(feed, "feed", problems)
    for number, hub in enumerate(feed.get("hubs") or [], start=1):
        if not (isinstance(hub, dict) and isinstance(hub.get("type"), str) and isinstance(hub.get("url"), str)):
            problems.append(f"feed: hub {number} needs a string type and url")

    items = feed.get("items")
    if not isinstance(items, list):
        problems.append("feed: items is missing or not a list")
        return problems
    ids: dict[str, list[int]] = {}
    for number, item in enumerate(items, start=1):
        label = f"item {number}"
        if not isinstance(item, dict):
            problems.append(f"{label}: is not an object")
            continue
        _check_jsonfeed_item(item, label, problems)
        if isinstance(item.get("id"), str):
            ids.setdefault(item["id"], []).append(number)
    for item_id, numbers in ids.items():
        if len(numbers) > 1:
            listed = ", ".join(map(str, numbers))
            problems.append(f"items {listed} share the id {item_id!r}; ids must be unique")
    return problems


def _unknown_keys(obj: dict[str, Any], known: set[str], label: str, problems: list[str]) -> None:
    for key in obj:
        if key not in known and not key.startswith("_"):
            problems.append(f"{label}: unknown key {key!r} (extensions must start with '_')")


def _check_jsonfeed_authors(obj: dict[str, Any], label: str, problems: list[str]) -> None:
    authors = obj.get("authors")
    if authors is None:
        return
    if not isinstance(authors, list):
        problems.append(f"{label}: authors must be a list")
        return
    for number, author in enumerate(authors, start=1):
        where = f"{label}: author {number}"
        if not isinstance(author, dict) or not any(key in author for key in _JSONFEED_AUTHOR):
            problems.append(f"{where}: must be an object with at least one of name, url, avatar")
            continue
        _unknown_keys(author, _JSONFEED_AUTHOR, where, problems)
        for key in ("url", "avatar"):
            if key in author and not _is_absolute_iri(author[key] if isinstance(author[key], str) else None):
                problems.append(f"{where}: {key} {author[key]!r} is not an absolute URL")


def _check_jsonfeed_item(item: dict[str, Any], label: str, problems: list[str]) -> None:
    _unknown_keys(item, _JSONFEED_ITEM, label, problems)
    if not isinstance(item.get("id"), str) or not item["id"].strip():
        problems.append(f"{label}: id is missing or not a non-empty string (got {item.get('id')!r})")
    if not any(isinstance(item.get(key), str) for key in ("content_html", "content_text")):
        problems.append(f"{label}: needs content_html or content_text (a string)")
    for key in ("content_html", "content_text", "title", "summary", "language"):
        if key in item and not isinstance(item[key], str):
            problems.append(f"{label}: {key} must be a string")
    if isinstance(item.get("content_html"), str) and (found := html_active_markup(item["content_html"])):
        problems.append(f"{label}: content_html holds active markup: {', '.join(found)} (project rule)")
    for key in ("url", "external_url", "image", "banner_image"):
        if key in item and not _is_http_url(item[key]):
            problems.append(f"{label}: {key} {item[key]!r} is not an absolute http(s) URL")
    for key in ("date_published", "date_modified"):
        if key in item:
            value = item[key] if isinstance(item[key], str) else None
            if (why := rfc3339_problem(value, uppercase=False)) is not None:
                problems.append(f"{label}: {key} {why}")
    tags = item.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(tag, str) for tag in tags)):
        problems.append(f"{label}: tags must be a list of strings")
    _check_jsonfeed_authors(item, label, problems)
    for number, attachment in enumerate(item.get("attachments") or [], start=1):
        where = f"{label}: attachment {number}"
        if not isinstance(attachment, dict):
            problems.append(f"{where}: is not an object")
            continue
        _unknown_keys(attachment, _JSONFEED_ATTACHMENT, where, problems)
        if not _is_http_url(attachment.get("url")):
            problems.append(f"{where}: url {attachment.get('url')!r} is not an absolute http(s) URL")
        if _MIME_TYPE.fullmatch(str(attachment.get("mime_type", ""))) is None:
            problems.append(f"{where}: mime_type {attachment.get('mime_type')!r} is not a MIME type")
        for key in ("size_in_bytes", "duration_in_seconds"):
            value = attachment.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                problems.append(f"{where}: {key} must be a non-negative number")


# --------------------------------------------------------------------------------------------- files


def feed_kind(path: Path, data: bytes) -> str:
    """Which kind of feed a file holds: "atom", "rss" or "jsonfeed", from its suffix (and root element for .xml)."""
    suffix = path.suffix.lower()
    if suffix == ".atom":
        return "atom"
    if suffix == ".rss":
        return "rss"
    if suffix in (".json", ".jsonfeed"):
        return "jsonfeed"
    if suffix == ".xml":
        root, _ = _parse_xml(data)
        if root is not None and root.tag == f"{_A}feed":
            return "atom"
        if root is not None and root.tag == "rss":
            return "rss"
        raise AssertionError(f"{path}: an .xml file whose root is neither an Atom <feed> nor <rss>")
    raise AssertionError(f"{path}: cannot tell the feed kind from the suffix {suffix!r} (.atom, .rss, .xml, .json)")


def feed_problems(data: bytes, kind: str) -> list[str]:
    """The spec problems of a feed of the given kind, plus feedparser's complaints for XML feeds."""
    checker = {"atom": atom_problems, "rss": rss_problems, "jsonfeed": jsonfeed_problems}[kind]
    problems = checker(data)
    if kind in ("atom", "rss"):  # feedparser 6.0 does not read JSON Feed
        parsed = feedparser.parse(data)
        if parsed.bozo:
            problems.append(f"feedparser: bozo, {type(parsed.bozo_exception).__name__}: {parsed.bozo_exception}")
        expected = {"atom": "atom10", "rss": "rss20"}[kind]
        if parsed.version != expected:
            problems.append(f"feedparser: read the feed as {parsed.version!r}, expected {expected!r}")
    return problems


def assert_valid_feed(path: Path) -> None:
    """Fail with every problem when the feed file at `path` breaks its spec or makes feedparser bozo."""
    data = Path(path).read_bytes()
    problems = feed_problems(data, feed_kind(Path(path), data))
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise AssertionError(f"{path}: {len(problems)} feed problem(s):\n{listed}")
