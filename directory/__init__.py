"""The directory: entries, their revisions, curation, search, import and export."""
