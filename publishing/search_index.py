"""The static site's search index, built by Pagefind (https://pagefind.app) from the entry pages.

Pagefind reads the built HTML and writes a chunked index and a small UI under `pagefind/`, which the
search pages load in the browser: no server, Russian and English stemming by each page's `lang`. It
is progressive enhancement: every page works without JavaScript, and the search pages say how to
browse instead. The index is a pure function of the pages (Pagefind writes the same bytes for the same
input), so a publish with nothing changed rewrites nothing, the index included.
"""

from __future__ import annotations

import json
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
    caller decides what to (re)write; an empty directory has no index. Raises SearchIndexFailed when
    Pagefind fails.
    """
    if not any(site.glob("*/entries/*.html")):
        return {}
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
            f"{INDEX_DIR}/{path.relative_to(root).as_posix()}": _stable(path)
            for path in sorted(root.rglob("*"))
            if path.is_file()
        }


def _stable(path: Path) -> bytes:
    """The file's bytes; a JSON file with its keys sorted, since Pagefind writes maps (the languages of
    `pagefind-entry.json`) in hash order, which differs from run to run though the content does not."""
    if path.suffix != ".json":
        return path.read_bytes()
    return json.dumps(json.loads(path.read_bytes()), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
