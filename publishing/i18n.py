"""Translations for everything a subscriber reads, in Russian and English.

Interface strings are English msgids translated through a gettext catalog
(`newsletter/locale/ru/LC_MESSAGES/messages.po`, extracted with Babel from the templates and from
Python). The catalog is compiled in memory when first used, so the repository holds only the
reviewable `.po` text. Country and language names come from pycountry's own ISO catalogs.
"""

from __future__ import annotations

import datetime as dt
import functools
import gettext
import io
from pathlib import Path

import pycountry
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
def _iso_catalog(domain: str, lang: str) -> gettext.NullTranslations:

    if lang == "en":
        return gettext.NullTranslations()
    return gettext.translation(domain, pycountry.LOCALES_DIR, languages=[lang], fallback=True)


# Names of codes ISO 3166-1 reserves outside its list (pycountry has only the assigned ones).
_RESERVED_COUNTRIES = {"EU": {"en": "European Union", "ru": "Европейский союз"}}


@functools.cache
def country_name(code: str, lang: str) -> str:

    if code in _RESERVED_COUNTRIES:
        return _RESERVED_COUNTRIES[code].get(lang, _RESERVED_COUNTRIES[code]["en"])
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    name = getattr(country, "common_name", None) or country.name
    translated = _iso_catalog("iso3166-1", lang).gettext(name)
    if translated == name and name != country.name:
        translated = _iso_catalog("iso3166-1", lang).gettext(country.name)
    return translated


@functools.cache
def language_name(code: str, lang: str) -> str:

    language = pycountry.languages.get(alpha_2=code)
    if language is None:
        return code
    return _iso_catalog("iso639-3", lang).gettext(language.name)


def partial_date(text: str, lang: str, *, after_since: bool = False) -> str:
    """A date at the precision the data has it, for reading: `2025-07-14` → "14 July 2025" / "14 июля 2025",
    `2025-07` → "July 2025" / "июль 2025" ("июля 2025" `after_since`, for "с …"), `2025` → "2025".

    Raises ValueError for text that is none of YYYY-MM-DD, YYYY-MM, YYYY (the forms `directory.fields` keeps).
    """
    parts = [int(part) for part in text.split("-")]
    if len(parts) == 1:
        return str(parts[0])
    if len(parts) == 2:
        return format_date(dt.date(parts[0], parts[1], 1), "MMMM y" if after_since else "LLLL y", locale=lang)
    return format_date(dt.date(*parts), "d MMMM y", locale=lang)
