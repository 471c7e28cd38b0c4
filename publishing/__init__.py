"""Publishing: updates, Atom/RSS/JSON feeds, OPML, the static bilingual site, its archive pages, Telegram."""

from pathlib import Path

# Alembic branch of publishing's tables (the Telegram ledger); the composition root hands it to
# `directory.store.upgrade`.
MIGRATIONS = Path(__file__).parent / "migrations"
