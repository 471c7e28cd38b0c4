"""The newsletter: subscribers, editions, digests, SMTP delivery and the subscription endpoints."""

from pathlib import Path

# Alembic branch of the newsletter's tables; the composition root hands it to `directory.store.upgrade`.
MIGRATIONS = Path(__file__).parent / "migrations"
