"""The fields of an entry record, and how each is checked and normalized.

A *record* is the flat form of an entry that every import and export format shares: dotted keys
(`name.en`, `contacts.email`, `program.state`) mapping to JSON-friendly values. YAML and JSON nest
them (`nest`/`flatten`), CSV uses them as column names. Revisions name fields by the same keys, so
one table here decides what an entry is, what a valid value looks like, and where it is stored.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import idna

from directory import sources
from directory.taxonomy import (
    AUTHORITY_BY_SLUG,
    DESIGNATION_KIND_BY_SLUG,
    KINDS,
    PROGRAM_STATES,
    STATUSES,
    TOPIC_BY_SLUG,
)


class FieldError(ValueError):
    """A value refused for a field; `field` is the record key, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field!r}: {message}")
        self.field = field
        self.message = message


# --------------------------------------------------------------------------- value checks
# Each check takes the raw value and returns the normalized one or raises ValueError(reason).


def _plain(value: Any) -> str | None:
    """Text with white space trimmed (runs of it folded when on one line); None when empty. A number
    (YAML and JSON read `1984` as one) is its text; NaN and infinity (YAML's `.nan`, JSON's `1e400`)
    are refused, since their text ("nan", "inf") says nothing."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected text, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected text, got the number {value}")
    text = str(value).replace("\r\n", "\n")  # a CRLF line break (RFC 4180 CSV, Windows) is a line break
    text = " ".join(text.split()) if "\n" not in text else text.strip()
    return text or None


def _text(value: Any) -> str | None:
    """Text as people read it (`_plain`), with no character that acts instead of showing (`HIDDEN`:
    controls, bidi overrides that turn `exe.jpg` into `gpj.exe`, zero-width characters), which no
    name, summary or note needs; line breaks are kept."""
    text = _plain(value)
    if text is not None:
        _refuse_hidden(text.replace("\n", " ").replace("\t", " "), "plain text")
    return text


def note_text(value: Any, limit: int) -> str | None:
    """A person's free text kept outside an entry (a reason or note in the history, where a consent
    was recorded, the name changes are made under): one line, read as an entry's text is (`_text`: no
    character that acts instead of showing) with every run of white space, line breaks included, made
    one space; at most `limit` characters; ValueError saying why."""
    text = _text(value)
    text = " ".join(text.split()) if text is not None else None
    if text is not None and len(text) > limit:
        raise ValueError(f"too long: {len(text):,} characters (at most {limit:,})")
    return text


_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def _slug(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    if not _SLUG.match(text) or "--" in text:
        raise ValueError(f"{text!r} is not a slug (a-z, 0-9 and single '-', 1-64 characters)")
    return text


_LDH_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_LABEL_DOTS = re.compile("[.\u3002\uff0e\uff61]")  # the full stops that separate labels in UTS 46


def ascii_host(host: str) -> str:
    """The form of a host name that DNS and every protocol use: IDNA 2008 A-labels, lower case, no final dot.

    Internationalized names are mapped by UTS 46 (non-transitional, as browsers and email_validator do)
    and encoded by the `idna` package: `faß.de` is `xn--fa-hia.de`. Python's own "idna" codec follows
    IDNA 2003 and would give `fass.de`, which is another domain. ASCII names are only lower-cased: their
    labels must be letters, digits and inner hyphens, and an `xn--` label must be a valid A-label.
    Raises ValueError saying what is wrong, for anything that is not a dotted DNS name.
    """

    def refuse(reason: str) -> ValueError:
        return ValueError(f"{host!r} is not a valid host name: {reason}")

    labels = _LABEL_DOTS.split(host)
    if len(labels) > 1 and not labels[-1]:
        labels.pop()  # a final dot names the DNS root; it is dropped
    if "" in labels:
        raise refuse("it has an empty label")
    if host.isascii():
        labels = [label.lower() for label in labels]
        for label in labels:
            if label.startswith("xn--"):
                try:
                    idna.decode(label)
                except idna.IDNAError as exc:
                    raise refuse(f"{label!r} is not a valid A-label") from exc
    else:
        try:
            labels = idna.encode(".".join(labels), uts46=True).decode("ascii").split(".")
        except idna.IDNAError as exc:
            reason = str(exc)
            raise refuse(reason[:1].lower() + reason[1:]) from exc
    for label in labels:
        if len(label) > 63:
            raise refuse("a label is longer than 63 characters")
        if not _LDH_LABEL.match(label):
            raise refuse(f"{label!r} may only have letters, digits and inner hyphens")
    if len(labels) < 2:
        raise refuse("it needs at least two labels, as in example.org")
    if labels[-1].isdigit():
        raise refuse("its last label is a number")
    ascii_name = ".".join(labels)
    if len(ascii_name) > 253:
        raise refuse("it is longer than 253 characters")
    return ascii_name


def _hostname(host: str) -> str:
    """A host name as stored: checked by `ascii_host`, lower case, without a final dot.

    An internationalized name is kept readable, in the normalized Unicode form its A-labels decode to
    (`ÖBB.at` is stored as `öbb.at`), just as email_validator stores an address's domain; an ASCII name,
    A-labels included, is stored as it was written, lower-cased.
    """
    ascii_name = ascii_host(host)
    return ascii_name if host.isascii() else idna.decode(ascii_name)


# Characters no one sees but that act: a terminal obeys controls (ESC [2J clears the screen, an OSC 8
# sequence makes a link that opens another address than the one shown, U+009B is CSI to some), and a
# renderer lets format characters change what the text around them looks like (U+202E shows what follows
# backwards, so `/lmx.<U+202E>deef` reads "/feed.xml"; a zero-width space or soft hyphen hides inside a
# name). They are the categories Cc (C0, DEL, C1), Cf (bidi embeddings, overrides, isolates and marks,
# zero-width spaces and joiners, the BOM, soft hyphen, tags…), Zl and Zp (line and paragraph separators)
# and Cs (lone surrogates, which no encoder writes), plus the rest of Unicode's Default_Ignorable_Code_Point
# (variation selectors, Hangul fillers…), as of Unicode 15; tests/test_terminal_safety.py checks the
# list against the running Python's Unicode database. One compiled class, because every table cell a
# command prints is searched with it.
HIDDEN = re.compile(
    r"[\x00-\x1f\x7f-\x9f\xad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160"
    r"\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ud800-\udfff\ufe00-\ufe0f"
    r"\ufeff\uffa0\ufff0-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    r"\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)


# Runs of characters that may hold a HIDDEN one: everything but printable ASCII, Latin-1 and Latin
# Extended letters and signs (bar the soft hyphen), Cyrillic, and the dashes, quotes and other
# punctuation of U+2010–U+205F outside HIDDEN's ranges. Most text is made only of these, and finding
# the rest first is several times faster than searching with HIDDEN's long class at every position.
_MAYBE_HIDDEN = re.compile(r"[^\x20-\x7e\xa0-\xac\xae-\u02ff\u0400-\u04ff\u2010-\u2027\u2030-\u205f]+")


def replace_hidden(text: str, replacement: Callable[[re.Match[str]], str]) -> str:
    """`HIDDEN.sub(replacement, text)`, searched only in the runs that can hold such a character."""
    return _MAYBE_HIDDEN.sub(lambda run: HIDDEN.sub(replacement, run.group()), text)


def hidden_characters(text: str) -> list[str]:
    """The characters of `text` that `HIDDEN` matches, in order, once each: what a URL or an address
    must never hold, and what a terminal must be shown rather than given."""
    return list(dict.fromkeys(HIDDEN.findall(text)))


def _refuse_hidden(text: str, what: str) -> None:
    """ValueError naming each hidden character of `text` by code point and Unicode name, if it has any."""
    found = hidden_characters(text)
    if found:
        names = ", ".join(f"U+{ord(c):04X} {_character_name(c)}" for c in found)
        raise ValueError(
            f"{text!r} is not {what}: it contains invisible or control characters that can disguise it ({names})"
        )


def _character_name(char: str) -> str:
    """The Unicode name, or what the character is when it has none (controls and surrogates have none)."""
    fallback = {"Cc": "(control)", "Cs": "(lone surrogate)"}.get(unicodedata.category(char), "(unassigned)")
    return unicodedata.name(char, fallback)


def _url(value: Any) -> str | None:
    """An absolute http(s) URL, kept as written: no white space, credentials, or hidden characters (a
    URL that needs them has them percent-encoded), and a host that is an IP address or a valid name."""
    text = _plain(value)
    if text is None:
        return None
    if any(ch.isspace() for ch in text):
        raise ValueError(f"{text!r} is not a URL: it contains white space")
    _refuse_hidden(text, "a URL")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{text!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise ValueError(f"{text!r}: URLs with credentials are not accepted")
    if not parts.hostname:
        raise ValueError(f"{text!r} is not a URL: it has no host")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a URL: bad port") from exc
    if not _is_ip(parts.hostname):
        _hostname(parts.hostname)
    return text


def _is_ip(host: str) -> bool:

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _domain(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    if "/" in text or ":" in text:
        raise ValueError(f"{text!r} is not a bare domain name (write example.org, not a URL)")
    return _hostname(text)


def _iso_code(registry: str, upper: bool, standard: str) -> Callable[[Any], str | None]:
    """A two-letter code checked against one of pycountry's ISO registries."""

    def check(value: Any) -> str | None:

        text = _text(value)
        if text is None:
            return None
        code = text.upper() if upper else text.lower()
        import pycountry  # noqa: PLC0415 - its registries load when a code is checked, not for every command

        if len(code) != 2 or getattr(pycountry, registry).get(alpha_2=code) is None:
            raise ValueError(f"{text!r} is not an {standard} code")
        return code

    return check


_country = _iso_code("countries", True, "ISO 3166-1 alpha-2 country")

# ISO 3166-1 reserves EU "exceptionally" for the European Union: the host of rules that apply in every
# member state (the Union's visa rules for Russians), which no single country code can hold.
EUROPEAN_UNION = "EU"


def _host_country(value: Any) -> str | None:
    text = _text(value)
    if text is not None and text.upper() == EUROPEAN_UNION:
        return EUROPEAN_UNION
    return _country(value)


_language = _iso_code("languages", False, "ISO 639-1 language")


def _topic(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    if text not in TOPIC_BY_SLUG:
        raise ValueError(f"{text!r} is not a topic of the taxonomy (see docs/taxonomy.md)")
    return text


def _choice(choices: tuple[str, ...]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        text = _text(value)
        if text is None:
            return None
        if text not in choices:
            raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
        return text

    return check


def _email(value: Any) -> str | None:
    """An address as email_validator normalizes it, which checks the domain by IDNA 2008 (UTS 46) as
    `ascii_host` does and keeps it readable: `Reader@FAß.DE` is stored as `Reader@faß.de`, and mail to it
    goes to the A-label form `Reader@xn--fa-hia.de`."""

    text = _plain(value)
    if text is None:
        return None
    _refuse_hidden(text, "an email address")  # email_validator refuses them too, but in its own words
    from email_validator import EmailNotValidError, validate_email  # noqa: PLC0415 - loaded when an address is read

    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"{text!r} is not an email address: {exc}") from exc


_TELEGRAM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")


def _telegram(value: Any) -> str | None:
    """A Telegram handle, normalized to its https://t.me/ link (the form readers can open)."""
    text = _text(value)
    if text is None:
        return None
    name = text
    for prefix in ("https://t.me/", "http://t.me/", "https://telegram.me/", "t.me/", "@"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    name = name.rstrip("/")
    if not _TELEGRAM_NAME.match(name):
        raise ValueError(f"{text!r} is not a Telegram handle or t.me link")
    return f"https://t.me/{name}"


def _pattern(value: Any) -> str | None:
    """A regular expression (checked to compile): text matching it is ignored by the page watch."""
    text = _text(value)
    if text is None:
        return None
    try:
        re.compile(text)
    except re.error as exc:
        raise ValueError(f"{text!r} is not a regular expression: {exc}") from exc
    return text


def _datetime(value: Any) -> str | None:
    """ISO 8601 UTC text; a bare date means midnight UTC. Stored as a datetime, carried as text."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time(), dt.UTC)
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an ISO 8601 date or time") from exc
    else:
        raise ValueError(f"{value!r} is not an ISO 8601 date or time")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat()


_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def _partial_date(value: Any) -> str | None:
    """An ISO 8601 calendar date at the precision a source gives: `2025-07-14`, `2025-07` or `2025`.

    Facts people act on are often reported to the month ("halted in July 2025"); a made-up day would
    claim a precision nobody has. Stored and compared as that text, which sorts in time order.
    """
    if value is None or value == "":
        return None
    if isinstance(value, dt.date | dt.datetime):
        return _date(value)
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else None
    match = _PARTIAL_DATE.match(text or "")
    if text is None or match is None:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD, or YYYY-MM / YYYY when only that is known)")
    year, month, day = match.groups()
    if year < "1900":
        raise ValueError(f"{text!r} is not a date this directory can hold: check the year")
    try:
        dt.date(int(year), int(month or 1), int(day or 1))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a date: {exc}") from exc
    return text


def _source(value: Any) -> str | None:
    """Where facts were checked: one or more http(s) URLs, none of them a copy (`directory.sources`),
    separated as `sources.split` reads them and written back separated by ` ; `."""
    text = _text(value)
    if text is None:
        return None
    urls = []
    for part in sources.split(text):
        try:
            if _run_together(part, ";"):
                raise ValueError(f"{part!r} runs two URLs together")
            url = _url(part)
        except ValueError as exc:
            raise ValueError(f"{text!r} is not one or more http(s) URLs separated by ' ; ' ({exc})") from None
        reason = sources.refusal(url) if url else None
        if reason:
            raise ValueError(reason)
        if url and url not in urls:
            urls.append(url)
    return sources.SEPARATOR.join(urls) or None


_LIKE_A_SEPARATOR = re.compile(r"[|,;\s]")  # what people separate items with, in an item that is refused


def _run_together(item: str, mark: str) -> bool:
    """Whether `item`, which may hold `mark` (`|` or `;`) of its own (`https://x.org/a;jsessionid=1`),
    is rather two items written without the spaces of their separator: it ends with `mark`, or another
    URL follows one (`https://a.org|https://b.org`)."""
    lowered = item.lower()
    return item.endswith(mark) or f"{mark}http://" in lowered or f"{mark}https://" in lowered


def _mapping(value: Any, fields: Mapping[str, Callable[[Any], Any]], required: tuple[str, ...], what: str) -> dict:
    """A mapping of exactly these `fields`, each normalized by its check; a required one that is
    missing or blank once normalized (`"  "`, `" ; "`) is refused by name."""
    if not isinstance(value, Mapping):
        raise ValueError(f"each {what} is a mapping of {', '.join(fields)}")
    unknown = [key for key in value if key not in fields]
    if unknown:
        raise ValueError(f"a {what} has no field {unknown[0]!r} (it has {', '.join(fields)})")
    item = {key: check(value.get(key)) for key, check in fields.items()}
    missing = [key for key in required if item[key] in (None, "")]
    if missing:
        raise ValueError(f"a {what} needs {', '.join(missing)}")
    return item


def _fact_date(value: Any) -> str | None:
    """A partial date of something that has happened: not in the future, not before 1900."""
    text = _partial_date(value)
    if text is not None:
        if text > dt.date.today().isoformat()[: len(text)]:
            raise ValueError(f"{text!r} is in the future: this date says when something happened")
        if text < "1900":
            raise ValueError(f"{text!r} is before 1900: check the year")
    return text


def _designation(value: Any) -> dict[str, Any]:
    """{authority, kind, date, source[, lifted]}: a state's label on the organization, dated and sourced."""
    fields = {"authority": _text, "kind": _text, "date": _fact_date, "source": _source, "lifted": _fact_date}
    item = _mapping(value, fields, ("authority", "kind", "date", "source"), "designation")
    if item["authority"] not in AUTHORITY_BY_SLUG:
        raise ValueError(f"{item['authority']!r} is not a designating authority (see docs/taxonomy.md)")
    if item["kind"] not in DESIGNATION_KIND_BY_SLUG:
        raise ValueError(f"{item['kind']!r} is not a kind of designation ({', '.join(DESIGNATION_KIND_BY_SLUG)})")
    lifted = item.pop("lifted")
    if lifted is not None:
        if lifted < item["date"][: len(lifted)]:
            raise ValueError(f"a designation cannot be lifted ({lifted}) before it was made ({item['date']})")
        item["lifted"] = lifted
    return item


def _warning(value: Any) -> dict[str, Any]:
    """{en, ru, date, source}: a risk a reader must know first, in both languages, dated and sourced."""
    fields = {"en": _text, "ru": _text, "date": _fact_date, "source": _source}
    return _mapping(value, fields, tuple(fields), "warning")


def _checked_at(value: Any) -> str | None:
    """When a person checked the facts: a time (see `_datetime`), not later than now (a day of clock skew allowed)."""
    text = _datetime(value)
    if text is not None and dt.datetime.fromisoformat(text) > dt.datetime.now(dt.UTC) + dt.timedelta(days=1):
        raise ValueError(f"{text!r} is in the future: a check has already happened")
    return text


def _date(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an ISO 8601 date (YYYY-MM-DD)") from exc
    raise ValueError(f"{value!r} is not an ISO 8601 date (YYYY-MM-DD)")


# --------------------------------------------------------------------------- the field table

# Size limits (docs/data-format.md, "Limits"): the longest text, in characters (code points), of a value,
# of each item of a list, and of each text in a designation or warning; and the most items in a list.
CODE_LIMIT = 100  # codes, slugs, choices and dates: all far shorter
NAME_LIMIT = 300
TEXT_LIMIT = 2_000  # a summary, a note, a warning: a paragraph
LONG_TEXT_LIMIT = 4_000  # a program's state note, eligibility and application route; a designation
URL_LIMIT = 2_000  # what browsers, servers and search engines all handle
SOURCE_LIMIT = 4_000  # several URLs separated by ' ; '
MAX_ITEMS = 100


def check_length(value: Any, limit: int) -> None:
    """ValueError when `value` (text, or a mapping's text values) is longer than `limit` characters.

    Checked before any other check, so that no other check works on a huge value, and no error
    message quotes one."""
    texts = value.values() if isinstance(value, Mapping) else (value,)
    for text in texts:
        if isinstance(text, str) and len(text) > limit:
            raise ValueError(f"too long: {len(text):,} characters (the limit is {limit:,})")


@dataclass(frozen=True)
class Field:
    key: str
    column: str
    check: Callable[[Any], Any]
    many: bool = False
    required: bool = False
    program_only: bool = False
    default: Any = None
    structured: bool = False  # a list of mappings; a CSV cell holds it as a JSON array
    limit: int = CODE_LIMIT  # characters of the value, of each item, of each text in an item

    def normalize(self, value: Any) -> Any:
        """The canonical value, or ValueError with the reason (a value over the size limits among them)."""
        if not self.many:
            check_length(value, self.limit)
            return self.check(value)
        if value is None or value == "":
            return []
        if isinstance(value, str):
            check_length(value, (self.limit + len(LIST_SEPARATOR)) * MAX_ITEMS)
        if isinstance(value, str) and self.structured:
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ValueError(f"expected a JSON array of objects: {exc}") from exc
        elif isinstance(value, str):
            value = split_list(value)
        if not isinstance(value, list | tuple):
            raise ValueError(f"expected a list, got {type(value).__name__}")
        if len(value) > MAX_ITEMS:
            raise ValueError(f"too many items: {len(value):,} (the limit is {MAX_ITEMS})")
        items: list[Any] = []
        for number, item in enumerate(value, 1):
            try:
                check_length(item, self.limit)
                if isinstance(item, str) and _run_together(item, "|"):
                    raise ValueError(f"{item!r} runs two items together, or holds a '|' of its own, written %7C")
                normalized = self.check(item)
            except ValueError as exc:
                if self.structured:
                    raise ValueError(f"item {number}: {exc}") from exc
                if isinstance(item, str) and _LIKE_A_SEPARATOR.search(item.strip()):  # `RU,BY`, `ru en`
                    raise ValueError(f"{exc} (separate items with {LIST_SEPARATOR!r}, a space on each side)") from exc
                raise
            if normalized is not None and normalized not in items:
                items.append(normalized)
        return items


FIELDS: tuple[Field, ...] = (
    Field("slug", "slug", _slug, required=True),
    Field("kind", "kind", _choice(KINDS), required=True),
    Field("name.en", "name_en", _text, required=True, limit=NAME_LIMIT),
    Field("name.ru", "name_ru", _text, required=True, limit=NAME_LIMIT),
    Field("summary.en", "summary_en", _text, required=True, limit=TEXT_LIMIT),
    Field("summary.ru", "summary_ru", _text, required=True, limit=TEXT_LIMIT),
    Field("website", "website", _url, limit=URL_LIMIT),
    Field("other_domains", "other_domains", _domain, many=True, limit=253),
    Field("feeds", "feeds", _url, many=True, limit=URL_LIMIT),
    Field("host_countries", "host_countries", _host_country, many=True),
    Field("countries_served", "countries_served", _country, many=True),
    Field("languages", "languages", _language, many=True),
    Field("topics", "topics", _topic, many=True),
    Field("contacts.email", "contact_email", _email, limit=254),
    Field("contacts.telegram", "contact_telegram", _telegram),
    Field("contacts.other", "contact_other", _url, many=True, limit=URL_LIMIT),
    Field("status", "status", _choice(STATUSES), default="active"),
    Field("status_note", "status_note", _text, limit=TEXT_LIMIT),
    Field("verified_at", "verified_at", _checked_at),
    Field("verified_by", "verified_by", _text, limit=NAME_LIMIT),
    Field("source", "source", _source, limit=SOURCE_LIMIT),
    Field("designations", "designations", _designation, many=True, structured=True, limit=SOURCE_LIMIT),
    Field("warnings", "warnings", _warning, many=True, structured=True, limit=TEXT_LIMIT),
    Field("program.state", "program_state", _choice(PROGRAM_STATES), program_only=True),
    Field("program.state_since", "program_state_since", _fact_date, program_only=True),
    Field("program.state_note.en", "state_note_en", _text, program_only=True, limit=LONG_TEXT_LIMIT),
    Field("program.state_note.ru", "state_note_ru", _text, program_only=True, limit=LONG_TEXT_LIMIT),
    Field("program.eligibility.en", "eligibility_en", _text, program_only=True, limit=LONG_TEXT_LIMIT),
    Field("program.eligibility.ru", "eligibility_ru", _text, program_only=True, limit=LONG_TEXT_LIMIT),
    Field("program.official_url", "official_url", _url, program_only=True, limit=URL_LIMIT),
    Field("program.application_route.en", "application_route_en", _text, program_only=True, limit=LONG_TEXT_LIMIT),
    Field("program.application_route.ru", "application_route_ru", _text, program_only=True, limit=LONG_TEXT_LIMIT),
    Field("program.next_call.opens", "next_call_opens", _partial_date, program_only=True),
    Field("program.next_call.closes", "next_call_closes", _partial_date, program_only=True),
    Field("watch.url", "watch_url", _url, limit=URL_LIMIT),
    Field("watch.selector", "watch_selector", _text, limit=500),
    Field("watch.ignore", "watch_ignore", _pattern, limit=500),
)

FIELD_BY_KEY: dict[str, Field] = {field.key: field for field in FIELDS}
KEYS: tuple[str, ...] = tuple(field.key for field in FIELDS)


def _groups() -> dict[str, tuple[str, ...]]:
    """Each mapping of fields (`name`, `program`, `program.state_note`…) and its keys, in field order."""
    groups: dict[str, dict[str, None]] = {}
    for key in KEYS:
        parts = key.split(".")
        for end in range(1, len(parts)):
            groups.setdefault(".".join(parts[:end]), {})[parts[end]] = None
    return {group: tuple(keys) for group, keys in groups.items()}


GROUPS: dict[str, tuple[str, ...]] = _groups()


def empty_value(field: Field) -> Any:
    return [] if field.many else field.default


def normalize(record: Mapping[str, Any]) -> dict[str, Any]:
    """Normalize the fields present in a flat record; raises the first FieldError in field order."""
    values, errors = normalized(record)
    if errors:
        raise errors[0]
    return values


def check_record(record: Mapping[str, Any]) -> list[FieldError]:
    """Every problem with the fields present: unknown keys and refused values, in a stable order."""
    return normalized(record)[1]


def normalized(record: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
    """(the normalized values of the fields present and valid, every problem), in one pass."""
    values: dict[str, Any] = {}
    errors = [
        FieldError(key, f"must be a mapping of {', '.join(GROUPS[key])}")
        if key in GROUPS
        else FieldError(key if len(key) <= CODE_LIMIT else f"{key[:CODE_LIMIT]}…", "unknown field")
        for key in record
        if key not in FIELD_BY_KEY
    ]
    for field in FIELDS:
        if field.key in record:
            try:
                values[field.key] = field.normalize(record[field.key])
            except ValueError as exc:
                errors.append(FieldError(field.key, str(exc)))
    return values, errors


def check_complete(record: Mapping[str, Any]) -> list[FieldError]:
    """Rules about the whole entry, on a normalized record that has every key."""
    errors = [
        FieldError(field.key, "is required")
        for field in FIELDS
        if field.required and record.get(field.key) in (None, "", [])
    ]
    if record.get("verified_at") and not record.get("source"):
        errors.append(FieldError("source", "is required for a verified entry: say where the facts were checked"))
    if EUROPEAN_UNION in (record.get("host_countries") or []) and record.get("kind") != "program":
        errors.append(FieldError("host_countries", "EU is the host only of a Union-wide program or rule"))
    if record.get("kind") == "program":
        if len(record.get("host_countries") or []) != 1:
            errors.append(FieldError("host_countries", "a program has exactly one host country"))
        if not record.get("program.state"):
            errors.append(FieldError("program.state", "is required for a program (open, paused, closed or unknown)"))
        if bool(record.get("program.state_note.en")) != bool(record.get("program.state_note.ru")):
            errors.append(FieldError("program.state_note", "needs both languages, en and ru"))
        opens, closes = record.get("program.next_call.opens"), record.get("program.next_call.closes")
        if opens and closes and closes < opens[: len(closes)]:
            errors.append(
                FieldError("program.next_call", f"the call cannot close ({closes}) before it opens ({opens})")
            )
        if record.get("designations"):
            errors.append(
                FieldError("designations", "a program is not designated; designations belong to organizations")
            )
    else:
        errors.extend(
            FieldError(field.key, f"only a program has this field, and this entry is a {record.get('kind')}")
            for field in FIELDS
            if field.program_only and record.get(field.key) not in (None, "", [])
        )
    return errors


# --------------------------------------------------------------------------- shapes


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested YAML/JSON mapping → flat record. Unknown nested keys survive, so they can be reported."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if isinstance(value, Mapping) and full not in FIELD_BY_KEY:
            flat.update(flatten(value, prefix=f"{full}."))
        else:
            flat[full] = value
    return flat


# Each key's path in the nested form, and whether an empty value is kept: `nest` runs once per entry
# of every listing and export, so the splitting is done once here.
_PATHS = tuple((f.key, tuple(f.key.split(".")[:-1]), f.key.rpartition(".")[2], f.required) for f in FIELDS)


def nest(record: Mapping[str, Any], *, drop_empty: bool = True) -> dict[str, Any]:
    """Flat record → nested mapping in field order; empty optional values are left out."""
    nested: dict[str, Any] = {}
    for key, parents, leaf, required in _PATHS:
        if key not in record:
            continue
        value = record[key]
        if drop_empty and not required and (value is None or value == []):
            continue
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def column_value(field: Field, value: Any) -> Any:
    """Record value → the Python value its column stores."""
    if value is None:
        return None
    if field.check in (_datetime, _checked_at):
        return dt.datetime.fromisoformat(value)
    return list(value) if field.many else value


def record_value(field: Field, value: Any) -> Any:
    """Column value → record value (JSON-friendly; lists copied so callers may not mutate state)."""
    if value is None:
        return [] if field.many else None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if field.structured:
        return [dict(item) for item in value]
    return list(value) if field.many else value


LIST_SEPARATOR = " | "
# A bar with white space (or the text's start or end) on each side: an item may hold a bar of its own
# (`https://a.example/?q=a|b`), and no item holds white space (URLs, domains, codes and slugs).
_LIST_SEPARATOR = re.compile(r"(?:^|(?<=\s))\|(?=\s|$)")


def split_list(text: str) -> list[str]:
    """The items of a list written as text (a CSV cell, `entries edit --set`): separated by `LIST_SEPARATOR`,
    a `|` with white space on each side (or at the text's start or end); items trimmed, empty ones left out.
    `a | b` is two items, `a|b` is one."""
    return [part for part in (p.strip() for p in _LIST_SEPARATOR.split(text)) if part]


def csv_cell(value: Any) -> str:
    """A value as a CSV cell: list items joined with `LIST_SEPARATOR`, None as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, list) and any(isinstance(item, Mapping) for item in value):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return LIST_SEPARATOR.join(str(item) for item in value)
    return str(value)


def ascii_url(url: str) -> str:
    """The URL with its host in IDNA 2008 A-labels (`https://faß.de/x` → `https://xn--fa-hia.de/x`), as
    it must be requested: HTTP clients that encode hosts themselves (w3lib, under Scrapy) use IDNA 2003."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host or host.isascii():
        return url
    netloc = parts.netloc.rsplit("@", 1)
    hostport = netloc[-1]
    encoded = ascii_host(host) + hostport[len(hostport.split(":")[0]) :] if not hostport.startswith("[") else hostport
    return urlunsplit(parts._replace(netloc="@".join([*netloc[:-1], encoded])))
