"""What a value from outside (a crawled feed, page or its metadata) must become before it is stored.

Every string the crawlers hand to the directory goes through `text` (or `value`, for nested JSON)
when it is stored, so no single item can later stop a publish or disguise itself:

- characters XML 1.0 does not allow (§2.2 `Char`: C0 controls but tab, LF and CR; U+FFFE and
  U+FFFF) are removed, and lone surrogates (half a UTF-16 pair, which no encoding can write) become
  U+FFFD, so every feed, OPML file and page serializes whatever was stored;
- C1 controls (U+0080–U+009F) are removed too: XML 1.0 discourages them, no text needs them, and a
  terminal may act on them (U+009B is CSI);
- the result is in Unicode NFC, so the same words compare, hash and search the same.

Dates from outside are bounded by `moment`: feeds claim the year 1 and 9999 alike.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import unicodedata
from typing import Any

# XML 1.0 §2.2: Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]; plus C1.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")

# A date is believed when it lies between these: earlier is a placeholder (the year 1, the Unix epoch),
# later than the fetch plus the tolerance is a clock or a trick to stay on top of every list.
EARLIEST = dt.datetime(1995, 1, 1, tzinfo=dt.UTC)
FUTURE_TOLERANCE = dt.timedelta(minutes=15)


def text(value: str) -> str:
    """`value` without the characters XML 1.0 forbids and C1 controls, lone surrogates as U+FFFD, in NFC."""
    if value.isascii() and value.isprintable():
        return value
    return unicodedata.normalize("NFC", _SURROGATE.sub("\ufffd", _NOT_XML.sub("", value)))


def forbidden(data: Any) -> str | None:
    """The first character XML 1.0 cannot carry in any string of `data` (nested dicts, lists, tuples
    and dataclasses), as `U+001B`, or None when every string can be written."""
    if isinstance(data, str):
        if data.isascii() and data.isprintable():
            return None
        match = _NOT_XML.search(data) or _SURROGATE.search(data)
        return f"U+{ord(match.group()):04X}" if match else None
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        data = [getattr(data, f.name) for f in dataclasses.fields(data)]
    elif isinstance(data, dict):
        data = [*data.keys(), *data.values()]
    if isinstance(data, list | tuple):
        return next((found for item in data if (found := forbidden(item))), None)
    return None


def optional(value: str | None) -> str | None:
    """`text`, with None kept."""
    return None if value is None else text(value)


def value(data: Any) -> Any:
    """A JSON-shaped value (dicts, lists, strings, numbers) with `text` applied to every string, keys too."""
    if isinstance(data, str):
        return text(data)
    if isinstance(data, dict):
        return {text(str(k)): value(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [value(v) for v in data]
    return data


def moment(claimed: dt.datetime | None, fetched: dt.datetime) -> dt.datetime | None:
    """The time to keep for a date an outside source claims, seen at `fetched` (both aware).

    None stays None; a date before `EARLIEST` is no date (None); one later than `fetched` plus
    `FUTURE_TOLERANCE` becomes `fetched`. A naive date is read as UTC.
    """
    if claimed is None:
        return None
    if claimed.tzinfo is None:
        claimed = claimed.replace(tzinfo=dt.UTC)
    if claimed < EARLIEST:
        return None
    if claimed > fetched + FUTURE_TOLERANCE:
        return fetched
    return claimed
