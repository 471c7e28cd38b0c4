"""The static site's search index, built by Pagefind (https://pagefind.app) from the entry pages.

Pagefind reads the built HTML and writes a chunked index and a small UI under `pagefind/`, which the
search pages load in the browser: no server, Russian and English stemming by each page's `lang`. It
is progressive enhancement: every page works without JavaScript, and the search pages say how to
browse instead. The index is a pure function of the pages (Pagefind writes the same bytes for the same
input), so a publish with nothing changed rewrites nothing, the index included.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from directory.errors import DomainError

INDEX_DIR = "pagefind"
# Only the entries are search results; listings would only repeat them.
PAGES = "{ru,en}/entries/*.html"


class SearchIndexFailed(DomainError):
    """Pagefind could not index the site; the message has its last line of output."""


def build(site: Path) -> dict[str, bytes]:
    """The index files of the entry pages under `site`, keyed by path relative to `site` (`pagefind/…`).

    Runs the Pagefind binary that `pagefind[bin]` installs, writing into a temporary folder, so the
    caller decides what to (re)write. Raises SearchIndexFailed when Pagefind fails.
    """
    with tempfile.TemporaryDirectory(prefix="nansen-pagefind-") as tmp:
        result = subprocess.run(
            [sys.executable, "-m", "pagefind", "--site", str(site), "--glob", PAGES, "--output-path", tmp, "--silent"],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise SearchIndexFailed(f"the search index could not be built (pagefind): {last[0]}")
        root = Path(tmp)
        return {
            f"{INDEX_DIR}/{path.relative_to(root).as_posix()}": path.read_bytes()
            for path in sorted(root.rglob("*"))
            if path.is_file()
        }
