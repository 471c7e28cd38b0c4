"""Which updates a build needs, and what it keeps so that the next build reads only newer revisions.

A full build reads every revision. It keeps, in the build manifest, a *state*: the revision
high-water mark, each feed's newest updates as references `(update id, time, entry slug)`, the
entries that have updates, and a digest of each entry as its pages show it (its posts included).

The next build reads only the revisions above the mark. Their entries, and any entry whose digest
changed (a crawled post, a row changed without a revision), are *dirty*: their updates are read
whole, each feed's references are merged with theirs, and only the feeds that hold or held a dirty
entry's update are written again, with the few other updates they show read back by entry. When the
merge cannot be sure of the result (a full feed lost members and must be refilled from older
updates, many entries changed, the templates or feed settings changed), it gives up and the caller
builds in full: the files are the same either way (`tests/test_publish_incremental.py`).

On PostgreSQL, revision ids are taken before commit, so a transaction that commits after a build
may hold ids below the mark that build kept; its entry's row changed too, so the digest finds it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from publishing import feeds
from publishing.feeds import FeedSpec
from publishing.updates import Update, collect, load_views, revised_since

LATEST = 20  # updates on the home page and on an entry's page
VERSION = 1  # of the state's shape: a state of another version is not read
MAX_DIRTY = 500  # above this many changed entries, reading everything is as quick
Ref = tuple[str, str, str]  # (update id, time in ISO 8601, entry slug)


@dataclass(frozen=True)
class Selection:
    """What a build writes: `feeds` and the entries in `own` are (re)written; with `dirty` None every
    entry is, else only the entries in `dirty` (the rest of the site is kept as it is)."""

    specs: list[FeedSpec]  # every feed the site has
    feeds: list[tuple[FeedSpec, list[Update]]]  # the feeds to write, each with its newest updates
    own: dict[str, list[Update]]  # entry slug → its newest updates (an entry without any is absent)
    latest: list[Update]  # the newest LATEST updates of all
    dirty: set[str] | None
    state: dict[str, Any]  # JSON, for the manifest


def full(updates: Sequence[Update], keep: int, mark: int | None, inputs: str, digests: Mapping[str, str]) -> Selection:
    """Everything, from every update (newest first); `keep` updates per feed and entry."""
    views = {u.entry.slug: u.entry for u in updates}
    specs = feeds.specs(list(views.values()))
    chosen = [(spec, feeds.choose(spec, updates, keep)) for spec in specs]
    refs = {spec.path: [_ref(u) for u in members] for spec, members in chosen}
    state = _state(mark, inputs, refs, views, digests)
    return Selection(specs, chosen, _by_entry(updates, keep), list(updates[:LATEST]), None, state)


def incremental(
    session: Session,
    previous: Mapping[str, Any] | None,
    keep: int,
    mark: int | None,
    inputs: str,
    digests: Mapping[str, str],
) -> Selection | None:
    """Only what changed since the build that kept `previous`; None when a full build is needed."""
    if not previous or previous.get("version") != VERSION or previous.get("inputs") != inputs:
        return None
    if previous["mark"] is None or mark is None:
        return None
    if mark < previous["mark"]:
        return None  # the history was rewritten (a restored database): start again
    views = load_views(session)
    slug_of = {entry_id: view.slug for entry_id, view in views.items()}
    before: dict[str, str] = previous["entries"]
    dirty = {slug_of[i] for i in revised_since(session, previous["mark"]) if i in slug_of}
    dirty |= {slug for slug in digests.keys() | before.keys() if digests.get(slug) != before.get(slug)}
    if len(dirty) > MAX_DIRTY:
        return None
    fresh = collect(session, entry_ids=[i for i, slug in slug_of.items() if slug in dirty]) if dirty else []
    with_updates = (set(previous["with_updates"]) - dirty) | {u.entry.slug for u in fresh}
    by_slug = {view.slug: view for view in views.values()}
    specs = feeds.specs([by_slug[slug] for slug in with_updates])
    refs: dict[str, list[Ref]] = {}
    changed: list[FeedSpec] = []
    for spec in specs:
        old = [tuple(r) for r in previous["feeds"][spec.path]] if spec.path in previous["feeds"] else None
        new = _merge(old or [], [u for u in fresh if spec.matches(u)], dirty, keep)
        if new is None:
            return None
        refs[spec.path] = new
        if old is None or new != old or any(r[2] in dirty for r in old):
            changed.append(spec)
    shown = {r[2] for spec in changed for r in refs[spec.path]} | {r[2] for r in refs["all"][:LATEST]}
    others = shown - dirty
    read = [*fresh, *collect(session, entry_ids=[i for i, slug in slug_of.items() if slug in others])]
    found = {u.id: u for u in read}
    if any(r[0] not in found for spec in specs for r in refs[spec.path] if r[2] in shown):
        return None  # a kept reference no longer reads back (revisions rewritten)
    chosen = [(spec, [found[r[0]] for r in refs[spec.path]]) for spec in changed]
    latest = [found[r[0]] for r in refs["all"][:LATEST]]
    state = _state(mark, inputs, refs, {slug: by_slug[slug] for slug in with_updates}, digests)
    return Selection(specs, chosen, _by_entry(fresh, keep), latest, dirty, state)


def _merge(old: Sequence[Ref], mine: Sequence[Update], dirty: set[str], keep: int) -> list[Ref] | None:
    """A feed's newest `keep` references: the kept ones of clean entries with the dirty entries' own.

    The old list holds every clean update newer than its last one; when it was full, the result is
    sure only down to that last one (older clean updates were never kept): None when it must reach
    further."""
    merged = sorted([*(r for r in old if r[2] not in dirty), *map(_ref, mine)], key=_order, reverse=True)[:keep]
    if len(old) >= keep and (len(merged) < keep or _order(merged[-1]) < _order(old[-1])):
        return None
    return merged


def _ref(update: Update) -> Ref:
    return (update.id, update.time.isoformat(), update.entry.slug)


def _order(ref: Ref) -> tuple[dt.datetime, str]:
    """`updates.order` of a reference."""
    return (dt.datetime.fromisoformat(ref[1]), ref[0])


def _by_entry(updates: Iterable[Update], keep: int) -> dict[str, list[Update]]:
    """Each entry's newest `keep` updates, newest first, in one pass over all of them (newest first)."""
    chosen: dict[str, list[Update]] = defaultdict(list)
    for update in updates:
        if len(chosen[update.entry.slug]) < keep:
            chosen[update.entry.slug].append(update)
    return dict(chosen)


def _state(
    mark: int | None,
    inputs: str,
    refs: Mapping[str, list[Ref]],
    with_updates: Iterable[str],
    digests: Mapping[str, str],
) -> dict[str, Any]:
    return {
        "version": VERSION,
        "mark": mark,
        "inputs": inputs,
        "feeds": {path: [list(r) for r in members] for path, members in refs.items()},
        "with_updates": sorted(with_updates),
        "entries": dict(digests),
    }
