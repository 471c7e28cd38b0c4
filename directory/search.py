"""Full-text search over names, summaries and tags in Russian and English, ranked.

Readers type Russian in any case form («политзаключённым», «политзаключённых»), so search needs
morphology. PostgreSQL has it built in (`russian` and `english` text search configurations); SQLite's
FTS5 has no Russian stemmer, so on SQLite both the indexed text and the query are reduced to Snowball
stems here in Python, and FTS5 ranks them with BM25. The index is kept in step by `index_entry`, which
the curation service calls on every write, inside the same transaction.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from directory.models import Entry
from directory.names import searchable_country_names
from directory.taxonomy import DESIGNATION_KIND_BY_SLUG, TOPIC_BY_SLUG

_WORD = re.compile(r"\w+", re.UNICODE)
_CYRILLIC = re.compile(r"[а-яё]")
# Words that carry no meaning in a query; FTS5 would otherwise require them to appear.
STOPWORDS = frozenset(
    "a an and are as at be by for from in into is it of on or that the this to with who what "
    "и в во не на с со по за из к ко о об от до для что как а но или у же ли бы это то".split()
)


@functools.cache
def _stemmer(language: str) -> Any:

    import snowballstemmer  # noqa: PLC0415 - its 30 languages load when SQLite search needs a stem

    return snowballstemmer.stemmer(language)


def words(text_: str) -> list[str]:
    """The text's words (runs of `\\w`), lower-cased, with ё folded into е: what is stemmed."""
    return [word.replace("ё", "е") for word in _WORD.findall(text_.lower())]


def stems(text_: str, *, keep_stopwords: bool = True) -> list[str]:
    """Lower-cased Snowball stems: Russian for Cyrillic words, English for the rest."""
    return [stem(word) for word in words(text_) if keep_stopwords or word not in STOPWORDS]


@functools.lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """One word's stem, remembered: the pure-Python stemmers take most of the time of indexing an entry,
    and words recur (an import of 10,000 entries stems each common word thousands of times)."""
    language = "russian" if _CYRILLIC.search(word) else "english"
    return _stemmer(language).stemWord(word)


@functools.cache
@dataclass(frozen=True)
class Document:
    """The searchable text of an entry in three weights: names, then summaries, then tags."""

    names: str
    summaries: str
    tags: str


def document(entry: Entry) -> Document:
    tags: list[str] = []
    for slug in entry.topics or []:
        topic = TOPIC_BY_SLUG.get(slug)
        if topic:
            tags += [topic.en, topic.ru]
    for code in entry.host_countries or []:
        tags += list(searchable_country_names(code))
    for designation in entry.designations or []:
        kind = DESIGNATION_KIND_BY_SLUG.get(designation.get("kind", ""))
        if kind and not designation.get("lifted"):
            tags += [kind.en, kind.ru, *kind.also]
    summaries = [entry.summary_en, entry.summary_ru, entry.eligibility_en or "", entry.eligibility_ru or ""]
    summaries += [entry.state_note_en or "", entry.state_note_ru or ""]
    return Document(
        names=f"{entry.name_en} {entry.name_ru} {entry.slug.replace('-', ' ')}",
        summaries=" ".join(summaries),
        tags=" ".join(tags),
    )


def index_entry(session: Session, entry: Entry) -> None:
    """Write the entry's search document (replacing any older one)."""
    doc = document(entry)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(
                "INSERT INTO entry_search (entry_id, document) VALUES (:id, "
                "setweight(to_tsvector('english', :names) || to_tsvector('russian', :names), 'A') || "
                "setweight(to_tsvector('english', :summaries) || to_tsvector('russian', :summaries), 'B') || "
                "setweight(to_tsvector('english', :tags) || to_tsvector('russian', :tags), 'C')) "
                "ON CONFLICT (entry_id) DO UPDATE SET document = EXCLUDED.document"
            ),
            {"id": entry.id, **_folded(doc)},
        )
    else:
        session.execute(text("DELETE FROM entry_fts WHERE rowid = :id"), {"id": entry.id})
        session.execute(
            text("INSERT INTO entry_fts (rowid, names, summaries, tags) VALUES (:id, :names, :summaries, :tags)"),
            {
                "id": entry.id,
                "names": " ".join(stems(doc.names)),
                "summaries": " ".join(stems(doc.summaries)),
                "tags": " ".join(stems(doc.tags)),
            },
        )


def _folded(doc: Document) -> dict[str, str]:
    """ё → е before PostgreSQL sees the text, so «ё» and «е» spellings meet in one lexeme."""
    return {name: _yo_folded(value) for name, value in vars(doc).items()}


@dataclass(frozen=True)
class Hit:
    entry_id: int
    rank: float


def search_ids(session: Session, query: str, *, limit: int = 50) -> list[Hit]:
    """Entry ids matching every meaningful word of `query`, best first."""
    if session.get_bind().dialect.name == "postgresql":
        return _search_postgresql(session, query, limit)
    return _search_sqlite(session, query, limit)


# A query in both languages' configurations, as the documents are indexed: `:q` bound to the words.
_PG_QUERY = "(websearch_to_tsquery('english', :q) || websearch_to_tsquery('russian', :q))"


# Every match ranked, best first: `:q` the ё-folded query, `:limit` how many.
# - The query is made once, in a materialized CTE: inlined, it is constant-folded only in a custom plan;
#   the generic plan PostgreSQL switches to after a connection's tenth run (psycopg prepares at the
#   fifth) made both queries again for every matching row, in `ts_rank_cd`: 4-5× slower.
# - Words in Latin letters give the same query in both configurations (`russian` stems them as
#   English): it is then used once, which matches and ranks the same and halves the work of
#   `ts_rank_cd`, most of a search's time.
# The planner picks the GIN index for it (migration 0006); tests/test_search_plan.py EXPLAINs it.
PG_SEARCH = (
    "WITH query AS MATERIALIZED (SELECT CASE WHEN en = ru THEN en ELSE en || ru END AS q FROM (SELECT "
    "websearch_to_tsquery('english', :q) AS en, websearch_to_tsquery('russian', :q) AS ru) AS parts) "
    "SELECT entry_id, ts_rank_cd(document, q) AS score FROM entry_search, query "
    "WHERE document @@ q ORDER BY score DESC, entry_id LIMIT :limit"
)


def count_matches(session: Session, query: str) -> int:
    """How many entries `search_ids` would find with no limit (to say "20 of 22")."""
    if session.get_bind().dialect.name == "postgresql":
        return int(
            session.scalar(
                text(f"SELECT count(*) FROM entry_search WHERE document @@ {_PG_QUERY}"),
                {"q": _yo_folded(query)},
            )
            or 0
        )
    match = _fts_match(query)
    if match is None:
        return 0
    return int(
        session.scalar(text("SELECT count(*) FROM entry_fts WHERE entry_fts MATCH :match"), {"match": match}) or 0
    )


def _fts_match(query: str) -> str | None:
    """The FTS5 MATCH expression of `query`: every meaningful stem, quoted; None when there is none."""
    terms = stems(query, keep_stopwords=False) or stems(query)
    return " ".join(f'"{term}"' for term in dict.fromkeys(terms)) if terms else None


def _yo_folded(text_: str) -> str:
    """ё → е, as the indexed documents have it (`_folded`)."""
    return text_.replace("ё", "е").replace("Ё", "Е")


def _search_sqlite(session: Session, query: str, limit: int) -> list[Hit]:
    match = _fts_match(query)
    if match is None:
        return []
    rows = session.execute(
        text(
            "SELECT rowid, bm25(entry_fts, 10.0, 3.0, 1.0) AS score FROM entry_fts "
            "WHERE entry_fts MATCH :match ORDER BY score, rowid LIMIT :limit"
        ),
        {"match": match, "limit": limit},
    )
    return [Hit(entry_id=row[0], rank=-row[1]) for row in rows]


def _search_postgresql(session: Session, query: str, limit: int) -> list[Hit]:
    folded = _yo_folded(query)
    rows = session.execute(text(PG_SEARCH), {"q": folded, "limit": limit})
    return [Hit(entry_id=row[0], rank=float(row[1])) for row in rows]
