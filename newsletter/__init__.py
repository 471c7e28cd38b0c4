"""Publishing: updates, feeds, the static site and newsletters."""

from pathlib import Path

# Alembic branch of the newsletter's tables; the composition root hands it to `directory.store.upgrade`.
MIGRATIONS = Path(__file__).parent / "migrations"
