"""`make demo`: the directory end to end on the embedded default, in a scratch folder.

It initializes a SQLite database in `demo-output/`, imports the curated data in `data/`, shows what
a maintainer sees (statistics, paused programs, a search in each language, an HSDS export), and
publishes the feeds and the bilingual site. Crawling and newsletters join this run as they land.
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
        [
            "entries",
            "edit",
            "de-humanitarian-admission",
            "--set",
            "status_note=Demo: checked again, still paused.",
            "--reason",
            "demo",
        ],
        ["publish", "--output", str(OUTPUT / "public")],
    ]
    for args in steps:
        print(f"\n$ nansen {' '.join(repr(a) if ' ' in a else a for a in args)}")
        result = runner.invoke(app, args, env=env)
        print(result.output, end="")
        if result.exit_code != 0:
            raise SystemExit(f"demo step failed: nansen {' '.join(args)}")
    public = OUTPUT / "public"
    database = f"NANSEN_DATABASE_URL=sqlite:///{OUTPUT / 'nansen.db'}"
    print("\nDone. Look at:")
    print(f"  the site          {public / 'ru' / 'index.html'} and {public / 'en' / 'index.html'}")
    print(f"  the feeds         {public / 'ru' / 'feeds' / 'all.atom'} (and per kind, country, topic, language)")
    print(f"  the OPML          {public / 'ru' / 'organizations.opml'}")
    print(f"  HSDS tables       {OUTPUT / 'hsds'}/")
    print(f"  the database      {database} .venv/bin/nansen entries history de-humanitarian-admission")
    print(f"  a preview server  {database} .venv/bin/nansen serve --directory {public}")


if __name__ == "__main__":
    main()
