"""`nansen config check`: every problem with the effective configuration.

Apart from `pipeline.config` because it asks each package to parse what it will use (the crawler's
networks, the SMTP URL), which loads those packages; loading the settings
must stay fast for every command.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from directory.store import BadDatabaseURL, check_url
from newsletter.delivery import parse_smtp_url
from pipeline.components import telegram_settings
from pipeline.config import ConfigError, Settings


def check(settings: Settings) -> list[str]:
    """Every problem with the effective configuration (empty: all good)."""
    problems = list(settings.problems)
    try:
        check_url(settings.database_url)
    except BadDatabaseURL as exc:
        problems.append(f"database.url: {exc}")
    parts = urlsplit(settings.site.url)  # absolute http(s): `Settings` checks that
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost"):
        problems.append("site.url: use https in production (one-click unsubscribe requires it)")
    if settings.newsletter.smtp_url:
        try:
            parse_smtp_url(settings.newsletter.smtp_url.get_secret_value())
        except ValueError as exc:
            problems.append(f"newsletter.smtp_url: {exc}")
    else:
        problems.append("newsletter.smtp_url: not set, so no newsletter can be sent")
    secret = settings.newsletter.secret.get_secret_value() if settings.newsletter.secret else ""
    if not secret:
        problems.append("NANSEN_SECRET: not set, so subscription links cannot be signed")
    elif len(secret) < 16:
        problems.append("NANSEN_SECRET: shorter than 16 characters")
    try:
        telegram = telegram_settings(settings)
    except ConfigError as exc:
        problems.append(f"telegram: {exc}")
    else:
        if telegram and _loopback(settings.site.url) and not _loopback(telegram.api_url):
            problems.append(
                f"site.url: {settings.site.url} is not public, yet Telegram posts link to it: set NANSEN_SITE_URL"
            )
    return problems


def _loopback(url: str) -> bool:
    """Whether `url` names this machine or a private network: no Telegram reader can follow it."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_unspecified
