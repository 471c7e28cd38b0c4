"""The static site's search index: every entry's words with their Snowball stems, in shards a search
loads one or two of.

The site has no server, so the search page (`static/search.js`) reads JSON files:

- `search/terms/<n>.json`: `{"words": {word: {slug: weight}}, "stems": {word: stem}}` for the words
  whose first two letters hash to shard n (FNV-1a 32-bit over the code points, modulo TERM_SHARDS);
  `stems` names a word's Snowball stem where it is not the word itself. One index for both
  languages: an entry's names, summaries and tags in Russian and English, as the database search
  indexes them (`directory.search.document`), so «Медуза» and «Meduza» find it from either side.
  Words are lower-cased with ё folded into е (`directory.search.words`); stopwords are left out but
  for those in names.
- `search/<lang>/cards/<n>.json`: `{slug: [title, excerpt, [[badge, warning], …]]}`, what a result
  shows in that language, for the slugs that hash to n (modulo CARD_SHARDS).

The browser has no stemmer, so the index carries the stems: a word typed that the index holds
matches every word of its stem, as the database search does (`Мемориал` → `мемориа`, which
«Мемориал» and «Мемориалу» share); a word it does not hold matches the words it begins (what is
still being typed) and the stem, begun by the word, of an indexed word that differs from it only in
its last three letters or fewer (another form: «политзаключённые» meets the stem «политзаключен» of
«политзаключённых»). A stopword in a query only adds to the score, unless the query has nothing else.

A weight says where the word is: in the names, 30 plus up to 9 the fewer words the names have (so
the entry called «Republic» ranks before «Czech Republic: …»), in the summaries 20, in the tags 10.

An edit rewrites only the shards whose content changed: `update` patches the term shards that held or
now hold a word of an edited entry, found through `state` (slug → the shards its words are in), and
the card shards of the edited slugs. The files are a pure function of the entries, so an updated index
is byte for byte the index a full build would write; each file's SHA-1 is kept beside its path, so a
damaged file is noticed (`intact`) and the next build is full.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from directory.search import STOPWORDS, Document, stem, words

INDEX_DIR = "search"
VERSION = 3  # of the files' layout and of what is indexed; another version means a full build
TERM_SHARDS = 256
CARD_SHARDS = 64
PREFIX = 2  # letters of a word that choose its shard; a shorter word is not indexed
NAMES, SUMMARIES, TAGS = 30, 20, 10
Postings = dict[str, dict[str, int]]  # word → {slug: weight}


@dataclass(frozen=True)
class Card:
    """What a search result shows of an entry in one language: its name, the start of its summary and
    the badges a listing shows (a designation, a paused or closed program: `warning` True)."""

    title: str
    excerpt: str
    badges: tuple[tuple[str, bool], ...] = ()


@dataclass
class Index:
    """The outcome of a build: `files` to (re)write ({path under the site: bytes}), `paths` of every
    index file the site has after it ({path: SHA-1 of its bytes}), `state` to hand to the next `update`
    (JSON-ready)."""

    files: dict[str, bytes] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    state: dict[str, str] = field(default_factory=dict)


def restore(paths: Mapping[str, str], kept: object, slugs: Iterable[str]) -> Index | None:
    """The index a build left, from the manifest's {path: SHA-1} and what it kept of it (`saved`) for
    the entries `slugs` that build had; None when it kept none of this VERSION, or kept it for other
    entries, or the two no longer agree with the digest kept beside them: then the next build must
    be full."""
    if not isinstance(kept, dict) or kept.get("version") != VERSION:
        return None
    state = kept.get("entries")
    if not isinstance(state, dict) or state.keys() != set(slugs):
        return None
    index = Index(paths={p: key for p, key in paths.items() if p.startswith(f"{INDEX_DIR}/")}, state=dict(state))
    return index if kept.get("digest") == _bookkeeping(index) else None


def saved(index: Index) -> dict[str, object]:
    """What the manifest keeps of `index` for `restore`: its state, and a digest of the state with the
    files' paths and SHA-1s, so a manifest edited or damaged in either place is not trusted."""
    return {"version": VERSION, "entries": index.state, "digest": _bookkeeping(index)}


def _bookkeeping(index: Index) -> str:
    return _sha1(json.dumps([index.state, index.paths], sort_keys=True, separators=(",", ":")).encode())


def intact(output: Path, index: Index) -> bool:
    """Whether every file of `index` is under `output` with the bytes it was written with."""
    for path, key in index.paths.items():
        try:
            if _sha1((output / path).read_bytes()) != key:
                return False
        except OSError:
            return False
    return True


def fnv1a(text: str) -> int:
    """FNV-1a, 32 bits, over the code points of `text`; `static/search.js` computes the same."""
    value = 0x811C9DC5
    for char in text:
        value = ((value ^ ord(char)) * 0x01000193) & 0xFFFFFFFF
    return value


def term_shard(word: str) -> int:
    return fnv1a(word[:PREFIX]) % TERM_SHARDS


def card_shard(slug: str) -> int:
    return fnv1a(slug) % CARD_SHARDS


def postings(document: Document) -> dict[str, int]:
    """{word: weight} of one entry's document: each word of two letters or more, at the weight of its
    best field; a stopword only from the names, where it may be what is asked for («IT visa»)."""
    names = _indexed(document.names, keep_stopwords=True)
    found = dict.fromkeys(_indexed(document.tags), TAGS)
    found |= dict.fromkeys(_indexed(document.summaries), SUMMARIES)
    found |= dict.fromkeys(names, NAMES + max(0, 10 - len(names)))
    return found


def _indexed(text: str, *, keep_stopwords: bool = False) -> set[str]:
    return {word for word in words(text) if len(word) >= PREFIX and (keep_stopwords or word not in STOPWORDS)}


def build(documents: Mapping[str, Document], cards: Mapping[str, Mapping[str, Card]]) -> Index:
    """The whole index of `documents` ({slug: Document}) with `cards` ({lang: {slug: Card}})."""
    index = Index()
    shards: dict[int, Postings] = defaultdict(lambda: defaultdict(dict))
    for slug, document in documents.items():
        found = postings(document)
        for word, weight in found.items():
            shards[term_shard(word)][word][slug] = weight
        index.state[slug] = _shard_list({term_shard(word) for word in found})
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
    there as it was written: then only a full `build` can be trusted."""
    dirty = set(dirty)
    found = {slug: postings(documents[slug]) for slug in dirty if slug in documents}
    index = Index(paths=dict(previous.paths), state={s: k for s, k in previous.state.items() if s not in dirty})
    touched: set[int] = set()
    for slug in dirty:
        touched |= _shard_numbers(previous.state.get(slug, ""))
    for slug, of_slug in found.items():
        index.state[slug] = _shard_list({term_shard(word) for word in of_slug})
        touched |= _shard_numbers(index.state[slug])
    for number in touched:
        written = _read(output, _terms_path(number), previous.paths)
        if written is None:
            return None
        shard: Postings = defaultdict(dict)
        for word, of_word in written.items():
            remaining = {slug: weight for slug, weight in of_word.items() if slug not in dirty}
            if remaining:
                shard[word] = remaining
        for slug, of_slug in found.items():
            for word, weight in of_slug.items():
                if term_shard(word) == number:
                    shard[word][slug] = weight
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
    ordered = sorted(shard)
    content = {
        "words": {word: dict(sorted(shard[word].items())) for word in ordered},
        "stems": {word: stemmed for word in ordered if (stemmed := stem(word)) != word},
    }
    _put(index, _terms_path(number), content if shard else None)


def _put_cards(index: Index, lang: str, number: int, cards: Mapping[str, Card]) -> None:
    content = {slug: [card.title, card.excerpt, [list(b) for b in card.badges]] for slug, card in sorted(cards.items())}
    _put(index, f"{INDEX_DIR}/{lang}/cards/{number}.json", content or None)


def _put(index: Index, path: str, content: object | None) -> None:
    """Write `content` at `path`, or have no file there when it is None."""
    if content is None:
        index.paths.pop(path, None)
        return
    data = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    index.files[path] = data
    index.paths[path] = _sha1(data)


def _terms_path(number: int) -> str:
    return f"{INDEX_DIR}/terms/{number}.json"


def _read(output: Path, path: str, paths: Mapping[str, str]) -> Postings | None:
    """The words of the term shard at `path` as the last build wrote it ({} when it wrote none); None
    when the file is gone or its bytes are not what was written."""
    if path not in paths:
        return {}
    try:
        data = (output / path).read_bytes()
    except OSError:
        return None
    if _sha1(data) != paths[path]:
        return None
    content: Postings = json.loads(data)["words"]
    return content


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def _shard_list(numbers: set[int]) -> str:
    """Shard numbers as the manifest keeps them: two hex digits each, ascending ("03a1ff")."""
    return "".join(f"{n:02x}" for n in sorted(numbers))


def _shard_numbers(text: str) -> set[int]:
    return {int(text[i : i + 2], 16) for i in range(0, len(text), 2)}
