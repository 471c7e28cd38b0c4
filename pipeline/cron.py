"""Cron expressions as crontab(5) reads them, turned into APScheduler 3 triggers.

APScheduler's own cron syntax differs from crontab's where it hurts: it counts weekdays from Monday=0,
its weekday ranges such as `sun-sat` run backwards, and it requires both day of month and weekday to
match where crontab runs a job when either matches. So every field is parsed here into the set of
values crontab means, and APScheduler is handed explicit lists (weekdays by name), which both read
the same way.

Five fields as in crontab(5) — minute, hour, day of month, month, weekday — or six with seconds
first (for tests and demos). Each field is `*` or a comma list of numbers, names (months `jan`..`dec`,
weekdays `sun`..`sat`, any case) and ascending ranges `a-b`; `*` and ranges take a step `/n`. Weekday
0 and 7 are both Sunday. When both day of month and weekday are restricted (neither starts with `*`),
the job runs on days that match either.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MONTH_DAYS = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] means low + i

    def value(self, text: str) -> int:
        if text.isascii() and text.isdigit():
            number = int(text)
            if not self.low <= number <= self.high:
                raise ValueError(f"{self.name}: {number} is out of range {self.low}-{self.high}")
            return number
        if text.lower() in self.names:
            return self.low + self.names.index(text.lower())
        known = f" or a name ({self.names[0]}..{self.names[-1]})" if self.names else ""
        raise ValueError(f"{self.name}: {text!r} is not a number{known}")

    def parse(self, text: str) -> frozenset[int]:
        """The values one field means; ValueError naming the field when it is not valid crontab."""
        values: set[int] = set()
        for element in text.split(","):
            if not element:
                raise ValueError(f"{self.name}: empty element in {text!r}")
            span, slash, step_text = element.partition("/")
            step = 1
            if slash:
                if not (step_text.isascii() and step_text.isdigit()) or int(step_text) == 0:
                    raise ValueError(f"{self.name}: the step in {element!r} must be a positive number")
                step = int(step_text)
            if span == "*":
                first, last = self.low, self.high
            elif "-" in span:
                start, _, end = span.partition("-")
                if not start or not end:
                    raise ValueError(f"{self.name}: the range {span!r} needs a start and an end")
                first, last = self.value(start), self.value(end)
                if first > last:
                    raise ValueError(
                        f"{self.name}: the range {span} goes backwards; crontab ranges do not wrap "
                        f"(write {start}-{self.high},{self.low}-{end})"
                    )
            elif slash:
                raise ValueError(f"{self.name}: a step needs a range or * (write {span}-{self.high}/{step})")
            else:
                first = last = self.value(span)
            values.update(range(first, last + 1, step))
        return frozenset(values)

    def apscheduler(self, values: frozenset[int]) -> str:
        """The same values in APScheduler's syntax: `*`, or an explicit comma list."""
        if values >= set(range(self.low, self.high + 1)):
            return "*"
        return ",".join(str(v) for v in sorted(values))


_SECOND = _Field("second", 0, 59)
_MINUTE = _Field("minute", 0, 59)
_HOUR = _Field("hour", 0, 23)
_DAY = _Field("day of month", 1, 31)
_MONTH = _Field("month", 1, 12, _MONTHS)
_WEEKDAY = _Field("weekday", 0, 7, _WEEKDAYS)


def _weekdays(values: frozenset[int]) -> str:
    """Crontab weekdays (0 and 7 Sunday) as APScheduler weekday names, which mean the same to it."""
    days = {v % 7 for v in values}
    if len(days) == 7:
        return "*"
    return ",".join(_WEEKDAYS[d] for d in sorted(days))


def zone(timezone: str) -> ZoneInfo:
    """The IANA time zone named (`Europe/Berlin`); ValueError saying so when there is none."""
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{timezone!r} is not a known time zone (e.g. UTC, Europe/Berlin)") from None


def parse(expression: str) -> tuple[list[str], list[frozenset[int]]]:
    """The six field texts (seconds first) and the values each means; ValueError with a one-line
    reason naming the field. What the settings check when they are read, before any trigger is made."""
    texts = expression.split()
    if len(texts) == 5:
        texts = ["0", *texts]
    if len(texts) != 6:
        raise ValueError(f"expected 5 cron fields (or 6 with seconds first), got {len(texts)}")
    values = [
        field.parse(text) for field, text in zip((_SECOND, _MINUTE, _HOUR, _DAY, _MONTH, _WEEKDAY), texts, strict=True)
    ]
    if min(values[3]) > max(_MONTH_DAYS[m] for m in values[4]):
        raise ValueError(f"day of month: {texts[3]} never occurs in month {texts[4]}")
    return texts, values


def trigger_for(expression: str, timezone: str) -> Any:
    """An APScheduler 3 trigger that fires when crontab(5) would run `expression` in `timezone`.

    Raises ValueError with a one-line reason naming the field. The trigger pickles (the job store
    keeps it): a CronTrigger, or an OrTrigger of two when day of month and weekday are both
    restricted.
    """
    from apscheduler.triggers.combining import OrTrigger  # noqa: PLC0415 - only the scheduler needs it
    from apscheduler.triggers.cron import CronTrigger  # noqa: PLC0415

    texts, (second, minute, hour, day, month, weekday) = parse(expression)
    common = {
        "second": _SECOND.apscheduler(second),
        "minute": _MINUTE.apscheduler(minute),
        "hour": _HOUR.apscheduler(hour),
        "month": _MONTH.apscheduler(month),
        "timezone": zone(timezone),
    }
    day_text, weekday_text = _DAY.apscheduler(day), _weekdays(weekday)
    if texts[3].startswith("*") or texts[5].startswith("*"):
        return CronTrigger(day=day_text, day_of_week=weekday_text, **common)
    return OrTrigger(
        [CronTrigger(day=day_text, day_of_week="*", **common), CronTrigger(day="*", day_of_week=weekday_text, **common)]
    )


def latest_slot(expression: str, timezone: str, now: dt.datetime, window: dt.timedelta) -> dt.datetime | None:
    """The most recent time ≤ now the schedule was due (looking back at most `window`), in UTC."""
    trigger = trigger_for(expression, timezone)
    fire = trigger.get_next_fire_time(None, now - window)
    slot = None
    while fire is not None and fire <= now:
        slot = fire.astimezone(dt.UTC)
        # Step on in UTC: adding to a local time in the hour repeated when clocks go back would
        # land in its first pass again (fold is lost), and this loop would never end.
        fire = trigger.get_next_fire_time(fire, slot + dt.timedelta(microseconds=1))
    return slot
