"""Settings of a Nansen installation: defaults, then `nansen.toml`, then the environment.

The file is `NANSEN_CONFIG`, else `nansen.toml` in the working directory (optional: every setting
has a default that works on a fresh machine). Secrets — the signing secret and the SMTP password —
come only from the environment, never from the file, so the file can live in git.
`nansen config check` prints the effective values (secrets masked) and every problem found.
"""

from __future__ import annotations

import getpass
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import newsletter
import pipeline

DEFAULT_DATABASE_URL = "sqlite:///nansen.db"
DEFAULT_SITE_URL = "http://127.0.0.1:8000/"
# Schema branches of the packages built on the directory, migrated together by `nansen init`.
MIGRATION_LOCATIONS: tuple[Path, ...] = (newsletter.MIGRATIONS, pipeline.MIGRATIONS)


@dataclass(frozen=True)
class Option:
    section: str
    key: str
    env: str
    default: Any
    doc: str
    secret: bool = False
    file_allowed: bool = True


OPTIONS: tuple[Option, ...] = (
    Option(
        "database",
        "url",
        "NANSEN_DATABASE_URL",
        DEFAULT_DATABASE_URL,
        "SQLAlchemy URL: SQLite by default, postgresql+psycopg://user@host/db for scale.",
    ),
    Option("site", "url", "NANSEN_SITE_URL", DEFAULT_SITE_URL, "Absolute URL the site and endpoints are served at."),
    Option("site", "public_dir", "NANSEN_PUBLIC_DIR", "public", "Where `nansen publish` builds the site."),
    Option(
        "site",
        "id_authority",
        "NANSEN_ID_AUTHORITY",
        "",
        "Tag-URI authority of feed ids (default: the site's host). Set once, never change.",
    ),
    Option("site", "feed_item_limit", "NANSEN_FEED_ITEM_LIMIT", 50, "Items per feed."),
    Option(
        "crawl", "contact_url", "NANSEN_CONTACT_URL", "", "Named in the crawler's User-Agent (default: the site URL)."
    ),
    Option(
        "crawl",
        "allow_networks",
        "NANSEN_CRAWL_ALLOW_NETWORKS",
        "",
        "Private networks the crawler may reach (CIDRs, comma-separated). Off by default.",
    ),
    Option("crawl", "polite", "NANSEN_CRAWL_POLITE", True, "AutoThrottle and delays (turn off only locally)."),
    Option("crawl", "dead_after_failures", "NANSEN_DEAD_AFTER_FAILURES", 3, "Failed checks before `inactive`."),
    Option("crawl", "dead_after_days", "NANSEN_DEAD_AFTER_DAYS", 7, "…spanning at least this many days."),
    Option("newsletter", "sender", "NANSEN_SENDER", "Nansen <newsletter@nansen.localhost>", "From: address."),
    Option(
        "newsletter",
        "smtp_url",
        "NANSEN_SMTP_URL",
        "",
        "smtp://user@host:587?starttls=1, smtps://host; the password only in the environment variable.",
    ),
    Option("newsletter", "unsubscribe_mailto", "NANSEN_UNSUBSCRIBE_MAILTO", "", "Address for mailto: unsubscribe."),
    Option(
        "newsletter",
        "require_approval",
        "NANSEN_NEWSLETTER_REQUIRE_APPROVAL",
        False,
        "Hold each edition as a draft until `nansen newsletter approve`.",
    ),
    Option(
        "newsletter", "secret", "NANSEN_SECRET", "", "Signs confirm/unsubscribe links.", secret=True, file_allowed=False
    ),
    Option("schedule", "timezone", "NANSEN_TIMEZONE", "UTC", "Time zone of the cron expressions."),
    Option("schedule", "feeds", "NANSEN_SCHEDULE_FEEDS", "0 * * * *", "Feeds crawl (then publish): hourly."),
    Option("schedule", "site", "NANSEN_SCHEDULE_SITE", "0 3 * * 1", "Site crawl (then publish): weekly."),
    Option("schedule", "watch", "NANSEN_SCHEDULE_WATCH", "30 4 * * *", "Page watch (then publish): daily."),
    Option("schedule", "newsletter", "NANSEN_SCHEDULE_NEWSLETTER", "0 9 * * 1", "Newsletter: weekly."),
    Option("schedule", "publish", "NANSEN_SCHEDULE_PUBLISH", "off", "Publish alone (crawls publish anyway)."),
    Option(
        "schedule",
        "misfire_grace_seconds",
        "NANSEN_MISFIRE_GRACE",
        3600,
        "A run missed by less than this (e.g. during a restart) still happens once.",
    ),
)
SECRET_ENV = {o.env for o in OPTIONS if o.secret} | {"NANSEN_SMTP_URL"}
JOBS = ("feeds", "site", "watch", "newsletter", "publish")


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
    dead_after_failures: int = 3
    dead_after_days: int = 7
    timezone: str = "UTC"
    schedules: Mapping[str, str] = field(default_factory=dict)
    misfire_grace_seconds: int = 3600
    config_path: Path | None = None
    values: Mapping[str, Any] = field(default_factory=dict)  # effective value of each option, by "section.key"
    problems: tuple[str, ...] = ()


def config_path() -> Path:
    return Path(os.environ.get("NANSEN_CONFIG") or "nansen.toml")


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
    """The site's host name as tag-URI authority (an IP or localhost gets a fixed local name)."""
    host = urlsplit(site_url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if "." in host:
            return host
    return "nansen.localhost"


def _read_file(path: Path, problems: list[str]) -> dict[str, Any]:
    if not path.exists():
        if os.environ.get("NANSEN_CONFIG"):
            problems.append(f"{path}: NANSEN_CONFIG names a file that does not exist")
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        problems.append(f"{path}: {exc}")
        return {}


def _coerce(option: Option, value: Any, origin: str, problems: list[str]) -> Any:
    kind = type(option.default)
    if kind is bool and isinstance(value, str):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off", ""):
            return False
        problems.append(f"{origin}: {value!r} is not true or false")
        return option.default
    if kind is int and not isinstance(value, bool):
        try:
            return int(value)
        except (TypeError, ValueError):
            problems.append(f"{origin}: {value!r} is not a whole number")
            return option.default
    if kind is str and not isinstance(value, str):
        problems.append(f"{origin}: expected text, got {value!r}")
        return option.default
    return value


def _effective(path: Path, problems: list[str]) -> dict[str, Any]:
    data = _read_file(path, problems)
    known = {(o.section, o.key) for o in OPTIONS}
    for section, table in data.items():
        if not isinstance(table, dict):
            problems.append(f"{path}: [{section}] must be a table")
            continue
        problems += [f"{path}: unknown setting [{section}] {key}" for key in table if (section, key) not in known]
    values: dict[str, Any] = {}
    for option in OPTIONS:
        name = f"{option.section}.{option.key}"
        value = option.default
        in_file = data.get(option.section, {}) if isinstance(data.get(option.section), dict) else {}
        if option.key in in_file:
            if option.file_allowed:
                value = _coerce(option, in_file[option.key], f"{path}: [{option.section}] {option.key}", problems)
            else:
                problems.append(f"{path}: [{option.section}] {option.key} is a secret: set {option.env} instead")
        if os.environ.get(option.env) not in (None, ""):
            value = _coerce(option, os.environ[option.env], option.env, problems)
        values[name] = value
    smtp = values["newsletter.smtp_url"]
    if smtp and urlsplit(smtp).password and not os.environ.get("NANSEN_SMTP_URL"):
        problems.append(f"{path}: [newsletter] smtp_url holds a password: put the URL in NANSEN_SMTP_URL instead")
    return values


def load(database: str | None = None, who: str | None = None) -> Settings:
    """Effective settings; problems are collected (for `config check`), not raised."""
    problems: list[str] = []
    path = config_path()
    values = _effective(path, problems)
    if database:
        values["database.url"] = database
    site_url = values["site.url"]
    networks = tuple(n.strip() for n in str(values["crawl.allow_networks"]).split(",") if n.strip())
    return Settings(
        database_url=values["database.url"],
        actor=who or actor(),
        site_url=site_url,
        public_dir=Path(values["site.public_dir"]),
        id_authority=values["site.id_authority"] or id_authority(site_url),
        feed_item_limit=values["site.feed_item_limit"],
        contact_url=values["crawl.contact_url"] or site_url,
        crawl_allow_networks=networks,
        crawl_polite=values["crawl.polite"],
        migration_locations=MIGRATION_LOCATIONS,
        secret=values["newsletter.secret"] or None,
        smtp_url=values["newsletter.smtp_url"] or None,
        sender=values["newsletter.sender"],
        unsubscribe_mailto=values["newsletter.unsubscribe_mailto"] or None,
        require_approval=values["newsletter.require_approval"],
        dead_after_failures=values["crawl.dead_after_failures"],
        dead_after_days=values["crawl.dead_after_days"],
        timezone=values["schedule.timezone"],
        schedules={job: _schedule(values[f"schedule.{job}"]) for job in JOBS},
        misfire_grace_seconds=values["schedule.misfire_grace_seconds"],
        config_path=path if path.exists() else None,
        values=values,
        problems=tuple(problems),
    )


def _schedule(expression: str) -> str:
    """A cron expression, or "" for a job switched off ("off")."""
    return "" if expression.strip().lower() in ("", "off", "none", "-") else expression.strip()


def check(settings: Settings) -> list[str]:
    """Every problem with the effective configuration (empty: all good)."""
    problems = list(settings.problems)
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(settings.database_url)
    except ArgumentError as exc:
        problems.append(f"database.url: {exc}")
    parts = urlsplit(settings.site_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(f"site.url: {settings.site_url!r} is not an absolute http(s) URL")
    elif parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost"):
        problems.append("site.url: use https in production (one-click unsubscribe requires it)")
    try:
        from crawlers.safety import parse_networks

        parse_networks(settings.crawl_allow_networks)
    except ValueError as exc:
        problems.append(f"crawl.allow_networks: {exc}")
    problems += _schedule_problems(settings)
    if settings.smtp_url:
        from newsletter.delivery import parse_smtp_url

        try:
            parse_smtp_url(settings.smtp_url)
        except ValueError as exc:
            problems.append(f"newsletter.smtp_url: {exc}")
    else:
        problems.append("newsletter.smtp_url: not set, so no newsletter can be sent")
    if not settings.secret:
        problems.append("NANSEN_SECRET: not set, so subscription links cannot be signed")
    elif len(settings.secret) < 16:
        problems.append("NANSEN_SECRET: shorter than 16 characters")
    return problems


def _schedule_problems(settings: Settings) -> list[str]:
    from pipeline.jobs import trigger_for

    problems = []
    for job, expression in settings.schedules.items():
        if not expression:
            continue
        try:
            trigger_for(expression, settings.timezone)
        except (ValueError, KeyError) as exc:
            problems.append(f"schedule.{job}: {expression!r}: {exc}")
    return problems


def describe(settings: Settings) -> list[tuple[str, str, str]]:
    """(setting, effective value with secrets masked, where it came from)."""
    path = settings.config_path
    rows = []
    for option in OPTIONS:
        name = f"{option.section}.{option.key}"
        value = settings.values.get(name, option.default)
        if os.environ.get(option.env) not in (None, ""):
            origin = option.env
        elif path is not None and option.key in (_read_file(path, []).get(option.section) or {}):
            origin = str(path)
        else:
            origin = "default"
        rows.append((name, _mask(option, value), origin))
    return rows


def _mask(option: Option, value: Any) -> str:
    if option.secret:
        return "(set, hidden)" if value else "(not set)"
    if option.key == "smtp_url" and value:
        parts = urlsplit(str(value))
        if parts.password:
            return str(value).replace(f":{parts.password}@", ":***@", 1)
    return str(value)
