"""The newsletter archive on the static site: every sent edition, whole (not one segment), per language.

Archived copies carry no personal links: the preferences and unsubscribe placeholders point to the
site's subscribe page instead.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.editions import NewsletterSettings, edition_updates
from newsletter.i18n import LANGUAGES
from newsletter.models import Edition


def write_archive(session: Session, settings: NewsletterSettings, output: Path) -> list[Path]:
    """Write `<lang>/newsletter/<number>.html` for each sent edition (`nansen publish` lists them)."""
    from newsletter.digest import personalize, render_digest

    sent = list(session.scalars(select(Edition).where(Edition.status == "sent").order_by(Edition.number.desc())))
    written: list[Path] = []
    for lang in LANGUAGES:
        folder = output / lang / "newsletter"
        folder.mkdir(parents=True, exist_ok=True)
        for edition in sent:
            content = render_digest(
                edition_updates(session, edition),
                lang,
                site_url=settings.site_url,
                number=edition.number,
                date=edition.created_at.date(),
            )
            subscribe = settings.url(f"subscribe?lang={lang}")
            page = personalize(content, unsubscribe_url=subscribe, preferences_url=subscribe)
            path = folder / f"{edition.number}.html"
            if not path.exists() or path.read_text(encoding="utf-8") != page.html:
                path.write_text(page.html, encoding="utf-8")
                written.append(path)
    return written


def sent_editions(session: Session) -> list[dict[str, object]]:
    """What the archive index lists (built by `nansen publish` with the rest of the site)."""
    rows = session.scalars(select(Edition).where(Edition.status == "sent").order_by(Edition.number.desc()))
    return [{"number": e.number, "date": e.created_at.date().isoformat()} for e in rows]
