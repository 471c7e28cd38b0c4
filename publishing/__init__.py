"""Publishing: updates, Atom/RSS/JSON feeds, OPML, the static bilingual site and its archive pages."""
