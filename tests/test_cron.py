"""Cron expressions mean what crontab(5) says: fire times checked against croniter, refusals by field."""

from __future__ import annotations

import datetime as dt
import pickle
import threading
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from pipeline.cron import latest_slot, trigger_for

BERLIN = ZoneInfo("Europe/Berlin")
STARTS = {
    "utc": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    "berlin-spring": dt.datetime(2026, 3, 28, 20, tzinfo=BERLIN),  # clocks go 02:00 → 03:00 on the 29th
    "berlin-autumn": dt.datetime(2026, 10, 24, 20, tzinfo=BERLIN),  # clocks go 03:00 → 02:00 on the 25th
}
EXPRESSIONS = [
    "0 9 * * 0-6",
    "0 9 * * 0-4",
    "0 9 * * 1-5",
    "0 9 * * 7",
    "0 9 * * sun",
    "0 9 * * mon-fri",
    "0 9 * * MON-Fri",
    "0 9 * * 5-7",
    "*/15 * * * *",
    "0 */6 * * *",
    "0 9 * * */2",
    "0 9 * * 1-5/2",
    "0 9 1 * 1",  # day of month and weekday both restricted: either matches
    "0 9 13 * 5",
    "0 9 1-31 * 1",
    "30 4 * * *",
    "0 3 * * 1",
    "0 0 1 jan *",
    "0 0 1 JAN,jul *",
    "0 12 * 2-4 *",
    "5,35 8-10 * * *",
    "*/30 1-3 * * *",  # through the hours the clocks change
    "0 0 29 2 *",
    "*/20 * * * * *",  # six fields, seconds first
    "30 0 9 * * 1-5",
]


def fire_times(trigger: object, start: dt.datetime, count: int) -> list[dt.datetime]:
    """The trigger's next `count` fire times after `start`, stepping as the scheduler does (in UTC)."""
    times: list[dt.datetime] = []
    fire = trigger.get_next_fire_time(None, start + dt.timedelta(microseconds=1))  # type: ignore[attr-defined]
    while fire is not None and len(times) < count:
        times.append(fire.astimezone(dt.UTC))
        fire = trigger.get_next_fire_time(fire, times[-1] + dt.timedelta(microseconds=1))  # type: ignore[attr-defined]
    return times


def cron_times(expression: str, start: dt.datetime, count: int) -> list[dt.datetime]:
    it = croniter(expression, start, second_at_beginning=len(expression.split()) == 6)
    return [it.get_next(dt.datetime).astimezone(dt.UTC) for _ in range(count)]


@pytest.mark.parametrize("start", STARTS.values(), ids=STARTS.keys())
@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_fire_times_match_croniter(expression: str, start: dt.datetime) -> None:
    expected = cron_times(expression, start, 30)
    trigger = trigger_for(expression, str(start.tzinfo))
    assert fire_times(trigger, start, 30) == expected
    restored = pickle.loads(pickle.dumps(trigger))  # the job store keeps triggers pickled
    assert fire_times(restored, start, 30) == expected


def test_weekdays_count_from_sunday() -> None:
    start = STARTS["utc"]  # a Thursday
    days = {e: {t.strftime("%a") for t in fire_times(trigger_for(e, "UTC"), start, 14)} for e in EXPRESSIONS[:6]}
    assert days["0 9 * * 0-6"] == {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
    assert days["0 9 * * 0-4"] == {"Sun", "Mon", "Tue", "Wed", "Thu"}
    assert days["0 9 * * 1-5"] == days["0 9 * * mon-fri"] == {"Mon", "Tue", "Wed", "Thu", "Fri"}
    assert days["0 9 * * 7"] == days["0 9 * * sun"] == {"Sun"}


def test_a_weekday_field_starting_with_a_star_narrows_the_days_of_month() -> None:
    """crontab(5): either field matches only when *both* are restricted, i.e. neither starts with `*`;
    `*/2` (Sun, Tue, Thu, Sat) therefore narrows the 1st of the month (croniter ORs them here)."""
    firsts = [dt.date(2026, month, 1) for month in range(1, 13)]
    expected = [day for day in firsts if day.strftime("%a") in ("Sun", "Tue", "Thu", "Sat")]
    times = fire_times(trigger_for("0 9 1 * */2", "UTC"), STARTS["utc"], len(expected))
    assert [t.date() for t in times] == expected and len(expected) < 12


def test_a_time_the_spring_change_skips_runs_once_that_day_after_the_change() -> None:
    times = fire_times(trigger_for("30 2 * * *", "Europe/Berlin"), STARTS["berlin-spring"], 3)
    changed = [t.astimezone(BERLIN) for t in times if t.astimezone(BERLIN).date() == dt.date(2026, 3, 29)]
    assert len(changed) == 1 and dt.time(3) <= changed[0].time() < dt.time(4)


def finishes(call: Callable[[], object]) -> object:
    """call(), failing the test instead of hanging it should the call never return."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert result, "did not return: it loops for ever"
    return result[0]


def test_latest_slot_in_the_hour_repeated_in_autumn() -> None:
    """Both passes of 02:00–03:00 are slots; stepping on in local time used to loop for ever here."""
    second_pass = dt.datetime(2026, 10, 25, 1, 50, tzinfo=dt.UTC)  # 02:50 CET
    first_pass = dt.datetime(2026, 10, 25, 0, 50, tzinfo=dt.UTC)  # 02:50 CEST
    window = dt.timedelta(hours=3)
    assert finishes(lambda: latest_slot("*/15 * * * *", "Europe/Berlin", second_pass, window)) == dt.datetime(
        2026, 10, 25, 1, 45, tzinfo=dt.UTC
    )
    assert finishes(lambda: latest_slot("30 2 * * *", "Europe/Berlin", first_pass, window)) == dt.datetime(
        2026, 10, 25, 0, 30, tzinfo=dt.UTC
    )
    assert finishes(lambda: latest_slot("30 2 * * *", "Europe/Berlin", second_pass, window)) == dt.datetime(
        2026, 10, 25, 1, 30, tzinfo=dt.UTC
    )


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("0 9 * * 8", "weekday: 8 is out of range 0-7"),
        ("0 9 * * 5-1", "weekday: the range 5-1 goes backwards; crontab ranges do not wrap (write 5-7,0-1)"),
        ("0 9 * * fri-mon", "weekday: the range fri-mon goes backwards"),
        ("61 * * * *", "minute: 61 is out of range 0-59"),
        ("* * *", "expected 5 cron fields (or 6 with seconds first), got 3"),
        ("* * * * * * *", "expected 5 cron fields (or 6 with seconds first), got 7"),
        ("0 9 * * 1-", "weekday: the range '1-' needs a start and an end"),
        ("0 9 * * xyz", "weekday: 'xyz' is not a number or a name (sun..sat)"),
        ("0 9 * foo *", "month: 'foo' is not a number or a name (jan..dec)"),
        ("0 mon * * *", "hour: 'mon' is not a number"),
        ("0 24 * * *", "hour: 24 is out of range 0-23"),
        ("0 0 0 * *", "day of month: 0 is out of range 1-31"),
        ("0 0 * 13 *", "month: 13 is out of range 1-12"),
        ("60 * * * * *", "second: 60 is out of range 0-59"),
        ("*/0 * * * *", "minute: the step in '*/0' must be a positive number"),
        ("*/x * * * *", "minute: the step in '*/x' must be a positive number"),
        ("5/15 * * * *", "minute: a step needs a range or * (write 5-59/15)"),
        ("1,,2 * * * *", "minute: empty element in '1,,2'"),
        ("0 0 31 2 *", "day of month: 31 never occurs in month 2"),
        ("0 0 30,31 feb 1", "day of month: 30,31 never occurs in month feb"),
    ],
)
def test_invalid_expressions_are_refused_with_the_field_named(expression: str, reason: str) -> None:
    with pytest.raises(ValueError) as raised:
        trigger_for(expression, "UTC")
    assert str(raised.value).startswith(reason) and "\n" not in str(raised.value)


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="'Mars/Olympus' is not a known time zone"):
        trigger_for("0 9 * * *", "Mars/Olympus")
