"""`python -m crawlers.egg OUT.egg [--version V]`: the egg that scrapyd runs Nansen's spiders from.

scrapyd takes a project as an egg (its `addversion.json`) and finds the project's settings through
the egg's `scrapy` entry point, here `crawlers.project`. The egg holds the packages a crawl imports,
`crawlers` and `directory`, as they are in this checkout; the libraries they need (Scrapy,
SQLAlchemy, psycopg…) are not in it: install nansen itself on every scrapyd machine. It is written
here rather than by `scrapyd-deploy`, which drops a setup.py next to pyproject.toml and builds with
the legacy `setup.py bdist_egg`.
"""

from __future__ import annotations

import argparse
import zipfile
from collections.abc import Sequence
from pathlib import Path

import crawlers
import directory

PACKAGES = (crawlers, directory)
ENTRY_POINTS = "[scrapy]\nsettings = crawlers.project\n"


def build_egg(path: Path, version: str = "0") -> Path:
    """Write the egg to `path` (a zip: EGG-INFO metadata and the packages' files, no bytecode)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as egg:
        egg.writestr("EGG-INFO/PKG-INFO", f"Metadata-Version: 1.1\nName: nansen\nVersion: {version}\n")
        egg.writestr("EGG-INFO/entry_points.txt", ENTRY_POINTS)
        for package in PACKAGES:
            root = Path(package.__file__ or "").parent
            for file in sorted(root.rglob("*")):
                if file.is_file() and "__pycache__" not in file.parts:
                    egg.write(file, file.relative_to(root.parent).as_posix())
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawlers.egg", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("path", type=Path, help="where to write the egg, e.g. nansen.egg")
    parser.add_argument("--version", default="0", help="the version recorded in the egg's metadata")
    args = parser.parse_args(argv)
    build_egg(args.path, args.version)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
