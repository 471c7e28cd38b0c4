"""`make demo`: the directory end to end on the embedded default, in a scratch folder.

It initializes a SQLite database in `demo-output/`, imports the curated data in `data/`, and shows
what a maintainer sees: statistics, programs by state, a search in each language, an HSDS export.
Crawling, publishing and newsletters join this run as those parts land.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from pipeline.cli import app

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "demo-output"


def main() -> None:
    if OUTPUT.exists():
        shutil.rmtree(OUTPUT)
    OUTPUT.mkdir()
    env = {
        "NANSEN_DATABASE_URL": f"sqlite:///{OUTPUT / 'nansen.db'}",
        "NANSEN_ACTOR": "demo",
        "COLUMNS": "120",
    }
    runner = CliRunner()
    steps = [
        ["init"],
        ["import", str(REPO / "data")],
        ["stats"],
        ["entries", "list", "--kind", "program", "--state", "paused"],
        ["entries", "search", "political prisoners", "--limit", "5"],
        ["entries", "search", "политзаключённым", "--limit", "5", "--lang", "ru"],
        ["export", "--format", "hsds", "--output", str(OUTPUT / "hsds")],
        ["export", "--format", "csv", "--output", str(OUTPUT / "entries.csv")],
    ]
    for args in steps:
        print(f"\n$ nansen {' '.join(repr(a) if ' ' in a else a for a in args)}")
        result = runner.invoke(app, args, env=env)
        print(result.output, end="")
        if result.exit_code != 0:
            raise SystemExit(f"demo step failed: nansen {' '.join(args)}")
    print(
        f"\nDone. Look at: {OUTPUT / 'nansen.db'} (try NANSEN_DATABASE_URL=sqlite:///{OUTPUT / 'nansen.db'} "
        f".venv/bin/nansen entries show meduza), {OUTPUT / 'hsds'}/, {OUTPUT / 'entries.csv'}"
    )


if __name__ == "__main__":
    main()
