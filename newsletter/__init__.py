"""Publishing: updates, feeds, the static site and newsletters."""
