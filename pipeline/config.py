"""Settings of a Nansen installation, from the environment.

The `nansen.toml` configuration file and `nansen config check` come with the scheduler; until then
every setting has an environment variable and a default that works on a fresh machine.
"""

from __future__ import annotations

import getpass
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import newsletter

DEFAULT_DATABASE_URL = "sqlite:///nansen.db"
DEFAULT_SITE_URL = "http://127.0.0.1:8000/"
# Schema branches of the packages built on the directory, migrated together by `nansen init`.
MIGRATION_LOCATIONS: tuple[Path, ...] = (newsletter.MIGRATIONS,)


@dataclass(frozen=True)
class Settings:
    database_url: str
    actor: str
    site_url: str
    public_dir: Path
    id_authority: str
    feed_item_limit: int
    contact_url: str
    crawl_allow_networks: tuple[str, ...]
    crawl_polite: bool
    migration_locations: tuple[Path, ...] = ()
    secret: str | None = None
    smtp_url: str | None = None
    sender: str = "Nansen <newsletter@nansen.localhost>"
    unsubscribe_mailto: str | None = None
    require_approval: bool = False


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


def id_authority(site_url: str) -> str:
    """The tag-URI authority of feed ids: `NANSEN_ID_AUTHORITY`, else the site's host name.

    Set it once for a real deployment and never change it: feed readers know items by these ids.
    """
    configured = os.environ.get("NANSEN_ID_AUTHORITY")
    if configured:
        return configured
    host = urlsplit(site_url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if "." in host:
            return host
    return "nansen.localhost"


def load(database: str | None = None, who: str | None = None) -> Settings:
    site_url = os.environ.get("NANSEN_SITE_URL") or DEFAULT_SITE_URL
    return Settings(
        database_url=database or database_url(),
        actor=who or actor(),
        site_url=site_url,
        public_dir=Path(os.environ.get("NANSEN_PUBLIC_DIR") or "public"),
        id_authority=id_authority(site_url),
        feed_item_limit=int(os.environ.get("NANSEN_FEED_ITEM_LIMIT") or 50),
        contact_url=os.environ.get("NANSEN_CONTACT_URL") or site_url,
        crawl_allow_networks=tuple(
            n.strip() for n in (os.environ.get("NANSEN_CRAWL_ALLOW_NETWORKS") or "").split(",") if n.strip()
        ),
        crawl_polite=os.environ.get("NANSEN_CRAWL_POLITE", "1") != "0",
        migration_locations=MIGRATION_LOCATIONS,
        secret=os.environ.get("NANSEN_SECRET") or None,
        smtp_url=os.environ.get("NANSEN_SMTP_URL") or None,
        sender=os.environ.get("NANSEN_SENDER") or "Nansen <newsletter@nansen.localhost>",
        unsubscribe_mailto=os.environ.get("NANSEN_UNSUBSCRIBE_MAILTO") or None,
        require_approval=os.environ.get("NANSEN_NEWSLETTER_REQUIRE_APPROVAL", "0") in ("1", "true", "yes"),
    )
