"""Configuration of a Nansen installation.

For now the database URL and the acting maintainer, from the environment; the `nansen.toml`
configuration file comes with the scheduler.
"""

from __future__ import annotations

import getpass
import os

DEFAULT_DATABASE_URL = "sqlite:///nansen.db"


def database_url() -> str:
    """`NANSEN_DATABASE_URL`, else a SQLite file in the working directory (the embedded default)."""
    return os.environ.get("NANSEN_DATABASE_URL") or DEFAULT_DATABASE_URL


def actor() -> str:
    """Who the revisions name: `NANSEN_ACTOR`, else the login name."""
    name = os.environ.get("NANSEN_ACTOR")
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
