"""Translations for everything a subscriber reads, in Russian and English.

Interface strings are English msgids translated through a gettext catalog
(`newsletter/locale/ru/LC_MESSAGES/messages.po`, extracted with Babel from the templates and from
Python). The catalog is compiled in memory when first used, so the repository holds only the
reviewable `.po` text. Country and language names come from `directory.names`.
"""

from __future__ import annotations

import datetime as dt
import functools
import gettext
import io
import unicodedata
from pathlib import Path

from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGUAGES: tuple[str, ...] = ("ru", "en")
LOCALE_DIR = Path(__file__).parent / "locale"


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalog for `lang`; English (the msgid language) needs none."""
    if lang not in LANGUAGES:
        raise ValueError(f"no translations for {lang!r} (expected one of {', '.join(LANGUAGES)})")
    if lang == "en":
        return gettext.NullTranslations()

    with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=lang)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled)


def gettext_for(lang: str, message: str) -> str:
    return translations(lang).gettext(message)


def ngettext_for(lang: str, singular: str, plural: str, n: int) -> str:
    return translations(lang).ngettext(singular, plural, n)


@functools.cache
def collation_key(text: str, lang: str) -> tuple[str, str]:
    """Sort key giving the order a reader of `lang` expects for names (what UCA/CLDR collation gives for
    Russian and English): case and accents matter only to break ties, `ё` sorts with `е`, and `й` stays
    its own letter after `и` (so no decomposition of Cyrillic letters)."""
    folded = text.casefold().replace("ё", "е")
    base = "".join(ch if "\u0400" <= ch <= "\u04ff" else unicodedata.normalize("NFKD", ch)[0] for ch in folded)
    return (base, text)


def partial_date(text: str, lang: str, *, after_since: bool = False) -> str:
    """A date at the precision the data has it, for reading: `2025-07-14` → "14 July 2025" / "14 июля 2025 г.",
    `2025-07` → "July 2025" / "июль 2025 г.", `2025` → "2025" / "2025 г.". `after_since` gives the form that
    follows "since" / «с», «до» («с июля 2025 года», «с 2025 года»).

    Raises ValueError for text that is none of YYYY-MM-DD, YYYY-MM, YYYY (the forms `directory.fields` keeps).
    """
    parts = [int(part) for part in text.split("-")]
    if len(parts) == 1:
        shown = str(parts[0])
    elif len(parts) == 2:
        shown = format_date(dt.date(parts[0], parts[1], 1), "MMMM y" if after_since else "LLLL y", locale=lang)
    else:
        shown = format_date(dt.date(*parts), "d MMMM y", locale=lang)
    if lang == "ru":
        shown += " года" if after_since else " г."
    return shown
