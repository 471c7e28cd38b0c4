"""The three spiders: `site` (health and metadata), `feeds` (the organizations' posts), `watch` (pages)."""
