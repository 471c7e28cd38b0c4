"""HTTP side of Nansen: for now the static site; subscription endpoints join it with the newsletters."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles


def static_app(root: Path) -> Starlette:
    """The built site, with `index.html` for directories."""
    return Starlette(routes=[Mount("/", app=StaticFiles(directory=root, html=True))])
