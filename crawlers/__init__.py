"""Crawlers: site health, feeds and page watch; they propose, maintainers accept."""

from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"
