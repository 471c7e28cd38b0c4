"""The composition root: configuration, the `nansen` CLI and the scheduler."""

from pathlib import Path

# Alembic branch of the scheduler's tables (runs and job locks).
MIGRATIONS = Path(__file__).parent / "migrations"
