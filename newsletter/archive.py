"""Sent editions as the public archive shows them: whole (not one segment), per language.

Archived copies carry no personal links: the preferences and unsubscribe placeholders point to the
site's subscribe page instead. `publishing.archive` writes the pages.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.digest import personalize, render_digest
from newsletter.editions import NewsletterSettings, edition_updates
from newsletter.models import Edition
from publishing.archive import ArchivedEdition
from publishing.i18n import LANGUAGES


def sent(session: Session) -> list[Edition]:
    """Every sent edition, newest first."""
    return list(session.scalars(select(Edition).where(Edition.status == "sent").order_by(Edition.number.desc())))


def listings(session: Session) -> list[dict[str, object]]:
    """What the archive index lists (built by `nansen publish` with the rest of the site)."""
    return [{"number": e.number, "date": e.created_at.date().isoformat()} for e in sent(session)]


def archived_editions(session: Session, settings: NewsletterSettings) -> list[ArchivedEdition]:
    """Each sent edition rendered in every language, its personal links replaced by the subscribe page."""
    archived = []
    for edition in sent(session):
        updates = edition_updates(session, edition)
        pages = {}
        for lang in LANGUAGES:
            content = render_digest(
                updates, lang, site_url=settings.site_url, number=edition.number, date=edition.created_at.date()
            )
            subscribe = settings.url(f"subscribe?lang={lang}")
            pages[lang] = personalize(content, unsubscribe_url=subscribe, preferences_url=subscribe).html
        archived.append(ArchivedEdition(edition.number, edition.created_at.date(), pages))
    return archived
