"""The newsletter archive on the static site: `<lang>/newsletter/<number>.html` per sent edition.

Publishing knows nothing of mail. The newsletter renders each sent edition whole (every segment,
no personal links) and hands the pages over as `ArchivedEdition`s; this module writes them, and
`site.build` lists them on `<lang>/newsletter/index.html`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ArchivedEdition:
    """One sent edition: its number, the day it was made, and its page's HTML by language."""

    number: int
    date: dt.date
    html: Mapping[str, str]

    def listing(self) -> dict[str, object]:
        """What the archive index shows of it."""
        return {"number": self.number, "date": self.date.isoformat()}


def write_archive(editions: Sequence[ArchivedEdition], output: Path) -> list[Path]:
    """Write each edition's page per language; only files whose text changed are written."""
    written: list[Path] = []
    for edition in editions:
        for lang, html in edition.html.items():
            path = output / lang / "newsletter" / f"{edition.number}.html"
            if path.exists() and path.read_text(encoding="utf-8") == html:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(html, encoding="utf-8")
            written.append(path)
    return written
