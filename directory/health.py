"""Site health: each check is recorded; the rules that turn checks into proposals live here.

A site is proposed `inactive` only after N consecutive failed checks spanning at least M days
(defaults 3 and 7), so one bad night never flags an outlet. 429 and 403 say "not now", not "gone":
they count as `unknown` and break no streak. A permanent redirect to another host is proposed as a
website change, never applied: it is what a domain sale or a phishing takeover looks like too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory import entries, proposals, untrusted
from directory.models import LinkCheck, Proposal, utcnow

UNKNOWN_STATUSES = frozenset({401, 403, 429})
# Failures that say nothing about whether the site is up: we were not allowed, or chose not, to read it.
UNKNOWN_ERRORS = frozenset({"robots", "too-large", "blocked", "ignored"})


@dataclass(frozen=True)
class HealthRules:
    failures: int = 3
    days: int = 7


@dataclass(frozen=True)
class Check:
    """What one fetch of an entry's website showed (already sanitized by the crawler)."""

    url: str
    final_url: str | None = None
    status_code: int | None = None
    error: str | None = None
    error_kind: str | None = None
    latency_ms: int | None = None
    permanent_redirect: str | None = None  # where a 301/308 chain ended, if it did
    feeds: tuple[str, ...] = ()
    email: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    checked_at: dt.datetime | None = None

    @property
    def outcome(self) -> str:
        if self.status_code in UNKNOWN_STATUSES or self.error_kind in UNKNOWN_ERRORS:
            return "unknown"
        if self.status_code is not None and 200 <= self.status_code < 400:
            return "ok"
        return "dead"


def record_check(
    session: Session, slug: str, check: Check, *, rules: HealthRules = HealthRules(), origin: str = "crawler:site"
) -> list[Proposal]:
    """Store the check and return the proposals it gives rise to."""
    entry = entries.get_entry(session, slug)
    session.add(
        LinkCheck(
            entry_id=entry.id,
            url=untrusted.text(check.url),
            final_url=untrusted.optional(check.final_url),
            status_code=check.status_code,
            outcome=check.outcome,
            error=untrusted.optional(check.error),
            latency_ms=check.latency_ms,
            details=untrusted.value(check.details),
            checked_at=check.checked_at or utcnow(),
        )
    )
    session.flush()
    suggestions = []
    if check.outcome == "dead" and entry.status == "active" and _failing(session, entry.id, rules):
        suggestions.append(
            proposals.Suggestion(
                "site-down",
                "status",
                "inactive",
                {
                    "url": check.url,
                    "seen": f"{rules.failures}+ failed checks over {rules.days}+ days",
                    "last_error": check.error or f"HTTP {check.status_code}",
                    "time": _now_text(check),
                },
            )
        )
    if check.permanent_redirect and _other_host(check.url, check.permanent_redirect):
        suggestions.append(
            proposals.Suggestion(
                "website-moved",
                "website",
                check.permanent_redirect,
                {
                    "url": check.url,
                    "seen": f"permanent redirect to {check.permanent_redirect}",
                    "time": _now_text(check),
                },
            )
        )
    if check.outcome == "ok":
        suggestions += [
            proposals.Suggestion(
                "feed-found",
                "feeds",
                url,
                {"url": check.final_url or check.url, "seen": "feed link on the home page", "time": _now_text(check)},
                operation="add",
            )
            for url in check.feeds
        ]
        if check.email and not entry.contact_email:
            suggestions.append(
                proposals.Suggestion(
                    "contact-found",
                    "contacts.email",
                    check.email,
                    {
                        "url": check.final_url or check.url,
                        "seen": "email in the page's metadata",
                        "time": _now_text(check),
                    },
                )
            )
    made = []
    for suggestion in suggestions:
        try:
            proposal = proposals.propose(session, entry, suggestion, origin)
        except ValueError:
            continue  # a value our own rules refuse (e.g. a malformed feed URL) is not worth a review
        if proposal is not None:
            made.append(proposal)
    return made


def _failing(session: Session, entry_id: int, rules: HealthRules) -> bool:
    """The last `failures` decisive checks all failed, and they span at least `days` days."""
    recent = list(
        session.scalars(
            select(LinkCheck)
            .where(LinkCheck.entry_id == entry_id, LinkCheck.outcome != "unknown")
            .order_by(LinkCheck.checked_at.desc(), LinkCheck.id.desc())
            .limit(rules.failures)
        )
    )
    if len(recent) < rules.failures or any(c.outcome != "dead" for c in recent):
        return False
    return recent[0].checked_at - recent[-1].checked_at >= dt.timedelta(days=rules.days)


def _other_host(old: str, new: str) -> bool:
    return (urlsplit(old).hostname or "").removeprefix("www.") != (urlsplit(new).hostname or "").removeprefix("www.")


def _now_text(check: Check) -> str:
    return (check.checked_at or utcnow()).isoformat()
