"""What subscribers are told: the one definition of an update, derived from the directory's revisions.

An update is one change to one entry (the revisions one `apply` wrote share a timestamp): the entry
was added, closed, reopened, a program's state changed, or a significant field changed. Minor
revisions (typo fixes) and bookkeeping fields (who verified it, when, the source note) are history,
not news. Updates are derived, not stored, so there is exactly one place that decides what is news,
and an id is stable as long as the revisions are: `update-<first revision id>`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session

from directory.models import Entry, Revision
from directory.names import country_name, language_name
from directory.taxonomy import AUTHORITY_BY_SLUG, DESIGNATION_KIND_BY_SLUG, TOPIC_BY_SLUG
from publishing.i18n import LANGUAGES, gettext_for, partial_date

KINDS = ("added", "closed", "reopened", "designation", "program-state", "warning", "page-change", "changed")

# Fields whose change is news, in the order they are told, with their label (an msgid).
SIGNIFICANT: dict[str, str] = {
    "name.en": "Name",
    "name.ru": "Name",
    "website": "Website",
    "summary.en": "Description",
    "summary.ru": "Description",
    "host_countries": "Based in",
    "countries_served": "Serves people from",
    "languages": "Languages",
    "topics": "Topics",
    "status": "Status",
    "program.state": "Program state",
    "program.state_since": "Program state",
    "program.state_note.en": "Program state",
    "program.state_note.ru": "Program state",
    "program.next_call.opens": "Next call opens",
    "program.next_call.closes": "Application deadline",
    "designations": "Designations",
    "warnings": "Warning",
    "program.eligibility.en": "Who qualifies",
    "program.eligibility.ru": "Who qualifies",
    "program.official_url": "Official page",
    "program.application_route.en": "How to apply",
    "program.application_route.ru": "How to apply",
    "page": "Page",
}


def _(message: str) -> str:
    """Marks an msgid for extraction; it is translated where it is used."""
    return message


# msgids used below, listed once so Babel's extractor finds them.
_MESSAGES = (
    _("Name"), _("Website"), _("Description"), _("Based in"), _("Serves people from"), _("Languages"),
    _("Topics"), _("Status"), _("Program state"), _("Who qualifies"), _("Official page"), _("How to apply"),
    _("New in the directory: {name}"), _("{name} has closed"), _("{name} is active again"),
    _("{name}: program is now {state}"), _("{name}: updated"),
    _("{name}: the official page changed"), _("Page"), _("since {date}"), _("none"),
    _("Next call opens"), _("Application deadline"), _("Designations"), _("Warning"), _("Warning withdrawn"),
    _("{name}: designated as {kind}"),
    _("{name}: designation as {kind} lifted"), _("{name}: new warning"), _("{kind}: {authority}, {date}"),
    _("lifted {date}"), _("opens {date}"), _("deadline {date}"), _("last confirmed {date}"),
    _("open"), _("paused"), _("closed"), _("unknown"), _("active"), _("inactive"),
    _("media"), _("ngo"), _("program"),
)  # fmt: skip


@dataclass(frozen=True)
class EntryView:
    """The entry as it is now: what feeds filter on and what an update links to."""

    slug: str
    kind: str
    name: dict[str, str]
    host_countries: tuple[str, ...]
    countries_served: tuple[str, ...]
    languages: tuple[str, ...]
    topics: tuple[str, ...]
    status: str
    program_state: str | None
    program_state_since: str | None  # YYYY-MM-DD, YYYY-MM or YYYY
    warnings: tuple[dict[str, Any], ...] = ()  # the entry's current warnings ({en, ru, date, source})
    state_note: dict[str, str | None] | None = None  # a program's note on its state, per language


@dataclass(frozen=True)
class _Change:
    """One changed field; values stay JSON text until read (most are never read in a build)."""

    field: str
    old_json: str | None
    new_json: str | None

    @functools.cached_property
    def old(self) -> Any:
        return None if self.old_json is None else json.loads(self.old_json)

    @functools.cached_property
    def new(self) -> Any:
        return None if self.new_json is None else json.loads(self.new_json)


@dataclass(frozen=True)
class Update:
    """One piece of news. Title and text (both languages) are worded when first asked for: a build
    reads every update but words only the few that feeds and changed pages show."""

    id: str
    time: dt.datetime
    kind: str
    entry: EntryView
    changes: tuple[_Change, ...]

    @functools.cached_property
    def title(self) -> dict[str, str]:
        return {lang: _title(self.kind, self.entry, self.changes, lang, self.time) for lang in LANGUAGES}

    @functools.cached_property
    def text(self) -> dict[str, str]:
        return {lang: _text(self.kind, self.entry, self.changes, lang, self.time) for lang in LANGUAGES}

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.field for c in self.changes))

    def told_in(self, lang: str) -> bool:
        """Whether the update has news for a reader of `lang`: not when every change is to the other
        language's text (a fixed English summary is nothing to tell the Russian channel)."""
        return any(not _other_language(c.field, lang) for c in self.changes)


def collect(
    session: Session, *, since: dt.datetime | None = None, entry_ids: Collection[int] | None = None
) -> list[Update]:
    """Every update, newest first (optionally only those after `since`, or only of `entry_ids`)."""
    views = load_views(session, entry_ids)
    query = select(
        Revision.id,
        Revision.entry_id,
        Revision.field,
        cast(Revision.old, Text).label("old"),
        cast(Revision.new, Text).label("new"),
        Revision.created_at,
    ).where(Revision.minor.is_(False))
    if since is not None:
        query = query.where(Revision.created_at > since)
    if entry_ids is not None:
        query = query.where(Revision.entry_id.in_(sorted(entry_ids)))
    rows = session.execute(query.order_by(Revision.entry_id, Revision.created_at, Revision.id))
    updates = [
        update
        for (entry_id, moment), group in _groups(rows)
        if (update := _update(views[entry_id], moment, group)) is not None
    ]
    updates.sort(key=order, reverse=True)
    return updates


def order(update: Update) -> tuple[dt.datetime, str]:
    """The sort key of updates (newest first when reversed): their time, then their id as text."""
    return (update.time, update.id)


def load_views(session: Session, entry_ids: Collection[int] | None = None) -> dict[int, EntryView]:
    """{entry id: the entry as it is now}, for every entry or only `entry_ids`."""
    query = select(*_VIEW_COLUMNS)
    if entry_ids is not None:
        query = query.where(Entry.id.in_(sorted(entry_ids)))
    return {row.id: _view(row) for row in session.execute(query)}


def newest_revision(session: Session) -> int | None:
    """The highest revision id (minor ones included), None when there is none: a build's high-water mark."""
    return session.scalar(select(func.max(Revision.id)))


def revised_since(session: Session, mark: int) -> set[int]:
    """Ids of the entries that have a revision (minor or not) above the high-water mark `mark`."""
    return set(session.scalars(select(Revision.entry_id).where(Revision.id > mark).distinct()))


def _groups(rows: Iterable[Any]) -> Iterator[tuple[tuple[int, dt.datetime], list[Any]]]:
    key: tuple[int, dt.datetime] | None = None
    group: list[Any] = []
    for row in rows:
        row_key = (row.entry_id, row.created_at)
        if row_key != key and group:
            yield key, group  # type: ignore[misc]
            group = []
        key = row_key
        group.append(row)
    if group:
        yield key, group  # type: ignore[misc]


_VIEW_COLUMNS = (
    Entry.id, Entry.slug, Entry.kind, Entry.name_en, Entry.name_ru, Entry.host_countries, Entry.countries_served,
    Entry.languages, Entry.topics, Entry.status, Entry.program_state, Entry.program_state_since, Entry.warnings,
    Entry.state_note_en, Entry.state_note_ru,
)  # fmt: skip


def _view(entry: Any) -> EntryView:
    return EntryView(
        slug=entry.slug,
        kind=entry.kind,
        name={"en": entry.name_en, "ru": entry.name_ru},
        host_countries=tuple(entry.host_countries),
        countries_served=tuple(entry.countries_served),
        languages=tuple(entry.languages),
        topics=tuple(entry.topics),
        status=entry.status,
        program_state=entry.program_state,
        program_state_since=entry.program_state_since,
        warnings=tuple(entry.warnings or ()),
        state_note={"en": entry.state_note_en, "ru": entry.state_note_ru},
    )


def _update(entry: EntryView, moment: dt.datetime, rows: Sequence[Any]) -> Update | None:
    changes = [
        _Change(row.field, row.old, row.new) for row in rows if row.field in SIGNIFICANT or row.field == "created"
    ]
    if not changes:
        return None
    return Update(
        id=f"update-{rows[0].id}", time=moment, kind=_kind(changes, moment), entry=entry, changes=tuple(changes)
    )


def _json_text(value: str | None) -> str | None:
    """SQL NULL and JSON null both mean "no value"."""
    return None if value is None or value == "null" else value


def _kind(changes: Sequence[_Change], moment: dt.datetime) -> str:
    by_field = {c.field: c for c in changes}
    if "created" in by_field:
        return "added"
    status = by_field.get("status")
    if status and status.new == "closed":
        return "closed"
    if status and status.new == "active" and status.old in ("closed", "inactive"):
        return "reopened"
    designations = by_field.get("designations")
    if designations and (_designated(designations, moment) or _lifted(designations, moment)):
        return "designation"
    if "program.state" in by_field:
        return "program-state"
    warnings = by_field.get("warnings")
    if warnings and _new_warnings(warnings):
        return "warning"
    if "page" in by_field:
        return "page-change"
    return "changed"


# A designation is news when it is new: made (or lifted) within this window before the edit that
# records it. Recording an old designation (data filled in later) or correcting a date is a change,
# told as one, not a headline that the organization was just designated.
NEWS_WINDOW = dt.timedelta(days=180)


def _recent(date: str, moment: dt.datetime) -> bool:
    """Whether a partial date (YYYY, YYYY-MM, YYYY-MM-DD) may fall within NEWS_WINDOW before `moment`."""
    latest = {4: f"{date}-12-31", 7: f"{date}-28"}.get(len(date), date)
    return dt.date.fromisoformat(latest) >= (moment - NEWS_WINDOW).date()


def _active(items: Any) -> set[tuple[str, str]]:
    """(authority, kind) of the designations in force (not lifted): what a designation is, whatever its date."""
    return {(item["authority"], item["kind"]) for item in items or [] if not item.get("lifted")}


def _designated(change: _Change, moment: dt.datetime) -> list[dict[str, Any]]:
    """Designations this change put in force that were made recently."""
    before = _active(change.old)
    return [
        item
        for item in change.new or []
        if not item.get("lifted") and (item["authority"], item["kind"]) not in before and _recent(item["date"], moment)
    ]


def _lifted(change: _Change, moment: dt.datetime) -> list[dict[str, Any]]:
    """Designations in force before this change that it records as recently lifted."""
    before = _active(change.old)
    return [
        item
        for item in change.new or []
        if item.get("lifted") and (item["authority"], item["kind"]) in before and _recent(item["lifted"], moment)
    ]


def _warning_key(item: dict[str, Any]) -> tuple[str, str]:
    """A warning is told apart by its date and source, so rewording one is not a new warning."""
    return (item.get("date", ""), item.get("source", ""))


def _new_warnings(change: _Change) -> list[dict[str, Any]]:
    old = {_warning_key(item) for item in change.old or []}
    return [item for item in change.new or [] if _warning_key(item) not in old]


def _withdrawn_warnings(change: _Change) -> list[dict[str, Any]]:
    new = {_warning_key(item) for item in change.new or []}
    return [item for item in change.old or [] if _warning_key(item) not in new]


def designation_text(item: dict[str, Any], lang: str) -> str:
    """ "foreign agent: Ministry of Justice of Russia, 23 April 2021" in the reader's language."""
    kind = DESIGNATION_KIND_BY_SLUG.get(item.get("kind", ""))
    authority = AUTHORITY_BY_SLUG.get(item.get("authority", ""))
    text = gettext_for(lang, "{kind}: {authority}, {date}").format(
        kind=getattr(kind, lang) if kind else item.get("kind"),
        authority=getattr(authority, lang) if authority else item.get("authority"),
        date=partial_date(item["date"], lang),
    )
    if item.get("lifted"):
        text += " (" + gettext_for(lang, "lifted {date}").format(date=partial_date(item["lifted"], lang)) + ")"
    return text


def _title(kind: str, entry: EntryView, changes: Sequence[_Change], lang: str, moment: dt.datetime) -> str:
    t = lambda message: gettext_for(lang, message)  # noqa: E731
    name = entry.name[lang]
    if kind == "added":
        return t("New in the directory: {name}").format(name=name)
    if kind == "closed":
        return t("{name} has closed").format(name=name)
    if kind == "reopened":
        return t("{name} is active again").format(name=name)
    if kind == "program-state":
        state = next(c.new for c in changes if c.field == "program.state")
        return t("{name}: program is now {state}").format(name=name, state=t(state))
    if kind == "page-change":
        return t("{name}: the official page changed").format(name=name)
    if kind == "designation":
        change = next(c for c in changes if c.field == "designations")
        added = _designated(change, moment)
        item, message = (
            (added[-1], "{name}: designated as {kind}")
            if added
            else (_lifted(change, moment)[-1], "{name}: designation as {kind} lifted")
        )
        label = DESIGNATION_KIND_BY_SLUG.get(item["kind"])
        return t(message).format(name=name, kind=getattr(label, lang) if label else item["kind"])
    if kind == "warning":
        return t("{name}: new warning").format(name=name)
    return t("{name}: updated").format(name=name)


def _text(kind: str, entry: EntryView, changes: Sequence[_Change], lang: str, moment: dt.datetime) -> str:
    """Plain text: what changed, in the reader's language (other-language fields are left out)."""
    if kind == "added":
        created = next(c.new for c in changes if c.field == "created")
        return created.get("summary", {}).get(lang, "")
    if kind == "page-change":
        page = next(c.new for c in changes if c.field == "page")
        return f"{page['url']}\n{diff_summary(page.get('diff', ''))}"
    lines: list[str] = []
    seen_labels: set[str] = set()
    for change in changes:
        if change.field == "created" or _other_language(change.field, lang):
            continue
        label = gettext_for(lang, SIGNIFICANT[change.field])
        if label in seen_labels:
            continue
        seen_labels.add(label)
        if change.field == "warnings":
            lines.extend(_warning_lines(change, lang))
        elif change.field.startswith("program.state"):
            lines.append(f"{label}: {_state_text(_state_then(entry, changes), lang)}")
        else:
            value = change.new
            if change.field == "designations":
                value = [*_designated(change, moment), *_lifted(change, moment)] or value
            lines.append(f"{label}: {_value(change.field, value, entry, lang)}")
    return "\n".join(lines)


def _warning_lines(change: _Change, lang: str) -> list[str]:
    """New warnings as warnings, withdrawn ones as withdrawn; a reworded one as it reads now."""
    t = lambda message: gettext_for(lang, message)  # noqa: E731
    new, withdrawn = _new_warnings(change), _withdrawn_warnings(change)
    if not new and not withdrawn:
        new = list(change.new or [])
    return [f"{t('Warning')}: {_warning_text(item, lang)}" for item in new] + [
        f"{t('Warning withdrawn')}: {_warning_text(item, lang)}" for item in withdrawn
    ]


def _warning_text(item: dict[str, Any], lang: str) -> str:
    return f"{item[lang]} ({partial_date(item['date'], lang)})"


def _state_then(entry: EntryView, changes: Sequence[_Change]) -> EntryView:
    """The entry as this update left its program's state: as it is now while that state holds; else
    the state (and since when) the update set, without today's note."""
    by_field = {c.field: c for c in changes}
    state = by_field.get("program.state")
    if state is None or state.new == entry.program_state:
        return entry
    since = by_field.get("program.state_since")
    return dataclasses.replace(
        entry, program_state=state.new, program_state_since=since.new if since else None, state_note=None
    )


def _state_text(entry: EntryView, lang: str) -> str:
    """The program's state as it is now, with since when (or when last confirmed) and its note."""
    state = _value("program.state", entry.program_state, entry, lang)
    note = entry.state_note.get(lang) if entry.state_note else None
    return f"{state}. {note}" if note else state


def diff_summary(diff: str, limit: int = 12) -> str:
    """The added and removed lines of a unified diff, for reading (not for patching)."""
    lines = [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    shown = [f"{line[0]} {line[1:].strip()}" for line in lines[:limit]]
    if len(lines) > limit:
        shown.append("…")
    return "\n".join(shown)


def _other_language(field: str, lang: str) -> bool:
    suffix = field.rsplit(".", 1)[-1]
    return suffix in LANGUAGES and suffix != lang


def _value(field: str, value: Any, entry: EntryView, lang: str) -> str:
    t = lambda message: gettext_for(lang, message)  # noqa: E731
    if value in (None, [], ""):
        return t("none")
    if field in ("host_countries", "countries_served"):
        return ", ".join(country_name(code, lang) for code in value)
    if field == "languages":
        return ", ".join(language_name(code, lang) for code in value)
    if field == "topics":
        return ", ".join(getattr(TOPIC_BY_SLUG[slug], lang) for slug in value if slug in TOPIC_BY_SLUG)
    if field in ("status", "program.state"):
        text = t(value)
        if field == "program.state" and entry.program_state_since:
            since = entry.program_state_since
            text += (
                " ("
                + (
                    t("last confirmed {date}").format(date=partial_date(since, lang))
                    if value == "unknown"
                    else t("since {date}").format(date=partial_date(since, lang, after_since=True))
                )
                + ")"
            )
        return text
    if field == "designations":
        return "; ".join(designation_text(item, lang) for item in value)
    if field in ("program.state_since", "program.next_call.opens", "program.next_call.closes"):
        return partial_date(value, lang)
    return str(value)
