"""The curation service: every change to an entry goes through here and leaves a revision.

Functions take an open `Session` and never commit: the caller's unit of work (`Store.session()`)
decides what is written together, which is what makes an import all-or-nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, column, func, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from directory import fields as F
from directory import search, store
from directory.errors import DomainError
from directory.models import Entry, Revision, utcnow


class EntryNotFound(DomainError, LookupError):
    def __init__(self, slug: str) -> None:
        super().__init__(f"no entry with slug {slug!r}")
        self.slug = slug


class InvalidEntry(DomainError, ValueError):
    """The record breaks field or whole-entry rules; `errors` lists every problem."""

    def __init__(self, slug: str | None, errors: Sequence[F.FieldError]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.slug = slug
        self.errors = list(errors)

    def lines(self) -> list[str]:
        return [f"{self.slug or 'entry'}: {error}" for error in self.errors]


def shown_value(value: Any) -> str:
    """A field's value as a message quotes it: `empty` for no value, else its repr."""
    return "empty" if value in (None, "", []) else repr(value)


class EditConflict(DomainError):
    """An edit made from an older state of the entry cannot be applied as it is: fields it changes were
    changed meanwhile by someone else to other values (`theirs`: field -> the value stored now), or
    the entry as it is now with the edit's changes breaks a rule (`problem`).

    `current`: the entry's record now; `merged`: `current` with the edit's changes laid over it (the
    edit's values on the clashing fields), the text to offer the person again."""

    def __init__(
        self,
        slug: str,
        theirs: Mapping[str, Any],
        current: dict[str, Any],
        merged: dict[str, Any],
        problem: str | None = None,
    ) -> None:
        clashes = ", ".join(f"{key} is now {shown_value(value)}" for key, value in theirs.items())
        said = f" ({clashes})" if clashes else f", and with those changes {problem}" if problem else ""
        super().__init__(f"{slug}: changed by someone else since you opened it{said}")
        self.slug, self.theirs, self.current, self.merged = slug, dict(theirs), current, merged


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any
    new: Any


@dataclass
class Change:
    """What applying a record does to one entry: create it, change fields, or nothing."""

    slug: str
    action: str  # "create" | "update" | "unchanged"
    changes: list[FieldChange] = field(default_factory=list)


@dataclass(frozen=True)
class Actor:
    """Who makes a change and through what (`cli`, `import:data/x.yaml`, `crawler:site`…)."""

    name: str
    origin: str = "cli"


# --------------------------------------------------------------------------- records


def to_record(entry: Entry) -> dict[str, Any]:
    """The entry as a flat record with every key (the form imports, exports and diffs use)."""
    return {f.key: F.record_value(f, getattr(entry, f.column)) for f in F.FIELDS}


def blank_record() -> dict[str, Any]:
    return {f.key: F.empty_value(f) for f in F.FIELDS}


def merged_record(current: Mapping[str, Any] | None, updates: Mapping[str, Any]) -> dict[str, Any]:
    """Validate `updates` and lay them over `current` (or over a blank entry)."""
    values, errors = F.normalized(updates)
    if errors:
        raise InvalidEntry(_slug_of(updates, current), errors)
    record = dict(current) if current is not None else blank_record()
    record.update(values)
    errors = F.check_complete(record)
    if errors:
        raise InvalidEntry(_slug_of(updates, current), errors)
    return record


def _slug_of(updates: Mapping[str, Any], current: Mapping[str, Any] | None) -> str | None:
    if current is not None:
        return current.get("slug")
    value = updates.get("slug")
    return value if isinstance(value, str) else None


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldChange]:
    return [FieldChange(key, old.get(key), new.get(key)) for key in F.KEYS if old.get(key) != new.get(key)]


# --------------------------------------------------------------------------- reads


def get_entry(session: Session, slug: str, *, for_writing: bool = False) -> Entry:
    """The entry with `slug` (raises EntryNotFound); `for_writing`: held until the transaction ends and
    read afresh (`store.for_writing`), for a change that depends on what it holds."""
    query = select(Entry).where(Entry.slug == slug)
    entry = (store.for_writing(session, query) if for_writing else session.scalars(query)).first()
    if entry is None:
        raise EntryNotFound(slug)
    return entry


def find_entry(session: Session, slug: str) -> Entry | None:
    return session.scalar(select(Entry).where(Entry.slug == slug))


def find_entries(
    session: Session, slugs: Iterable[str], *, chunk: int = 500, for_writing: bool = False
) -> dict[str, Entry]:
    """slug -> entry for those of `slugs` that exist, in one query per `chunk` slugs (a bound on the
    number of parameters of one statement); `for_writing` as in `get_entry`, in slug order."""
    wanted = sorted(set(slugs))
    found: dict[str, Entry] = {}
    for start in range(0, len(wanted), chunk):
        query = select(Entry).where(Entry.slug.in_(wanted[start : start + chunk])).order_by(Entry.slug)
        rows = store.for_writing(session, query) if for_writing else session.scalars(query)
        found.update((entry.slug, entry) for entry in rows)
    return found


@dataclass(frozen=True)
class Filters:
    kind: str | None = None
    status: str | None = None
    country: str | None = None  # a host country
    serves: str | None = None  # a country whose people it serves
    topic: str | None = None
    language: str | None = None
    program_state: str | None = None
    stale_days: int | None = None  # not verified in this many days (or never)
    designation: str | None = None  # a kind of designation in force (not lifted)


def _list_has(session: Session, column: Any, value: str) -> Any:
    """`value` is an element of the JSON list in `column`, in SQL on both backends."""
    if session.get_bind().dialect.name == "postgresql":
        return type_coerce(column, JSONB).contains([value])
    items = func.json_each(column).table_valued("value")
    return select(items.c.value).where(items.c.value == value).exists()


def _designated(session: Session, kind: str) -> Any:
    """The entry carries a designation of `kind` that has not been lifted, in SQL on both backends."""
    if session.get_bind().dialect.name == "postgresql":
        items = func.jsonb_array_elements(type_coerce(Entry.designations, JSONB)).table_valued(column("value", JSONB))
        return (
            select(items.c.value)
            .where(items.c.value["kind"].astext == kind, items.c.value["lifted"].astext.is_(None))
            .exists()
        )
    items = func.json_each(Entry.designations).table_valued("value")
    return (
        select(items.c.value)
        .where(
            func.json_extract(items.c.value, "$.kind") == kind,
            func.json_extract(items.c.value, "$.lifted").is_(None),
        )
        .exists()
    )


def _filtered(session: Session, filters: Filters) -> Select[Entry]:
    query = select(Entry)
    if filters.kind:
        query = query.where(Entry.kind == filters.kind)
    if filters.status:
        query = query.where(Entry.status == filters.status)
    if filters.program_state:
        query = query.where(Entry.program_state == filters.program_state)
    for listed, value in (
        (Entry.host_countries, filters.country and filters.country.upper()),
        (Entry.countries_served, filters.serves and filters.serves.upper()),
        (Entry.topics, filters.topic),
        (Entry.languages, filters.language and filters.language.lower()),
    ):
        if value:
            query = query.where(_list_has(session, listed, value))
    if filters.designation:
        query = query.where(_designated(session, filters.designation))
    if filters.stale_days is not None:
        cutoff = utcnow() - dt.timedelta(days=filters.stale_days)
        query = query.where(or_(Entry.verified_at.is_(None), Entry.verified_at < cutoff))
    return query


def list_entries(session: Session, filters: Filters = Filters()) -> list[Entry]:
    return list(session.scalars(_filtered(session, filters).order_by(Entry.kind, Entry.slug)))


def search_entries(session: Session, query: str, *, limit: int = 50) -> list[tuple[Entry, float]]:
    hits = search.search_ids(session, query, limit=limit)
    if not hits:
        return []
    by_id = {
        entry.id: entry for entry in session.scalars(select(Entry).where(Entry.id.in_([h.entry_id for h in hits])))
    }
    return [(by_id[hit.entry_id], hit.rank) for hit in hits if hit.entry_id in by_id]


def history(session: Session, slug: str) -> list[Revision]:
    entry = get_entry(session, slug)
    return list(session.scalars(select(Revision).where(Revision.entry_id == entry.id).order_by(Revision.id)))


# --------------------------------------------------------------------------- writes


def slug_of(updates: Mapping[str, Any]) -> str:
    """The record's slug, normalized (raises InvalidEntry when it is missing or not a slug)."""
    try:
        slug = F.FIELD_BY_KEY["slug"].normalize(updates.get("slug"))
    except ValueError as exc:
        raise InvalidEntry(None, [F.FieldError("slug", str(exc))]) from None
    if slug is None:
        raise InvalidEntry(None, [F.FieldError("slug", "is required")])
    return str(slug)


def plan(session: Session, updates: Mapping[str, Any]) -> Change:
    """What `apply` would do with this record, without writing (raises InvalidEntry)."""
    return plan_against(find_entry(session, slug_of(updates)), updates)


def plan_against(entry: Entry | None, updates: Mapping[str, Any]) -> Change:
    """What applying `updates` to `entry` (None: no entry has their slug) would do; `plan` without the
    lookup, for a caller that loaded the entries of many records at once (`find_entries`)."""
    current = to_record(entry) if entry is not None else None
    record = merged_record(current, updates)
    slug = record["slug"]
    if current is None:
        return Change(slug, "create", diff(blank_record(), record))
    changes = diff(current, record)
    return Change(slug, "update" if changes else "unchanged", changes)


def apply(
    session: Session, updates: Mapping[str, Any], actor: Actor, *, reason: str | None = None, minor: bool = False
) -> Change:
    """Upsert by slug: create the entry or change the fields given; fields not given stay as they are.

    `minor` marks a cosmetic change (a typo): it stays in the history but is not published as news.
    """
    return write(session, plan(session, updates), actor, reason=reason, minor=minor)


def write(
    session: Session,
    change: Change,
    actor: Actor,
    *,
    reason: str | None = None,
    minor: bool = False,
    entry: Entry | None = None,
) -> Change:
    """Carry out a `plan` made in this session (`entry`: the entry it was planned against, if any)."""
    if change.action == "create":
        create_all(session, [(change, actor)], reason)
    elif change.action == "update":
        _update(session, entry or get_entry(session, change.slug), change.changes, actor, reason, minor)
    return change


CREATING = "nansen:creating-entries"  # `store.hold` name: one transaction at a time creates entries


def add_entry(session: Session, record: Mapping[str, Any], actor: Actor, *, reason: str | None = None) -> Entry:
    """Create a new entry; refuses a slug that exists (use `edit_entry` to change one)."""
    store.hold(session, CREATING)
    slug = record.get("slug")
    if isinstance(slug, str) and find_entry(session, slug) is not None:
        raise InvalidEntry(slug, [F.FieldError("slug", f"{slug!r} exists already")])
    change = apply(session, record, actor, reason=reason)
    return get_entry(session, change.slug)


def edit_entry(
    session: Session,
    slug: str,
    updates: Mapping[str, Any],
    actor: Actor,
    *,
    reason: str | None = None,
    minor: bool = False,
    based_on: Mapping[str, Any] | None = None,
) -> Change:
    """Change the given fields of an existing entry, held for writing first (`get_entry`), so the
    revisions' old values are what is replaced even when another process edits it at the same time.

    `based_on`: the record (`to_record`) the updates were made from, read earlier without holding it,
    as an editor session does. Then only the fields the updates change relative to it are applied,
    over whatever others changed meanwhile, and EditConflict is raised when someone else changed one
    of those same fields to another value (a three-way merge, field by field, as `git merge` does)."""
    if "slug" in updates and updates["slug"] != slug:
        raise InvalidEntry(slug, [F.FieldError("slug", "cannot be changed: it is the entry's stable id")])
    entry = get_entry(session, slug, for_writing=True)
    if based_on is not None:
        current = to_record(entry)
        updates = _rebased(slug, current, based_on, updates)
        try:
            change = plan_against(entry, {**updates, "slug": slug})
        except InvalidEntry as exc:
            if current == based_on:
                raise
            raise EditConflict(slug, {}, current, {**current, **updates}, "; ".join(exc.lines())) from None
    else:
        change = plan_against(entry, {**updates, "slug": slug})
    return write(session, change, actor, reason=reason, minor=minor, entry=entry)


def _rebased(
    slug: str, current: dict[str, Any], based_on: Mapping[str, Any], updates: Mapping[str, Any]
) -> dict[str, Any]:
    """The fields `updates` changes relative to `based_on` (validated; raises InvalidEntry), or
    EditConflict when `current` has another value than both for one of them."""
    proposed = merged_record(based_on, {**updates, "slug": slug})
    mine = {key: proposed[key] for key in F.KEYS if proposed[key] != based_on.get(key)}
    theirs = {key: current[key] for key in mine if current[key] not in (based_on.get(key), mine[key])}
    if theirs:
        raise EditConflict(slug, theirs, current, {**current, **mine})
    return mine


def verify_entry(
    session: Session, slug: str, actor: Actor, *, note: str | None = None, source: str | None = None
) -> Change:
    """Record that a person checked the entry now (and, optionally, where)."""
    note = checked_reason(note, "the note")
    updates: dict[str, Any] = {"verified_at": utcnow(), "verified_by": actor.name}
    if source:
        updates["source"] = source
    return edit_entry(session, slug, updates, actor, reason=note)


def close_entry(session: Session, slug: str, actor: Actor, *, reason: str) -> Change:
    """Mark an organization closed (it stays listed, with its history)."""
    if not reason.strip():
        raise InvalidEntry(slug, [F.FieldError("status", "closing an entry needs a reason")])
    return edit_entry(session, slug, {"status": "closed"}, actor, reason=reason)


def record_event(
    session: Session, entry: Entry, field_: str, old: Any, new: Any, actor: Actor, reason: str | None
) -> Revision:
    """A revision that is not a field change (an accepted page change): history and news, no edit."""
    revision = _revision(entry, field_, old, new, actor, reason, utcnow())
    session.add(revision)
    entry.updated_at = revision.created_at
    session.flush()
    return revision


def create_all(session: Session, planned: Sequence[tuple[Change, Actor]], reason: str | None) -> list[Entry]:
    """Carry out `create` changes: the entries, then their `created` revisions, each in one flush (the
    database gets them in batches rather than one statement at a time), then their search documents."""
    now = utcnow()
    created = []
    for change, actor in planned:
        entry = Entry(created_at=now, updated_at=now)
        record = {**blank_record(), **{c.field: c.new for c in change.changes}}
        for f in F.FIELDS:
            setattr(entry, f.column, F.column_value(f, record[f.key]))
        created.append((entry, F.nest(record), actor))
    session.add_all([entry for entry, _, _ in created])
    session.flush()
    session.add_all([_revision(entry, "created", None, nested, actor, reason, now) for entry, nested, actor in created])
    session.flush()
    for entry, _, _ in created:
        search.index_entry(session, entry)
    return [entry for entry, _, _ in created]


def _update(
    session: Session, entry: Entry, changes: list[FieldChange], actor: Actor, reason: str | None, minor: bool
) -> None:
    now = utcnow()
    for change in changes:
        f = F.FIELD_BY_KEY[change.field]
        setattr(entry, f.column, F.column_value(f, change.new))
        revision = _revision(entry, change.field, change.old, change.new, actor, reason, now)
        revision.minor = minor
        session.add(revision)
    entry.updated_at = now
    session.flush()
    search.index_entry(session, entry)


def checked_reason(reason: str | None, what: str = "the reason") -> str | None:
    """Why a change was made, as the history keeps it (`fields.note_text`); DomainError naming `what`
    when it holds control or invisible characters or is longer than a paragraph."""
    try:
        return F.note_text(reason, F.TEXT_LIMIT)
    except ValueError as exc:
        raise DomainError(f"{what}: {exc}") from None


def _revision(
    entry: Entry, field_: str, old: Any, new: Any, actor: Actor, reason: str | None, now: dt.datetime
) -> Revision:
    reason = checked_reason(reason)
    return Revision(
        entry_id=entry.id,
        field=field_,
        old=old,
        new=new,
        actor=actor.name,
        reason=reason,
        origin=actor.origin,
        created_at=now,
    )


# --------------------------------------------------------------------------- stats


def stats(session: Session, *, stale_days: int = 180) -> dict[str, Any]:
    """Counts a maintainer looks at: by kind, status, program state, host country and topic."""
    entries = list(session.scalars(select(Entry)))
    cutoff = utcnow() - dt.timedelta(days=stale_days)
    last_change = session.scalar(select(func.max(Revision.created_at)))
    return {
        "entries": len(entries),
        "by_kind": dict(sorted(Counter(e.kind for e in entries).items())),
        "by_status": dict(sorted(Counter(e.status for e in entries).items())),
        "by_program_state": dict(sorted(Counter(e.program_state for e in entries if e.program_state).items())),
        "by_host_country": dict(sorted(Counter(c for e in entries for c in e.host_countries).items())),
        "by_topic": dict(sorted(Counter(t for e in entries for t in e.topics).items())),
        "by_designation": dict(
            sorted(
                Counter(k for e in entries for k in {d["kind"] for d in e.designations if not d.get("lifted")}).items()
            )
        ),
        "with_warnings": sum(1 for e in entries if e.warnings),
        "never_verified": sum(1 for e in entries if e.verified_at is None),
        f"not_verified_in_{stale_days}_days": sum(1 for e in entries if e.verified_at and e.verified_at < cutoff),
        "revisions": session.scalar(select(func.count(Revision.id))) or 0,
        "last_change": last_change.isoformat() if last_change else None,
    }
