"""The static site's search index: every entry's Snowball stems, in shards a search loads a few of.

The site has no server, so the search page (`static/search.js`) reads JSON files:

- `search/terms/<n>.json`: `{stem: {slug: weight}}` for the stems whose first two letters hash to
  shard n (FNV-1a 32-bit over the code points, modulo TERM_SHARDS). One index for both languages: an
  entry's names, summaries and tags in Russian and English, as the database search indexes them
  (`directory.search.document`), so «Медуза» and «Meduza» find it from either side. The weight is
  the best field the stem is in: names 3, summaries 2, tags 1.
- `search/<lang>/cards/<n>.json`: `{slug: [title, excerpt]}`, what a result shows in that language,
  for the slugs that hash to n (modulo CARD_SHARDS).

The browser has no stemmer: for each word typed it takes the stems that begin with the word (what is
being typed) and the longest stem the word begins with (the word in another case form: a query
«политзаключённые» meets the stem «политзаключен» of «политзаключённых»). Words and stems are
lower-cased with ё folded into е (`directory.search.words`), the same on both sides.

An edit rewrites only the shards whose content changed: `update` patches the term shards that held or
now hold a stem of an edited entry, found through `state` (slug → the shards its stems are in), and
the card shards of the edited slugs. The files are a pure function of the entries, so an updated index
is byte for byte the index a full build would write.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from directory.search import STOPWORDS, Document, stem, words

INDEX_DIR = "search"
VERSION = 1  # of the files' layout and of what is indexed; another version means a full build
TERM_SHARDS = 256
CARD_SHARDS = 64
PREFIX = 2  # letters of a stem that choose its shard; a shorter stem is not indexed
WEIGHTS = {"names": 3, "summaries": 2, "tags": 1}
Postings = dict[str, dict[str, int]]  # stem → {slug: weight}


@dataclass(frozen=True)
class Card:
    """What a search result shows of an entry in one language."""

    title: str
    excerpt: str


@dataclass
class Index:
    """The outcome of a build: `files` to (re)write ({path under the site: bytes}), `paths` of every
    index file the site has after it, `state` to hand to the next `update` (JSON-ready)."""

    files: dict[str, bytes] = field(default_factory=dict)
    paths: set[str] = field(default_factory=set)
    state: dict[str, str] = field(default_factory=dict)


def restore(paths: Iterable[str], kept: object) -> Index | None:
    """The index a build left, from the manifest's paths and what it kept of `Index.state` (`saved`);
    None when it kept none of this VERSION, so the next build must be full."""
    if not isinstance(kept, dict) or kept.get("version") != VERSION or not isinstance(kept.get("entries"), dict):
        return None
    return Index(paths={p for p in paths if p.startswith(f"{INDEX_DIR}/")}, state=dict(kept["entries"]))


def saved(index: Index) -> dict[str, object]:
    """What the manifest keeps of `index` for `restore`."""
    return {"version": VERSION, "entries": index.state}


def fnv1a(text: str) -> int:
    """FNV-1a, 32 bits, over the code points of `text`; `static/search.js` computes the same."""
    value = 0x811C9DC5
    for char in text:
        value = ((value ^ ord(char)) * 0x01000193) & 0xFFFFFFFF
    return value


def term_shard(stem_: str) -> int:
    return fnv1a(stem_[:PREFIX]) % TERM_SHARDS


def card_shard(slug: str) -> int:
    return fnv1a(slug) % CARD_SHARDS


def postings(document: Document) -> dict[str, int]:
    """{stem: weight} of one entry's document: each stem of two letters or more, at its best field;
    no stopword (a query leaves them out)."""
    found: dict[str, int] = {}
    for name, weight in WEIGHTS.items():
        for word in words(getattr(document, name)):
            if word in STOPWORDS:
                continue
            stemmed = stem(word)
            if len(stemmed) >= PREFIX and found.get(stemmed, 0) < weight:
                found[stemmed] = weight
    return found


def build(documents: Mapping[str, Document], cards: Mapping[str, Mapping[str, Card]]) -> Index:
    """The whole index of `documents` ({slug: Document}) with `cards` ({lang: {slug: Card}})."""
    index = Index()
    shards: dict[int, Postings] = defaultdict(lambda: defaultdict(dict))
    for slug, document in documents.items():
        found = postings(document)
        for stem_, weight in found.items():
            shards[term_shard(stem_)][stem_][slug] = weight
        index.state[slug] = _shard_list({term_shard(s) for s in found})
    for number, shard in shards.items():
        _put_terms(index, number, shard)
    for lang, of_lang in cards.items():
        by_shard: dict[int, dict[str, Card]] = defaultdict(dict)
        for slug, card in of_lang.items():
            by_shard[card_shard(slug)][slug] = card
        for number, members in by_shard.items():
            _put_cards(index, lang, number, members)
    return index


def update(
    output: Path,
    previous: Index,
    dirty: Iterable[str],
    documents: Mapping[str, Document],
    cards: Mapping[str, Mapping[str, Card]],
) -> Index | None:
    """The index after the entries in `dirty` changed, from the one `previous` describes (its files as
    they are under `output`); `documents` has the dirty entries that still exist, `cards` every entry.
    Only the shards that hold or held a dirty entry are in `files`. None when a shard to patch is not
    there or not JSON of the shape this module writes: then only a full `build` can be trusted."""
    dirty = set(dirty)
    found = {slug: postings(documents[slug]) for slug in dirty if slug in documents}
    index = Index(paths=set(previous.paths), state={s: k for s, k in previous.state.items() if s not in dirty})
    touched: set[int] = set()
    for slug in dirty:
        touched |= _shard_numbers(previous.state.get(slug, ""))
    for slug, stems_ in found.items():
        index.state[slug] = _shard_list({term_shard(s) for s in stems_})
        touched |= _shard_numbers(index.state[slug])
    for number in touched:
        shard: Postings = defaultdict(dict)
        written = _read(output, _terms_path(number), index.paths)
        if written is None:
            return None
        for stem_, of_stem in written.items():
            remaining = {slug: weight for slug, weight in of_stem.items() if slug not in dirty}
            if remaining:
                shard[stem_] = remaining
        for slug, stems_ in found.items():
            for stem_, weight in stems_.items():
                if term_shard(stem_) == number:
                    shard[stem_][slug] = weight
        _put_terms(index, number, shard)
    numbers = {card_shard(slug) for slug in dirty}
    for lang, of_lang in cards.items():
        members: dict[int, dict[str, Card]] = {number: {} for number in numbers}
        for slug, card in of_lang.items():
            if (number := card_shard(slug)) in members:
                members[number][slug] = card
        for number, of_shard in members.items():
            _put_cards(index, lang, number, of_shard)
    return index


def _put_terms(index: Index, number: int, shard: Mapping[str, Mapping[str, int]]) -> None:
    path = _terms_path(number)
    if shard:
        content = {stem_: dict(sorted(of_stem.items())) for stem_, of_stem in sorted(shard.items())}
        index.files[path] = _json(content)
        index.paths.add(path)
    else:
        index.paths.discard(path)


def _put_cards(index: Index, lang: str, number: int, cards: Mapping[str, Card]) -> None:
    path = f"{INDEX_DIR}/{lang}/cards/{number}.json"
    if cards:
        content = {slug: [card.title, card.excerpt] for slug, card in sorted(cards.items())}
        index.files[path] = _json(content)
        index.paths.add(path)
    else:
        index.paths.discard(path)


def _terms_path(number: int) -> str:
    return f"{INDEX_DIR}/terms/{number}.json"


def _read(output: Path, path: str, paths: set[str]) -> Postings | None:
    """The term shard at `path` as the last build wrote it ({} when it wrote none), None when unreadable."""
    if path not in paths:
        return {}
    try:
        content = json.loads((output / path).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(content, dict) or not all(isinstance(of_stem, dict) for of_stem in content.values()):
        return None
    return content


def _json(content: object) -> bytes:
    return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _shard_list(numbers: set[int]) -> str:
    """Shard numbers as the manifest keeps them: two hex digits each, ascending ("03a1ff")."""
    return "".join(f"{n:02x}" for n in sorted(numbers))


def _shard_numbers(text: str) -> set[int]:
    return {int(text[i : i + 2], 16) for i in range(0, len(text), 2)}
