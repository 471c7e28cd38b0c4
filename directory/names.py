"""The names of countries and languages people use, in Russian and English: one place for all.

From CLDR through Babel ("Россия", "Грузия", "Russia", "белорусский"), not ISO's official names
("Российская Федерация / Russian Federation"), which nobody writes; `_COMMON` holds the few where
CLDR's Russian name is not the one people use. The site, feeds, digests, HSDS exports and the search
index all name a country through `country_name`; search also matches the official names
(`searchable_country_names`), since people paste them from documents.
"""

from __future__ import annotations

import functools
import gettext
from typing import Any

# CLDR's Russian has «Соединенные Штаты» (without ё, and never used alone); people write «США».
_COMMON = {("US", "ru"): "США"}


@functools.cache
def _locale(lang: str) -> Any:
    """Babel's CLDR data for `lang`, loaded on first use: commands that name no country never load it."""
    from babel import Locale  # noqa: PLC0415

    return Locale.parse(lang)


@functools.cache
def country_name(code: str, lang: str) -> str:
    """The name of an ISO 3166-1 alpha-2 code (EU included) in `lang` ("ru", "en"); the code itself
    when CLDR has none."""
    return _COMMON.get((code.upper(), lang)) or _locale(lang).territories.get(code.upper(), code)


@functools.cache
def language_name(code: str, lang: str) -> str:
    """The name of an ISO 639-1 code in `lang` ("белорусский", "Belarusian"); the code itself when
    CLDR has none."""
    return _locale(lang).languages.get(code.lower(), code)


def searchable_country_names(code: str) -> tuple[str, ...]:
    """Every name a country is searched by: `country_name` in Russian and English, CLDR's own, and
    ISO's official names in both languages; without repeats."""
    names = [country_name(code, lang) for lang in ("en", "ru")]
    names += [_locale(lang).territories.get(code, code) for lang in ("en", "ru")]
    import pycountry  # noqa: PLC0415 - see _locale

    country = pycountry.countries.get(alpha_2=code)
    if country is not None:
        russian = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["ru"], fallback=True)
        names += [country.name, russian.gettext(country.name)]
    return tuple(dict.fromkeys(names))
