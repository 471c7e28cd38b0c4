"""Page watch: snapshots of a page's normalized main text, and when a difference is worth a review.

False alerts are what users of page watchers complain about most. A page that only re-rendered has
the same normalized text (and per-entry `watch.ignore` patterns strip dates and counters); a page
that flips between versions (A/B tests, rotating banners) matches one of the last few snapshots since
the last page change a maintainer accepted (`history`);
and the crawler confirms a difference with a second fetch before it calls `record_page(confirmed=True)`.
Only then is a page change proposed, with a unified diff as evidence.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from directory import entries, proposals, untrusted
from directory.models import Entry, PageSnapshot, Proposal, utcnow

HISTORY = 5  # snapshots compared against, so a page flipping between versions does not alert
DIFF_LIMIT = 20_000


def watched_url(entry: Entry) -> str | None:
    """`watch.url`, else a program's official page, else a program's website; others are not watched."""
    if entry.watch_url:
        return entry.watch_url
    if entry.kind == "program":
        return entry.official_url or entry.website
    return None


def normalize(text: str, ignore: str | None = None) -> str:
    """Collapse white space per line, drop empty lines, and remove what `ignore` matches; the text is
    stored as `untrusted.text` makes it (the crawler hashes this same form before it calls in)."""
    text = untrusted.text(text)
    if ignore:
        text = re.sub(ignore, "", text)
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Seen:
    """How a fetched text relates to the history: `new` (first time), `same`, `known` (an earlier
    version, e.g. a flip), or `changed` (needs a confirming fetch before anything is proposed)."""

    verdict: str
    previous: PageSnapshot | None


def history(session: Session, entry_id: int, url: str) -> list[PageSnapshot]:
    """The snapshots of `url` a fetched text counts as already seen in, newest first (at most HISTORY).

    Normally the last HISTORY snapshots, so a page flipping between versions stays silent. Once a
    maintainer has accepted a page change for `url`, the history starts at the newest snapshot whose
    hash is an accepted proposal's `value["hash"]`: what came before was reviewed and superseded, so a
    page going back to it (open → paused, accepted → open again) is a change worth a review, not a flip.
    Both `compare` and the crawler's second-fetch confirmation (`crawlers.child`) read this.
    """

    accepted = {
        value["hash"]
        for value in session.scalars(
            select(Proposal.value).where(
                Proposal.entry_id == entry_id,
                Proposal.field == proposals.PAGE_FIELD,
                Proposal.status == proposals.ProposalStatus.ACCEPTED,
            )
        )
        if isinstance(value, dict) and value.get("url") == url and isinstance(value.get("hash"), str)
    }
    query = (
        select(PageSnapshot)
        .where(PageSnapshot.entry_id == entry_id, PageSnapshot.url == url)
        .order_by(PageSnapshot.id.desc())
        .limit(HISTORY)
    )
    if accepted:
        start = session.scalar(
            select(func.max(PageSnapshot.id)).where(
                PageSnapshot.entry_id == entry_id, PageSnapshot.url == url, PageSnapshot.hash.in_(accepted)
            )
        )
        if start is not None:
            query = query.where(PageSnapshot.id >= start)
    return list(session.scalars(query))


def compare(session: Session, slug: str, url: str, text: str) -> Seen:
    """How `text` relates to `history`: see `Seen`."""
    entry = entries.get_entry(session, slug)
    snapshots = history(session, entry.id, url)
    if not snapshots:
        return Seen("new", None)
    digest = text_hash(text)
    if snapshots[0].hash == digest:
        return Seen("same", snapshots[0])
    if any(snapshot.hash == digest for snapshot in snapshots[1:]):
        return Seen("known", snapshots[0])
    return Seen("changed", snapshots[0])


def record_page(session: Session, slug: str, url: str, text: str, *, confirmed: bool) -> str:
    """Store what a fetch showed (as `normalize` leaves it); returns the verdict (`proposed` when a page
    change was queued)."""
    text = normalize(text)
    seen = compare(session, slug, url, text)
    entry = entries.get_entry(session, slug)
    if seen.verdict in ("same", "known"):
        return seen.verdict
    if seen.verdict == "changed" and not confirmed:
        return "unconfirmed"
    session.add(PageSnapshot(entry_id=entry.id, url=url, hash=text_hash(text), text=text, fetched_at=utcnow()))
    session.flush()
    if seen.verdict == "new":
        return "baseline"
    assert seen.previous is not None
    diff = "\n".join(
        difflib.unified_diff(seen.previous.text.splitlines(), text.splitlines(), "before", "after", lineterm="", n=1)
    )[:DIFF_LIMIT]
    proposals.propose(
        session,
        entry,
        proposals.Suggestion(
            "page-change",
            proposals.PAGE_FIELD,
            {"url": url, "hash": text_hash(text), "old_hash": seen.previous.hash, "diff": diff},
            {
                "url": url,
                "seen": "the page's main text changed (confirmed by a second fetch)",
                "time": utcnow().isoformat(),
                "diff": diff,
            },
        ),
        "crawler:watch",
    )
    return "proposed"
