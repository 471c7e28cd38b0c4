"""The review queue: what crawlers propose, and a maintainer's decision on it.

Crawled content is untrusted and this audience is targeted: a moved donation page is exactly how a
phishing takeover looks. So nothing a crawler sees changes an entry by itself; it becomes a
proposal, and only `accept` turns it into a revision, in the maintainer's name, with the crawler
named as the origin. A rejected value is never proposed again for the same field of the same entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from directory import entries, store, untrusted
from directory import fields as F
from directory.errors import DomainError
from directory.models import Entry, Proposal, utcnow


class ProposalStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


STATUSES: tuple[str, ...] = tuple(ProposalStatus)
# A page change is not a field of the entry: accepting it records a revision of this pseudo-field,
# which publishing announces as a change of the program's page.
PAGE_FIELD = "page"


class ReviewError(DomainError, ValueError):
    pass


def value_key(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True)
class Suggestion:
    """What a crawler would like to change: `set` a field to a value, or `add` an item to a list field."""

    kind: str
    field: str
    value: Any
    evidence: dict[str, Any]
    operation: str = "set"


def propose(session: Session, entry: Entry, suggestion: Suggestion, origin: str) -> Proposal | None:
    """Queue a suggestion, unless it changes nothing, is already pending (also when another process
    queued it a moment ago), or was rejected before.

    The value must pass its field's rules (ValueError otherwise); the evidence, crawled text, is stored
    as `directory.untrusted.value` makes it.
    """
    if suggestion.field != PAGE_FIELD:
        field = F.FIELD_BY_KEY[suggestion.field]
        normalized = (
            field.check(suggestion.value) if suggestion.operation == "add" else field.normalize(suggestion.value)
        )
        current = entries.to_record(entry)[suggestion.field]
        if (suggestion.operation == "add" and normalized in current) or (
            suggestion.operation == "set" and normalized == current
        ):
            return None
    else:
        normalized, current = untrusted.value(suggestion.value), None
    key = value_key([suggestion.operation, normalized])
    seen = session.scalar(
        select(Proposal.id).where(
            Proposal.entry_id == entry.id,
            Proposal.field == suggestion.field,
            Proposal.value_key == key,
            Proposal.status.in_(("pending", "rejected")),
        )
    )
    if seen is not None:
        return None
    proposal = Proposal(
        entry_id=entry.id,
        kind=suggestion.kind,
        field=suggestion.field,
        operation=suggestion.operation,
        value=normalized,
        value_key=key,
        current=current,
        evidence=untrusted.value(suggestion.evidence),
        origin=origin,
        status="pending",
        created_at=utcnow(),
    )
    try:
        with session.begin_nested():  # another crawl may queue the same change at this moment
            session.add(proposal)
    except IntegrityError:  # it did: one pending proposal per value (uq_proposals_pending)
        return None
    return proposal


def list_proposals(
    session: Session, *, status: str | None = "pending", slug: str | None = None, field: str | None = None
) -> list[Proposal]:
    query = select(Proposal).join(Entry)
    if status:
        query = query.where(Proposal.status == status)
    if slug:
        query = query.where(Entry.slug == slug)
    if field:
        query = query.where(Proposal.field == field)
    return list(session.scalars(query.order_by(Proposal.id)))


def _pending(session: Session, ids: Sequence[int]) -> list[Proposal]:
    query = select(Proposal).where(Proposal.id.in_(ids)).order_by(Proposal.id)
    found = {p.id: p for p in store.for_writing(session, query)}  # two reviewers cannot both decide one
    missing = [i for i in ids if i not in found]
    if missing:
        raise ReviewError(f"no proposal with id {', '.join(map(str, missing))}")
    decided = [f"{i} ({found[i].status})" for i in ids if found[i].status != "pending"]
    if decided:
        raise ReviewError(f"already decided: {', '.join(decided)}")
    return [found[i] for i in ids]


def accept(session: Session, ids: Sequence[int], maintainer: str, *, reason: str | None = None) -> list[Proposal]:
    """Apply proposals as revisions in the maintainer's name; all of them or none."""
    reason = entries.checked_reason(reason)
    proposals = _pending(session, ids)
    # Every entry concerned, held in slug order (as imports hold theirs), before any is changed: two
    # reviews of the same entries in another order wait for each other instead of deadlocking.
    entry_ids = {proposal.entry_id for proposal in proposals}
    store.for_writing(session, select(Entry).where(Entry.id.in_(entry_ids)).order_by(Entry.slug)).all()
    for proposal in proposals:
        _apply(session, proposal, maintainer, reason)
        proposal.status, proposal.decided_at, proposal.decided_by = "accepted", utcnow(), maintainer
        proposal.decision_reason = reason
    session.flush()
    return proposals


def accept_for(
    session: Session, slug: str, field: str, maintainer: str, *, reason: str | None = None
) -> list[Proposal]:
    """Accept every pending proposal for one field of one entry (oldest first)."""
    proposals = list_proposals(session, slug=slug, field=field)
    if not proposals:
        raise ReviewError(f"no pending proposal for {slug} {field}")
    return accept(session, [p.id for p in proposals], maintainer, reason=reason)


def reject(session: Session, ids: Sequence[int], maintainer: str, *, reason: str) -> list[Proposal]:
    reason = entries.checked_reason(reason) or ""
    if not reason:
        raise ReviewError("rejecting needs a reason (it is kept, and the value is not proposed again)")
    proposals = _pending(session, ids)
    for proposal in proposals:
        proposal.status, proposal.decided_at, proposal.decided_by = "rejected", utcnow(), maintainer
        proposal.decision_reason = reason
    session.flush()
    return proposals


def current_value(proposal: Proposal) -> Any:
    """What the proposal's field holds now, for a pending proposal (a maintainer may have changed it
    since the crawler looked); what it held when proposed, for a decided one or a page change."""
    if proposal.status != ProposalStatus.PENDING or proposal.field == PAGE_FIELD:
        return proposal.current
    return entries.to_record(proposal.entry)[proposal.field]


def _apply(session: Session, proposal: Proposal, maintainer: str, reason: str | None) -> None:
    entry = store.for_writing(session, select(Entry).where(Entry.id == proposal.entry_id)).one()
    actor = entries.Actor(maintainer, f"review:{proposal.origin}#{proposal.id}")
    why = reason or f"accepted proposal {proposal.id} ({proposal.kind})"
    if proposal.field == PAGE_FIELD:
        old = {"url": proposal.value["url"], "hash": proposal.value.get("old_hash")}
        entries.record_event(session, entry, PAGE_FIELD, old, proposal.value, actor, why)
        return
    value = proposal.value
    now = current_value(proposal)
    if proposal.operation == "set" and now != proposal.current:
        raise ReviewError(
            f"#{proposal.id}: {entry.slug} {proposal.field} was changed since it was proposed (it is now"
            f" {entries.shown_value(now)}, the proposal was made over {entries.shown_value(proposal.current)}):"
            " reject it, or edit the entry"
        )
    if proposal.operation == "add":
        current = entries.to_record(entry)[proposal.field]
        value = current if value in current else [*current, value]
    entries.edit_entry(session, entry.slug, {proposal.field: value}, actor, reason=why)
