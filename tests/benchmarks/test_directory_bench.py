"""Directory benchmarks: CLI cold start on 1,000 entries, search on 10,000 entries.

Run by `make bench` (not `make test`). Each figure is a median, printed next to a baseline measured in
the same run on the same machine: Python's own start-up for the CLI, and a naive `LIKE` scan (no
morphology, no ranking) for search. Both databases when NANSEN_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import or_, select

from directory import entries
from directory.models import Entry
from directory.store import Store
from directory.taxonomy import TOPICS
from tests.conftest import REPO

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


def populate(store: Store, count: int) -> None:
    rng = random.Random(1917)
    filler_en = _filler(rng, "abcdefghijklmnoprstuvwy", 3000)
    filler_ru = _filler(rng, "абвгдеёжзиклмнопрстуфхцчшыэюя", 3000)
    actor = entries.Actor("bench", "bench")
    batch = 500
    for start in range(0, count, batch):
        with store.session() as session:
            for i in range(start, min(start + batch, count)):
                entries.apply(session, _record(rng, i, filler_en, filler_ru), actor)


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _backend(store: Store) -> str:
    return store.engine.dialect.name


def test_cli_cold_start_on_1000_entries(store: Store) -> None:
    populate(store, 1000)
    nansen = str(Path(sys.executable).with_name("nansen"))
    env = {**os.environ, "NANSEN_DATABASE_URL": store.url}

    def cli(*args: str) -> Callable[[], object]:
        return lambda: subprocess.run(args, env=env, cwd=REPO, check=True, capture_output=True)

    baseline = median_seconds(cli(sys.executable, "-c", "pass"), 7)
    help_ = median_seconds(cli(nansen, "--help"), 7)
    listing = median_seconds(cli(nansen, "entries", "list", "--format", "json"), 7)
    table = median_seconds(cli(nansen, "entries", "list"), 7)
    print(f"\n[{_backend(store)}] CLI cold start, medians of 7 (1,000 entries):")
    print(f"  python -c pass (baseline)        {baseline * 1000:8.1f} ms   1.00x")
    print(f"  nansen --help                    {help_ * 1000:8.1f} ms   {help_ / baseline:5.2f}x")
    print(f"  nansen entries list --format json{listing * 1000:8.1f} ms   {listing / baseline:5.2f}x")
    print(f"  nansen entries list (table)      {table * 1000:8.1f} ms   {table / baseline:5.2f}x")
    assert listing > baseline


def test_search_on_10000_entries(store: Store) -> None:
    started = time.perf_counter()
    populate(store, 10_000)
    load = time.perf_counter() - started

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

    print(f"\n[{_backend(store)}] search on 10,000 entries (loaded with revisions and index in {load:.1f} s),")
    print("  medians of 15 runs; FTS ranks every match and returns the top 20, the baseline finds every")
    print("  match by substring (no morphology, no ranking); hits = FTS matches returned:")
    print(f"  {'query':24} {'ranked FTS':>12} {'LIKE scan':>12} {'ratio':>7} {'hits':>5}")
    ratios = []
    for query in QUERIES:
        hits = ranked(query)()
        assert hits, query
        fts = median_seconds(ranked(query), 15)
        like = median_seconds(naive(query), 15)
        ratios.append(fts / like)
        print(f"  {query:24} {fts * 1000:9.2f} ms {like * 1000:9.2f} ms {fts / like:6.2f}x {len(hits):5}")
    print(f"  median ratio FTS/LIKE: {statistics.median(ratios):.2f}x")


@pytest.fixture(autouse=True)
def _announce(request: pytest.FixtureRequest) -> None:
    print(f"\n== {request.node.name}")
