"""Crawlers: site health, feeds and page watch; they propose, maintainers accept."""
