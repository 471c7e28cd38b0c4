"""`nansen import` of 1,000, 5,000 and 10,000 entries from JSON, YAML and CSV: time per 1,000 entries.

Each import runs in a process of its own, cold as `nansen import` starts, into a new SQLite database:
`imports.import_paths` in one unit of work (read, check, write entries, revisions and search index,
commit), timed inside the process; its peak memory is measured by GNU time (`measure.run_measured`).
The baseline is the 1,000-entry import of the same format in the same run: an import linear in its
entries keeps the time per 1,000 flat, where the quadratic one it replaced took 3 to 4 times as long
for twice the entries (1,000: 5.7 s, 2,000: 19 s, 4,000: 76 s). Entries are generated to today's
lengths (summaries of about 600 characters in each language, sources, designations, warnings, program
texts) from a vocabulary of 40,000 pseudo-words per language drawn by Zipf's law, as words occur in text.
"""

from __future__ import annotations

import bisect
import itertools
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from directory import entries, exports, imports
from directory.models import Entry, Revision
from directory.store import Store, upgrade
from directory.taxonomy import AUTHORITIES, DESIGNATION_KINDS, TOPICS
from pipeline.config import MIGRATION_LOCATIONS
from tests.benchmarks.measure import run_measured
from tests.conftest import REPO

SIZES = (1_000, 5_000, 10_000)
FORMATS = ("json", "yaml", "csv")
COUNTRIES = ["GE", "AM", "KZ", "RS", "LV", "LT", "DE", "PL", "TR", "IL", "ME", "FR", "NL", "CZ"]


class Words:
    """Pseudo-words of one alphabet, drawn with probability falling as 1/rank (Zipf's law)."""

    def __init__(self, rng: random.Random, alphabet: str, size: int) -> None:
        self.rng = rng
        self.words = ["".join(rng.choices(alphabet, k=rng.randint(2, 11))) for _ in range(size)]
        self.cumulative = list(itertools.accumulate(1 / rank for rank in range(1, size + 1)))

    def text(self, count: int) -> str:
        total = self.cumulative[-1]
        picks = (bisect.bisect(self.cumulative, self.rng.random() * total) for _ in range(count))
        return " ".join(self.words[min(pick, len(self.words) - 1)] for pick in picks)


def generate(count: int) -> list[dict[str, Any]]:
    """`count` valid entries as full flat records, the same for every format."""
    rng = random.Random(1922)
    en = Words(rng, "abcdefghijklmnoprstuvwy", 40_000)
    ru = Words(rng, "абвгдеёжзиклмнопрстуфхцчшыэюя", 40_000)
    topics = [topic.slug for topic in TOPICS]
    records = []
    for i in range(count):
        kind = rng.choice(["media", "ngo", "program"])
        site = f"https://org{i}.example.org"
        record: dict[str, Any] = {
            **entries.blank_record(),
            "slug": f"org-{i}",
            "kind": kind,
            "name.en": en.text(4).title(),
            "name.ru": ru.text(4).capitalize(),
            "summary.en": en.text(85) + ".",
            "summary.ru": ru.text(75) + ".",
            "website": site,
            "other_domains": [f"org{i}.example.net"],
            "feeds": [f"{site}/feed.xml"],
            "host_countries": rng.sample(COUNTRIES, 1 if kind == "program" else rng.randint(1, 3)),
            "countries_served": ["RU", "BY"],
            "languages": ["ru", "en"],
            "topics": rng.sample(topics, 2),
            "contacts.email": f"info@org{i}.example.org",
            "contacts.telegram": f"https://t.me/org{i}_news",
            "verified_at": "2025-11-20T00:00:00+00:00",
            "verified_by": "bench",
            "source": f"{site}/about ; https://news.example.com/{i}",
            "warnings": [{"en": en.text(20), "ru": ru.text(18), "date": "2024-06", "source": f"{site}/w"}]
            if i % 10 == 0
            else [],
        }
        if kind == "program":
            record |= {
                "program.state": rng.choice(["open", "paused", "unknown"]),
                "program.state_since": "2025-07",
                "program.eligibility.en": en.text(40),
                "program.eligibility.ru": ru.text(35),
                "program.official_url": f"{site}/program",
            }
        else:
            authority, designation = rng.choice(AUTHORITIES).slug, rng.choice(DESIGNATION_KINDS).slug
            record["designations"] = [
                {"authority": authority, "kind": designation, "date": "2022-03", "source": f"{site}/register"}
            ]
        records.append(record)
    return records


def timed_import(database_url: str, path: Path, count: int) -> float:
    """Seconds for one import of `path` into a new database, checked to have written every entry. Run in
    a process of its own (`run_import`), so each import starts as `nansen import` does: cold."""
    store = Store(database_url, create=True)
    upgrade(store.engine, locations=MIGRATION_LOCATIONS)
    started = time.perf_counter()
    with store.session() as session:
        plan = imports.import_paths(session, [path], "bench")
    elapsed = time.perf_counter() - started
    with store.session() as session:
        written = (session.scalar(select(func.count(Entry.id))), session.scalar(select(func.count(Revision.id))))
    assert (plan.count("create"), *written) == (count, count, count), written
    store.close()
    return elapsed


def run_import(folder: Path, path: Path, count: int) -> tuple[float, float]:
    """(seconds of the import, peak MiB of its process) for `timed_import` in a child process."""
    url = f"sqlite:///{folder / 'nansen.db'}"
    command = [sys.executable, "-m", "tests.benchmarks.test_import_bench", url, str(path), str(count)]
    _, peak, output, _ = run_measured(command, env=os.environ, cwd=REPO)
    return float(output.strip().splitlines()[-1]), peak


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return generate(max(SIZES))


@pytest.mark.parametrize("fmt", FORMATS)
def test_import_time_is_linear_in_entries(
    fmt: str, records: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    print(f"\n[sqlite] import of {fmt.upper()} into a new database, each in its own process; baseline: 1,000 entries")
    print(f"  {'entries':>8} {'file MB':>8} {'seconds':>8} {'s/1,000':>8} {'vs 1,000':>9} {'peak MiB':>9}")
    per_thousand: dict[int, float] = {}
    for count in SIZES:
        folder = tmp_path_factory.mktemp(f"{fmt}{count}")
        path = folder / f"entries.{fmt}"
        path.write_text(exports.render(records[:count], fmt), encoding="utf-8")
        seconds, peak = run_import(folder, path, count)
        per_thousand[count] = seconds / count * 1000
        ratio = per_thousand[count] / per_thousand[SIZES[0]]
        megabytes = path.stat().st_size / 1e6
        print(
            f"  {count:>8,} {megabytes:>8.1f} {seconds:>8.2f} {per_thousand[count]:>8.2f} {ratio:>8.2f}x {peak:>9.0f}"
        )
    # Quadratic time would make this 10x; a shared machine's noise is well under 2x.
    assert per_thousand[SIZES[-1]] < 2 * per_thousand[SIZES[0]]


@pytest.fixture(autouse=True)
def _announce(request: pytest.FixtureRequest) -> None:
    print(f"\n== {request.node.name}")


if __name__ == "__main__":
    print(timed_import(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])))
