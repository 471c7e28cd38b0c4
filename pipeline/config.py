"""Settings of a Nansen installation: defaults, then `nansen.toml`, then the environment.

Declared once, as pydantic-settings models: one section per `[table]` of the file, each setting
with its type, default, environment variable and meaning. The file is `NANSEN_CONFIG`, else
`nansen.toml` in the working directory (optional: every setting has a default that works on a fresh
machine). Secrets (`SecretStr`: the signing secret, the SMTP and bounce-mailbox URLs with their
passwords, the database URL) are never printed; the signing secret and those passwords come only
from the environment, so the file can live in git. A value that does not parse is a problem (the
default is used); `nansen config check` prints the effective values, masked, and every problem.
"""

from __future__ import annotations

import getpass
import ipaddress
import os
import tomllib
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

import crawlers
import newsletter
import pipeline
import publishing
from directory import fields as F
from directory.errors import DomainError
from pipeline import cron

DEFAULT_DATABASE_URL = "sqlite:///nansen.db"
DEFAULT_SITE_URL = "http://127.0.0.1:8000/"
# Schema branches of the packages built on the directory, migrated together by `nansen init`.
MIGRATION_LOCATIONS: tuple[Path, ...] = (
    crawlers.MIGRATIONS,
    newsletter.MIGRATIONS,
    pipeline.MIGRATIONS,
    publishing.MIGRATIONS,
)
JOBS = ("feeds", "site", "watch", "newsletter", "bounces", "publish", "telegram")
OFF = ("", "off", "none", "-")


def setting(
    default: Any, env: str, doc: str, *, in_file: bool = True, ge: float | None = None, le: float | None = None
) -> Any:
    """A setting's default, its environment variable and what it means; `in_file=False` for secrets
    that only the environment may hold; `ge` and `le`, the least and the most a number may be (a float
    is also refused as infinite or not a number)."""
    finite = False if isinstance(default, float) else None
    extra: dict[str, Any] = {"env": env, "in_file": in_file}
    return Field(default, description=doc, json_schema_extra=extra, ge=ge, le=le, allow_inf_nan=finite)


def _http_url(value: str) -> str:
    """`value` when it is an absolute http(s) URL (what a browser, a crawler's User-Agent or the Bot API
    client is given); ValueError otherwise."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
        raise ValueError("is not an absolute http(s) URL (e.g. https://nansen.example.org/)")
    return value


def _mail_address(value: str) -> str:
    """`value` when it holds one mail address (`Name <a@b>` or `a@b`); ValueError otherwise."""
    address = parseaddr(value)[1]
    if "@" not in address or any(c.isspace() for c in address):
        raise ValueError("is not a mail address (e.g. Nansen <newsletter@example.org>)")
    return value


def _extra(info: FieldInfo, key: str) -> Any:
    extra = info.json_schema_extra
    return extra.get(key) if isinstance(extra, dict) else None


class Section(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_default=True)


class DatabaseSection(Section):
    url: SecretStr = setting(
        SecretStr(DEFAULT_DATABASE_URL),
        "NANSEN_DATABASE_URL",
        "SQLAlchemy URL: SQLite by default, postgresql+psycopg://user@host/db for scale.",
    )


class SiteSection(Section):
    url: str = setting(DEFAULT_SITE_URL, "NANSEN_SITE_URL", "Absolute URL the site and endpoints are served at.")
    public_dir: Path = setting(Path("public"), "NANSEN_PUBLIC_DIR", "Where `nansen publish` builds the site.")
    id_authority: str = setting(
        "", "NANSEN_ID_AUTHORITY", "Tag-URI authority of feed ids (default: the site's host). Set once, never change."
    )
    feed_item_limit: int = setting(50, "NANSEN_FEED_ITEM_LIMIT", "Items per feed.", ge=1, le=10_000)

    @field_validator("url")
    @classmethod
    def _absolute_http(cls, value: str) -> str:
        return _http_url(value)


class CrawlSection(Section):
    contact_url: str = setting("", "NANSEN_CONTACT_URL", "Named in the crawler's User-Agent (default: the site URL).")
    allow_networks: tuple[str, ...] = setting(
        (), "NANSEN_CRAWL_ALLOW_NETWORKS", "Private networks the crawler may reach (CIDRs, comma-separated)."
    )
    polite: bool = setting(True, "NANSEN_CRAWL_POLITE", "AutoThrottle and delays (turn off only locally).")
    dead_after_failures: int = setting(3, "NANSEN_DEAD_AFTER_FAILURES", "Failed checks before `inactive`.", ge=1)
    dead_after_days: int = setting(7, "NANSEN_DEAD_AFTER_DAYS", "…spanning at least this many days.", ge=0)

    @field_validator("allow_networks", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("contact_url")
    @classmethod
    def _contact(cls, value: str) -> str:
        return _http_url(value) if value else value

    @field_validator("allow_networks")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not a network in CIDR form (e.g. 127.0.0.0/8)") from None
        return value


class NewsletterSection(Section):
    sender: str = setting("Nansen <newsletter@nansen.localhost>", "NANSEN_SENDER", "From: address.")
    smtp_url: SecretStr | None = setting(
        None,
        "NANSEN_SMTP_URL",
        "smtp://user@host:587?starttls=1, smtps://host; the password only in the environment variable.",
    )
    unsubscribe_mailto: str = setting("", "NANSEN_UNSUBSCRIBE_MAILTO", "Address for mailto: unsubscribe.")
    require_approval: bool = setting(
        False, "NANSEN_NEWSLETTER_REQUIRE_APPROVAL", "Hold each edition as a draft until `nansen newsletter approve`."
    )
    secret: SecretStr | None = setting(None, "NANSEN_SECRET", "Signs confirm/unsubscribe links.", in_file=False)
    retry_attempts: int = setting(
        8, "NANSEN_NEWSLETTER_RETRY_ATTEMPTS", "A reader refused for now (4xx) is tried this often across runs…", ge=1
    )
    retry_days: float = setting(3.0, "NANSEN_NEWSLETTER_RETRY_DAYS", "…for at most this many days; then failed.", ge=0)
    bounces_url: SecretStr | None = setting(
        None,
        "NANSEN_BOUNCES_URL",
        "Where bounces arrive: imaps://user@host:993/INBOX or a maildir; the password only in the environment.",
    )
    soft_bounce_limit: int = setting(
        3,
        "NANSEN_SOFT_BOUNCE_LIMIT",
        "Soft bounces for consecutive editions before an address counts as bounced.",
        ge=1,
    )

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _mail_address(value)

    @field_validator("unsubscribe_mailto")
    @classmethod
    def _mailto(cls, value: str) -> str:
        return _mail_address(value) if value else value


class TelegramSection(Section):
    token: SecretStr | None = setting(
        None, "NANSEN_TELEGRAM_TOKEN", "The bot's token from @BotFather (posts each update).", in_file=False
    )
    channel_ru: str = setting("", "NANSEN_TELEGRAM_CHANNEL_RU", "Channel of the Russian posts: @name or -100… id.")
    channel_en: str = setting("", "NANSEN_TELEGRAM_CHANNEL_EN", "Channel of the English posts: @name or -100… id.")
    api_url: str = setting(
        "https://api.telegram.org", "NANSEN_TELEGRAM_API_URL", "Bot API server (a local telegram-bot-api server too)."
    )
    interval: float = setting(
        3.0, "NANSEN_TELEGRAM_INTERVAL", "Seconds between posts to one channel (Telegram allows ~20 a minute).", ge=0
    )
    max_wait: float = setting(
        300.0, "NANSEN_TELEGRAM_MAX_WAIT", "Longest wait (s) for Telegram's 429 retry_after within a run.", ge=0
    )
    retry_attempts: int = setting(
        5,
        "NANSEN_TELEGRAM_RETRY_ATTEMPTS",
        "Server or network failures of one post, across runs, before it fails.",
        ge=1,
    )

    def channels(self) -> dict[str, str]:
        """language → chat, for the channels that are set."""
        return {lang: chat for lang, chat in (("ru", self.channel_ru), ("en", self.channel_en)) if chat.strip()}

    @field_validator("api_url")
    @classmethod
    def _api(cls, value: str) -> str:
        return _http_url(value)


class ScheduleSection(Section):
    timezone: str = setting("UTC", "NANSEN_TIMEZONE", "Time zone of the cron expressions.")
    feeds: str = setting("0 * * * *", "NANSEN_SCHEDULE_FEEDS", "Feeds crawl (then publish): hourly.")
    site: str = setting("0 3 * * 1", "NANSEN_SCHEDULE_SITE", "Site crawl (then publish): weekly.")
    watch: str = setting("30 4 * * *", "NANSEN_SCHEDULE_WATCH", "Page watch (then publish): daily.")
    newsletter: str = setting("0 9 * * 1", "NANSEN_SCHEDULE_NEWSLETTER", "Newsletter: weekly.")
    bounces: str = setting("15 5 * * *", "NANSEN_SCHEDULE_BOUNCES", "Read bounces that arrived later: daily.")
    publish: str = setting("off", "NANSEN_SCHEDULE_PUBLISH", "Publish alone (crawls publish anyway).")
    telegram: str = setting(
        "*/10 * * * *", "NANSEN_SCHEDULE_TELEGRAM", "Post new updates to Telegram (when a token and channel are set)."
    )
    misfire_grace_seconds: int = setting(
        3600, "NANSEN_MISFIRE_GRACE", "A run missed by less than this (e.g. during a restart) still happens once.", ge=1
    )

    @field_validator(*JOBS)
    @classmethod
    def _off_is_empty(cls, value: str) -> str:
        """A cron expression as crontab(5) reads it (`pipeline.cron`), or "" for a job switched off ("off")."""
        if value.strip().lower() in OFF:
            return ""
        cron.parse(value)
        return value.strip()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        cron.zone(value)
        return value

    def expressions(self) -> dict[str, str]:
        """Each job's cron expression ("" when it is switched off)."""
        return {job: getattr(self, job) for job in JOBS}


SECTIONS: dict[str, type[Section]] = {
    "database": DatabaseSection,
    "site": SiteSection,
    "crawl": CrawlSection,
    "newsletter": NewsletterSection,
    "telegram": TelegramSection,
    "schedule": ScheduleSection,
}


class ConfigError(DomainError):
    """A setting a command needs is missing or wrong."""


def config_path() -> Path:
    return Path(os.environ.get("NANSEN_CONFIG") or "nansen.toml")


def login_name() -> str:
    """Who the revisions name when `NANSEN_ACTOR` is not set: the login name."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class NamedEnvironment(PydanticBaseSettingsSource):
    """Each setting from its own documented variable (`NANSEN_SITE_URL`, …); empty means unset."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for section, model in SECTIONS.items():
            for key, info in model.model_fields.items():
                value = os.environ.get(_extra(info, "env") or "")
                if value:
                    found.setdefault(section, {})[key] = value
        if os.environ.get("NANSEN_ACTOR"):
            found["actor"] = os.environ["NANSEN_ACTOR"]
        return found


class TomlFile(PydanticBaseSettingsSource):
    """`nansen.toml`: known settings only; a secret or a password in it is a problem, and ignored."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls)
        self.path = path

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        problems: list[str] = []
        found: dict[str, Any] = {}
        for section, table in read_file(self.path, problems).items():
            model = SECTIONS.get(section)
            if model is None or not isinstance(table, dict):
                problems.append(f"{self.path}: [{section}] is not a section (expected {', '.join(SECTIONS)})")
                continue
            for key, value in table.items():
                info = model.model_fields.get(key)
                if info is None:
                    problems.append(f"{self.path}: unknown setting [{section}] {key}")
                elif not _extra(info, "in_file"):
                    problems.append(f"{self.path}: [{section}] {key} is a secret: set {_extra(info, 'env')} instead")
                else:
                    found.setdefault(section, {})[key] = value
        for key in ("smtp_url", "bounces_url"):
            url = found.get("newsletter", {}).get(key)
            env = _extra(NewsletterSection.model_fields[key], "env")
            if isinstance(url, str) and _has_password(url) and not os.environ.get(env or ""):
                problems.append(f"{self.path}: [newsletter] {key} holds a password: put the URL in {env} instead")
        return {**found, "problems": tuple(problems)}


def _has_password(url: str) -> bool:
    try:
        return bool(urlsplit(url).password)
    except ValueError:
        return "@" in url


def read_file(path: Path, problems: list[str]) -> dict[str, Any]:
    """The TOML file as a dict ({} when absent); what is wrong with it goes to `problems`."""
    if not path.exists():
        if os.environ.get("NANSEN_CONFIG"):
            problems.append(f"{path}: NANSEN_CONFIG names a file that does not exist")
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        problems.append(f"{path}: {exc}")
        return {}


class Settings(BaseSettings):
    """The effective settings: `settings.site.url`, `settings.newsletter.secret`, … (see `SECTIONS`)."""

    model_config = SettingsConfigDict(extra="ignore", validate_default=True)

    database: DatabaseSection = Field(default_factory=DatabaseSection)
    site: SiteSection = Field(default_factory=SiteSection)
    crawl: CrawlSection = Field(default_factory=CrawlSection)
    newsletter: NewsletterSection = Field(default_factory=NewsletterSection)
    telegram: TelegramSection = Field(default_factory=TelegramSection)
    schedule: ScheduleSection = Field(default_factory=ScheduleSection)
    actor: str = Field(default_factory=login_name, description="Who the history names (NANSEN_ACTOR).")
    config_path: Path | None = None
    problems: tuple[str, ...] = ()

    @field_validator("actor")
    @classmethod
    def _actor(cls, value: str) -> str:
        """A name as the history shows it: one line of plain text (`fields.note_text`), not empty."""
        name = F.note_text(value, F.NAME_LIMIT)
        if not name:
            raise ValueError(f"{value!r} is blank: name who makes the changes (e.g. NANSEN_ACTOR=anna)")
        return name

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, NamedEnvironment(settings_cls), TomlFile(settings_cls, config_path())

    @model_validator(mode="after")
    def _derived(self) -> Settings:
        """Defaults that follow from other settings: the tag-URI authority and the crawler's contact."""
        if not self.site.id_authority:
            self.site.id_authority = id_authority(self.site.url)
        if not self.crawl.contact_url:
            self.crawl.contact_url = self.site.url
        return self

    @property
    def database_url(self) -> str:
        return self.database.url.get_secret_value()

    def jobs(self) -> dict[str, str]:
        """Each job's cron expression as the scheduler runs it: "" for a job switched off, and for
        Telegram while no token is set (a run that can only skip is noise in `nansen runs`)."""
        expressions = self.schedule.expressions()
        if not self.telegram.token:
            expressions["telegram"] = ""
        return expressions


def id_authority(site_url: str) -> str:
    """The site's host name as tag-URI authority (an IP or localhost gets a fixed local name)."""
    host = urlsplit(site_url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if "." in host:
            return host
    return "nansen.localhost"


def load(database: str | None = None, actor: str | None = None) -> Settings:
    """Effective settings; a value that does not parse is collected in `settings.problems`, one line
    each naming where it was set, and its default put in its place so `config check` can still show
    everything. Every other command refuses to run while there is one (`pipeline.cli.root`)."""
    overrides: dict[str, Any] = {}
    if database:
        overrides["database"] = {"url": database}
    if actor:
        overrides["actor"] = actor
    path = config_path()
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems, defaults = _invalid(exc, path)
        settings = Settings(**_merge(overrides, defaults))  # a default replaces each value refused
        settings = settings.model_copy(update={"problems": (*settings.problems, *problems)})
    return settings.model_copy(update={"config_path": path if path.exists() else None})


def _invalid(exc: ValidationError, path: Path) -> tuple[list[str], dict[str, Any]]:
    """Today's one-line messages for values that do not parse, and the defaults that replace them."""
    problems: list[str] = []
    defaults: dict[str, Any] = {}
    for error in exc.errors():
        section, key = (str(part) for part in (*error["loc"], "")[:2])
        if section == "actor":  # the one setting outside a section
            problems.append(f"--actor/NANSEN_ACTOR: {error['msg'].removeprefix('Value error, ')}")
            defaults["actor"] = "unknown"
            continue
        info = SECTIONS[section].model_fields[key] if section in SECTIONS else None
        if info is None:
            problems.append(f"{section}: {error['msg']}")
            continue
        env = _extra(info, "env")
        origin = env if os.environ.get(env or "") else f"{path}: [{section}] {key}"
        value = error.get("input")
        reason = {
            "int_parsing": "is not a whole number",
            "int_type": "is not a whole number",
            "bool_parsing": "is not true or false",
            "bool_type": "is not true or false",
            "greater_than_equal": f"must be {(error.get('ctx') or {}).get('ge', 0):g} or more",
            "less_than_equal": f"must be {(error.get('ctx') or {}).get('le', 0):g} or less",
        }.get(error["type"])
        message = error["msg"].removeprefix("Value error, ")
        if reason:
            problems.append(f"{origin}: {value!r} {reason}")
        else:  # a message that names the value already is not given it twice
            problems.append(
                f"{origin}: {message}" if message.startswith(repr(value)) else f"{origin}: {value!r}: {message}"
            )
        defaults.setdefault(section, {})[key] = info.default
    return problems, defaults


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = {**base}
    for key, value in top.items():
        merged[key] = _merge(merged.get(key, {}), value) if isinstance(value, dict) else value
    return merged


def describe(settings: Settings) -> list[tuple[str, str, str]]:
    """(setting, effective value with every secret masked, where it came from)."""
    in_file = read_file(settings.config_path, []) if settings.config_path else {}
    rows = []
    for section, model in SECTIONS.items():
        values = getattr(settings, section)
        for key, info in model.model_fields.items():
            env = _extra(info, "env") or ""
            if os.environ.get(env) and any(problem.startswith(f"{env}:") for problem in settings.problems):
                origin = f"default ({env} does not parse)"
            elif os.environ.get(env):
                origin = env
            elif key in (in_file.get(section) or {}) and _extra(info, "in_file"):
                origin = str(settings.config_path)
            else:
                origin = "default"
            value = getattr(values, key)
            shown = "off" if section == "schedule" and key in JOBS and not value else masked(value)
            rows.append((f"{section}.{key}", shown, origin))
    return rows


def masked(value: Any) -> str:
    """A value as `config check` shows it: a secret URL with its password hidden, other secrets hidden whole."""
    if value is None:
        return "(not set)"
    if isinstance(value, tuple):
        return ", ".join(value)
    if not isinstance(value, SecretStr):
        return str(value)
    secret = value.get_secret_value()
    if "://" in secret:
        password = urlsplit(secret).password
        return secret.replace(f":{password}@", ":***@", 1) if password else secret
    return "(set, hidden)" if secret else "(not set)"
