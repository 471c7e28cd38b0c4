"""Directory benchmarks: search on 10,000 entries (the CLI on 1,000: test_cli_bench.py).

Run by `make bench` (not `make test`). Each figure is a median, printed next to a baseline measured in
the same run on the same machine: a naive `LIKE` scan (no morphology, no ranking) and, on PostgreSQL,
the search statement before migration 0006 on the table as 0005 stored it. Both databases when
NANSEN_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import itertools
import random
import statistics
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import or_, select, text

from directory import entries, search
from directory.models import Entry
from directory.store import Store, upgrade
from directory.taxonomy import TOPICS
from pipeline.config import MIGRATION_LOCATIONS

WORDS_EN = (
    "legal aid political prisoners relocation visa residence permit psychological support journalism "
    "investigations education humanitarian help shelter lawyers volunteers letters parcels mobilisation "
    "asylum documents passports community exile news Riga Tbilisi Yerevan Belgrade Berlin Almaty"
).split()
WORDS_RU = (
    "юридическая помощь политзаключённым релокация виза вид на жительство психологическая поддержка "
    "журналистика расследования образование гуманитарная приют адвокаты волонтёры письма посылки "
    "мобилизация убежище документы паспорта сообщество эмиграция новости Рига Тбилиси Ереван Белград"
).split()
COUNTRIES = ["GE", "AM", "KZ", "RS", "LV", "LT", "DE", "PL", "TR", "IL", "ME", "FR", "NL", "CZ"]
QUERIES = ["political prisoners", "политзаключённым", "visa residence", "юридическая помощь", "journalism Riga"]


def _filler(rng: random.Random, alphabet: str, count: int) -> list[str]:
    """Pseudo-words, so that query words are as selective as in real summaries (a few % of entries)."""
    return ["".join(rng.choices(alphabet, k=rng.randint(4, 10))) for _ in range(count)]


def _text(rng: random.Random, filler: list[str], topical: list[str], words: int) -> str:
    return " ".join(rng.choice(topical) if rng.random() < 0.04 else rng.choice(filler) for _ in range(words))


def _record(rng: random.Random, i: int, filler_en: list[str], filler_ru: list[str]) -> dict:
    kind = rng.choice(["media", "ngo", "program"])
    record = {
        "slug": f"bench-{i}",
        "kind": kind,
        "name.en": _text(rng, filler_en, WORDS_EN, 3).title(),
        "name.ru": _text(rng, filler_ru, WORDS_RU, 3).capitalize(),
        "summary.en": _text(rng, filler_en, WORDS_EN, 40) + ".",
        "summary.ru": _text(rng, filler_ru, WORDS_RU, 40) + ".",
        "website": f"https://org{i}.example.org",
        "host_countries": rng.sample(COUNTRIES, 1 if kind == "program" else rng.randint(1, 3)),
        "countries_served": ["RU"],
        "languages": ["ru", "en"],
        "topics": rng.sample([topic.slug for topic in TOPICS], 2),
    }
    if kind == "program":
        record["program.state"] = rng.choice(["open", "paused", "unknown"])
    return record


def bench_records(count: int) -> Iterator[dict]:
    """`count` flat records, the same ones every run: summaries of 40 words, a few % of them topical."""
    rng = random.Random(1917)
    filler_en = _filler(rng, "abcdefghijklmnoprstuvwy", 3000)
    filler_ru = _filler(rng, "абвгдеёжзиклмнопрстуфхцчшыэюя", 3000)
    return (_record(rng, i, filler_en, filler_ru) for i in range(count))


def populate(store: Store, count: int) -> None:
    actor = entries.Actor("bench", "bench")
    records = bench_records(count)
    for batch in iter(lambda: list(itertools.islice(records, 500)), []):
        with store.session() as session:
            for record in batch:
                entries.apply(session, record, actor)


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _backend(store: Store) -> str:
    return store.engine.dialect.name


def test_search_on_10000_entries(database_url: str) -> None:
    """Loaded at schema 0005, upgraded to the heads (0006 moves PostgreSQL's documents in line; nothing
    on SQLite). The baseline on PostgreSQL is the statement before 0006 on a copy of the table as 0005
    left it, taken before upgrading; its runs alternate with the new ones so that both see the same load.
    The `LIKE` scan is a second, naive baseline on both databases."""
    store = Store(database_url, create=True)
    upgrade(store.engine, "0005")
    started = time.perf_counter()
    populate(store, 10_000)
    load = time.perf_counter() - started
    postgresql = _backend(store) == "postgresql"
    if postgresql:
        _copy_of_the_0005_layout(store)
    started = time.perf_counter()
    upgrade(store.engine, locations=MIGRATION_LOCATIONS)
    migrated = time.perf_counter() - started

    def new_ids(query: str) -> Callable[[], list]:
        def run() -> list:
            with store.session() as session:
                return [(hit.entry_id, hit.rank) for hit in search.search_ids(session, query, limit=20)]

        return run

    def old_ids(query: str) -> Callable[[], list]:
        def run() -> list:
            with store.session() as session:
                rows = session.execute(text(OLD_PG_SEARCH_0005), {"q": query.replace("ё", "е"), "limit": 20})
                return [(entry_id, rank) for entry_id, rank in rows]

        return run

    def ranked(query: str) -> Callable[[], list]:
        def run() -> list:
            with store.session() as session:
                return entries.search_entries(session, query, limit=20)

        return run

    def naive(query: str) -> Callable[[], list]:
        words = query.split()

        def run() -> list:
            with store.session() as session:
                columns = (Entry.name_en, Entry.name_ru, Entry.summary_en, Entry.summary_ru)
                condition = [or_(*(c.ilike(f"%{w}%") for c in columns)) for w in words]
                return list(session.scalars(select(Entry).where(*condition)))[:20]

        return run

    print(f"\n[{_backend(store)}] search on 10,000 entries (loaded at 0005 with revisions and index in {load:.1f} s,")
    print(f"  upgraded in {migrated:.1f} s), medians of 15 runs. `old` is the statement before 0006 on the")
    print("  0005 layout (PostgreSQL only), `new` the same ids and ranks as search_ids gives them now, `entries`")
    print("  what `nansen search` runs (search_ids, then the entries), `LIKE` a substring scan (no morphology,")
    print("  no ranking); hits = matches returned:")
    print(f"  {'query':22} {'old':>9} {'new':>9} {'new/old':>8} {'entries':>9} {'LIKE':>9} {'hits':>5}")
    new_times, entries_times = [], []
    for query in QUERIES:
        hits = new_ids(query)()
        assert hits, query
        if postgresql:
            assert hits == old_ids(query)(), query  # the same entries, the same ranks
            old, new = median_seconds_alternating(old_ids(query), new_ids(query), 15)
            old_ms, ratio = f"{old * 1000:6.2f} ms", f"{new / old:7.2f}x"
        else:
            new, old_ms, ratio = median_seconds(new_ids(query), 15), f"{'-':>9}", f"{'-':>8}"
        end_to_end = median_seconds(ranked(query), 15)
        like = median_seconds(naive(query), 15)
        new_times.append(new)
        entries_times.append(end_to_end)
        print(
            f"  {query:22} {old_ms} {new * 1000:6.2f} ms {ratio} {end_to_end * 1000:6.2f} ms"
            f" {like * 1000:6.2f} ms {len(hits):5}"
        )
    print(
        f"  p50 over the queries: new {statistics.median(new_times) * 1000:.2f} ms,"
        f" entries {statistics.median(entries_times) * 1000:.2f} ms"
    )
    store.close()


# The search statement before migration 0006, on the copy of the table as 0005 left it.
OLD_PG_SEARCH = (
    "SELECT entry_id, ts_rank_cd(document, q) AS score FROM entry_search, "
    "(SELECT (websearch_to_tsquery('english', :q) || websearch_to_tsquery('russian', :q)) AS q) AS query "
    "WHERE document @@ q ORDER BY score DESC, entry_id LIMIT :limit"
)
OLD_PG_SEARCH_0005 = OLD_PG_SEARCH.replace("FROM entry_search,", "FROM entry_search_0005,")


def _copy_of_the_0005_layout(store: Store) -> None:
    """entry_search as 0005 stores it, copied to entry_search_0005: the documents in TOAST, and the GIN
    index taking rows through its pending list (created first, as the writes went)."""
    with store.session() as session:
        session.execute(text("CREATE TABLE entry_search_0005 (LIKE entry_search INCLUDING ALL)"))
        session.execute(text("INSERT INTO entry_search_0005 SELECT entry_id, document FROM entry_search"))
        session.execute(text("ANALYZE entry_search_0005"))


def median_seconds_alternating(a: Callable[[], object], b: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Medians of `a` and `b`, run in turns, so that a change in the machine's load falls on both."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for run, kept in ((a, times[0]), (b, times[1])):
            started = time.perf_counter()
            run()
            kept.append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


@pytest.fixture(autouse=True)
def _announce(request: pytest.FixtureRequest) -> None:
    print(f"\n== {request.node.name}")
