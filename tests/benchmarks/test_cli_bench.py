"""CLI listing speed on 1,000 entries, against `sqlite-utils rows` on the same SQLite file.

Run by `make bench` (not `make test`). Each command runs in its own process, as a person runs it,
seven times interleaved with the others so that load on the machine falls on all of them alike;
the figures are medians of wall time and of CPU time (user + system, which load disturbs less).
Bytecode is cached as in an installed tool (the test environment may set PYTHONDONTWRITEBYTECODE,
which would make every run compile the project's modules again): in a folder of the test's own.

Targets (issue 13): `entries list --format json` at most 1.5x `sqlite-utils rows`; the table form at
most 1.5x the JSON.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from directory.store import Store, upgrade
from pipeline.config import MIGRATION_LOCATIONS
from tests.benchmarks.test_directory_bench import populate
from tests.conftest import REPO

BIN = Path(sys.executable).parent
RUNS = 7


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) for one run of `command`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def test_entries_list_against_sqlite_utils(tmp_path: Path) -> None:
    database = tmp_path / "nansen.db"
    store = Store(f"sqlite:///{database}", create=True)
    upgrade(store.engine, locations=MIGRATION_LOCATIONS)
    populate(store, 1000)
    store.close()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env |= {"NANSEN_DATABASE_URL": f"sqlite:///{database}", "PYTHONPYCACHEPREFIX": str(tmp_path / "pycache")}
    env |= {"COLUMNS": "200"}  # a wide terminal: the table form, not blocks
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "sqlite-utils rows entries": [str(BIN / "sqlite-utils"), "rows", str(database), "entries"],
        "nansen --help": [str(BIN / "nansen"), "--help"],
        "nansen entries list --format json": [str(BIN / "nansen"), "entries", "list", "--format", "json"],
        "nansen entries list (table)": [str(BIN / "nansen"), "entries", "list"],
    }
    for command in commands.values():  # warm: bytecode written, files in the page cache
        _timed(command, env)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(RUNS):
        for name, command in commands.items():
            times[name].append(_timed(command, env))
    wall = {name: statistics.median(t[0] for t in runs) for name, runs in times.items()}
    cpu = {name: statistics.median(t[1] for t in runs) for name, runs in times.items()}
    baseline = "sqlite-utils rows entries"
    print(f"\nCLI on 1,000 entries (SQLite), medians of {RUNS} interleaved runs; ratio to {baseline}:")
    print(f"  {'command':36} {'wall':>9} {'ratio':>6} {'CPU':>9} {'ratio':>6}")
    for name in commands:
        print(
            f"  {name:36} {wall[name] * 1000:6.0f} ms {wall[name] / wall[baseline]:5.2f}x "
            f"{cpu[name] * 1000:6.0f} ms {cpu[name] / cpu[baseline]:5.2f}x"
        )
    json_, table = "nansen entries list --format json", "nansen entries list (table)"
    print(f"  table / JSON: {wall[table] / wall[json_]:.2f}x wall, {cpu[table] / cpu[json_]:.2f}x CPU (target <= 1.5x)")
    print(f"  JSON / sqlite-utils: {wall[json_] / wall[baseline]:.2f}x wall (target <= 1.5x)")
    assert wall[json_] > wall["python -c pass"]
