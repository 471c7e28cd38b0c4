"""The packages' own settings objects, built from the installation's settings.

The one place that knows both `pipeline.config.Settings` and what each package asks for: the crawl
options, the site's settings, the newsletter's settings and its mail transport. Commands, jobs and
the demo build them here, so a setting means the same thing wherever it is used.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from crawlers.run import CrawlOptions
from newsletter.delivery import MaildirSender, SmtpSender, parse_smtp_url
from newsletter.editions import NewsletterSettings
from newsletter.tokens import Tokens
from pipeline.config import ConfigError, Settings
from publishing.feeds import FeedSettings
from publishing.site import SiteSettings
from publishing.telegram_ledger import TelegramError, TelegramSettings


def crawl_options(settings: Settings) -> CrawlOptions:
    crawl = settings.crawl
    return CrawlOptions(
        settings.database_url,
        crawl.contact_url,
        crawl.allow_networks,
        crawl.polite,
        crawl.dead_after_failures,
        crawl.dead_after_days,
    )


def site_settings(settings: Settings, output: Path | None = None) -> SiteSettings:
    site = settings.site
    return SiteSettings(
        output=output or site.public_dir, feeds=FeedSettings(site.url, site.id_authority, site.feed_item_limit)
    )


def newsletter_settings(settings: Settings) -> NewsletterSettings:
    """The newsletter's settings; raises `ConfigError` without a signing secret."""
    newsletter = settings.newsletter
    if not newsletter.secret:
        raise ConfigError(
            "NANSEN_SECRET is not set: it signs the confirm and unsubscribe links (use a long random value)"
        )
    try:
        tokens = Tokens(newsletter.secret.get_secret_value())
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    domain = newsletter.sender.rsplit("@", 1)[-1].strip(" >") or "nansen.localhost"
    host = urlsplit(settings.site.url).hostname or "nansen.localhost"
    return NewsletterSettings(
        site_url=settings.site.url,
        sender=newsletter.sender,
        tokens=tokens,
        list_id=f"Nansen newsletter <newsletter.{host}>",
        message_domain=domain,
        unsubscribe_mailto=newsletter.unsubscribe_mailto or None,
        require_approval=newsletter.require_approval,
        retry_attempts=newsletter.retry_attempts,
        retry_days=newsletter.retry_days,
    )


def mail_sender(settings: Settings, maildir: Path | None = None, *, retries: int = 3) -> SmtpSender | MaildirSender:
    """The SMTP relay of `NANSEN_SMTP_URL`, or a maildir for a dry run; raises `ConfigError`.

    `retries`: connection failures retried at once (the endpoints' outbox retries on its own: 0)."""
    if maildir is not None:
        return MaildirSender(maildir)
    if not settings.newsletter.smtp_url:
        raise ConfigError("NANSEN_SMTP_URL is not set (e.g. smtp://user:password@relay.example.org:587?starttls=1)")
    try:
        return SmtpSender(parse_smtp_url(settings.newsletter.smtp_url.get_secret_value()), retries=retries)
    except ValueError as exc:
        raise ConfigError(f"NANSEN_SMTP_URL: {exc}") from None


def telegram_settings(settings: Settings) -> TelegramSettings | None:
    """Telegram's settings, or None when no token and no channel are set; raises `ConfigError` when
    only one of them is, or when one does not parse."""
    telegram = settings.telegram
    token = telegram.token.get_secret_value() if telegram.token else ""
    channels = telegram.channels()
    if not token and not channels:
        return None
    if not token:
        raise ConfigError("NANSEN_TELEGRAM_TOKEN is not set: the channels need the bot's token from @BotFather")
    if not channels:
        raise ConfigError(
            "NANSEN_TELEGRAM_TOKEN is set but no channel: "
            "set NANSEN_TELEGRAM_CHANNEL_RU and/or NANSEN_TELEGRAM_CHANNEL_EN"
        )
    try:
        return TelegramSettings(
            token=token,
            channels=channels,
            site_url=settings.site.url,
            api_url=telegram.api_url,
            interval=telegram.interval,
            max_wait=telegram.max_wait,
            retry_attempts=telegram.retry_attempts,
        )
    except TelegramError as exc:
        raise ConfigError(str(exc)) from None
