"""Working-time arithmetic: office hours, lunch break, weekends, statutory holidays, 调休, zones."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta

import pytest

from app.services.worktime import CalendarError, load_calendar, parse_calendar

CONFIG = {"zone": "Asia/Shanghai", "office_hours": ["08:30-12:00", "14:00-17:30"]}


def utc(local: str) -> datetime:
    """A Beijing wall-clock time as the naive UTC the database stores (UTC+8, no DST)."""
    return datetime.fromisoformat(local) - timedelta(hours=8)


@pytest.fixture()
def cal():  # type: ignore[no-untyped-def]
    return parse_calendar(CONFIG)


def test_within_one_period(cal) -> None:  # type: ignore[no-untyped-def]
    assert cal.add_hours(utc("2025-06-10 09:00"), 2) == utc("2025-06-10 11:00")


def test_across_lunch_break(cal) -> None:  # type: ignore[no-untyped-def]
    assert cal.add_hours(utc("2025-06-10 11:00"), 2) == utc("2025-06-10 15:00")
    # started during lunch: the clock runs from 14:00
    assert cal.add_hours(utc("2025-06-10 12:30"), 1) == utc("2025-06-10 15:00")


def test_a_limit_ending_at_noon_ends_at_noon(cal) -> None:  # type: ignore[no-untyped-def]
    assert cal.add_hours(utc("2025-06-10 08:30"), 3.5) == utc("2025-06-10 12:00")


def test_friday_afternoon_to_monday(cal) -> None:  # type: ignore[no-untyped-def]
    # the example: 4 working hours set on Friday at 17:00 end on Monday
    assert cal.add_hours(utc("2025-06-13 17:00"), 4) == utc("2025-06-16 12:00")  # 0.5 h Fri + 3.5 h Mon


def test_from_midnight_and_after_hours(cal) -> None:  # type: ignore[no-untyped-def]
    assert cal.add_hours(utc("2025-06-10 00:00"), 1) == utc("2025-06-10 09:30")
    assert cal.add_hours(utc("2025-06-10 23:59"), 0.5) == utc("2025-06-11 09:00")


def test_midnight_in_beijing_is_the_previous_day_in_utc(cal) -> None:  # type: ignore[no-untyped-def]
    # 2025-06-14 00:30 Beijing (a Saturday) is 2025-06-13 16:30 UTC (a Friday): Beijing's date counts
    start = datetime(2025, 6, 13, 16, 30)
    assert cal.to_local(start).date() == date(2025, 6, 14)
    assert cal.add_hours(start, 1) == utc("2025-06-16 09:30")


def test_national_day_holiday_is_skipped(cal) -> None:  # type: ignore[no-untyped-def]
    # 2025: Oct 1–8 off; Tue Sep 30 16:30 + 2 h → Thu Oct 9 09:30
    assert cal.add_hours(utc("2025-09-30 16:30"), 2) == utc("2025-10-09 09:30")


def test_make_up_saturday_is_a_working_day(cal) -> None:  # type: ignore[no-untyped-def]
    # 2025-10-11 is a Saturday worked in exchange (调休): Fri Oct 10 17:00 + 1 h → Sat Oct 11 09:00
    assert cal.is_working_day(date(2025, 10, 11))
    assert cal.add_hours(utc("2025-10-10 17:00"), 1) == utc("2025-10-11 09:00")
    # and the make-up Sunday before National Day
    assert cal.add_hours(utc("2025-09-27 10:00"), 1) == utc("2025-09-28 09:30")


def test_working_days(cal) -> None:  # type: ignore[no-untyped-def]
    assert cal.add_days(utc("2025-06-13 10:00"), 1) == utc("2025-06-16 10:00")  # Fri → Mon
    assert cal.add_days(utc("2025-09-30 10:00"), 1) == utc("2025-10-09 10:00")  # over National Day
    assert cal.add_days(utc("2025-06-13 20:00"), 1) == utc("2025-06-16 17:30")  # after hours: end of day


def test_local_closures_and_working_days() -> None:
    cal = parse_calendar({**CONFIG, "closed": ["2025-06-11"], "working": ["2025-06-14"]})
    assert cal.add_hours(utc("2025-06-10 17:00"), 1) == utc("2025-06-12 09:00")
    assert cal.add_hours(utc("2025-06-13 17:00"), 1) == utc("2025-06-14 09:00")


def test_configurable_office_hours_and_zone() -> None:
    cal = parse_calendar({"zone": "Europe/Berlin", "office_hours": ["09:00-17:00"]})
    assert cal.hours_per_day == 8
    # 2025-06-10 09:00 in Berlin (summer time, UTC+2) is 07:00 UTC
    assert cal.add_hours(datetime(2025, 6, 10, 7, 0), 8) == datetime(2025, 6, 10, 15, 0)


def test_year_the_package_lacks_falls_back_to_weekdays_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    cal = parse_calendar(CONFIG)
    with caplog.at_level(logging.WARNING):
        # 2027-01-01 is a Friday; with no holiday table it counts as a working day
        assert cal.add_hours(utc("2026-12-31 17:00"), 1) == utc("2027-01-01 09:00")
    assert 2027 in cal.missing_years
    assert "2027" in caplog.text


def test_year_table_in_config_fills_the_gap() -> None:
    cal = parse_calendar({**CONFIG, "years": {2027: {"holidays": ["2027-01-01"], "workdays": ["2027-01-02"]}}})
    assert not cal.is_working_day(date(2027, 1, 1))
    assert cal.is_working_day(date(2027, 1, 2))  # a Saturday worked in exchange
    assert cal.add_hours(utc("2026-12-31 17:00"), 1) == utc("2027-01-02 09:00")
    assert not cal.missing_years


@pytest.mark.parametrize("bad", [
    {"office_hours": ["14:00-12:00"]},
    {"office_hours": ["08:30-12:00", "11:00-17:30"]},
    {"office_hours": ["noon"]},
    {"zone": "Mars/Olympus"},
])
def test_bad_config_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(CalendarError):
        parse_calendar({**CONFIG, **bad})


def test_negative_limits_are_refused(cal) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        cal.add_hours(utc("2025-06-10 09:00"), -1)


def test_shipped_config_loads() -> None:
    cal = load_calendar()
    assert cal.hours_per_day == 7
    assert str(cal.zone) == "Asia/Shanghai"


def test_admins_are_warned_of_years_without_a_holiday_table() -> None:
    cal = parse_calendar(CONFIG)
    [warning] = cal.warnings(date(2026, 11, 21))  # 2026 is known; deadlines reach into 2027
    assert "2027" in warning and "config/calendar.yaml" in warning
    filled = parse_calendar({**CONFIG, "years": {2027: {"holidays": ["2027-01-01"]}}})
    assert filled.warnings(date(2026, 11, 21)) == []


def _hours_day_by_day(cal, start: datetime, end: datetime) -> float:  # type: ignore[no-untyped-def]
    """The working hours counted day by day (as hours_between did before it summed whole days once)."""
    total, cursor, stop = timedelta(0), cal.to_local(start), cal.to_local(end)
    while end > start and cursor.date() <= stop.date():
        day = cursor.date()
        if cal.is_working_day(day):
            for begin, finish in cal.periods:
                low = max(cursor, datetime.combine(day, begin, cal.zone))
                high = min(stop, datetime.combine(day, finish, cal.zone))
                total += max(high - low, timedelta(0))
        cursor = datetime.combine(day + timedelta(days=1), time(0), cal.zone)
    return total.total_seconds() / 3600


def test_hours_between_counts_as_day_by_day_in_any_order(cal) -> None:  # type: ignore[no-untyped-def]
    """Moments around holidays, make-up days, lunch breaks and midnights, asked late ones first (the
    whole days are summed once per calendar, extended backwards and forwards)."""
    moments = [utc("2025-09-26 08:30") + timedelta(minutes=97 * i) for i in range(0, 400, 7)]
    for start in reversed(moments):
        for end in moments[::5]:
            assert cal.hours_between(start, end) == _hours_day_by_day(cal, start, end), (start, end)


def test_hours_between_across_a_change_of_summer_time() -> None:
    """The zone's offset is taken once per UTC date, except on a day it changes: working hours on the
    Sundays summer time starts and ends (made working days, office hours all day) count as day by day."""
    cal = parse_calendar({"zone": "Europe/Berlin", "office_hours": ["00:00-12:00", "12:00-23:59"],
                          "working": ["2025-03-30", "2025-10-26"]})
    for change in (datetime(2025, 3, 30), datetime(2025, 10, 26)):
        moments = [change - timedelta(hours=30) + timedelta(minutes=53 * i) for i in range(70)]
        for start in moments[::3]:
            for end in moments:
                assert cal.hours_between(start, end) == _hours_day_by_day(cal, start, end), (start, end)
    assert cal._offsets[date(2025, 3, 30)] is None  # the day it changed was converted moment by moment
    assert cal._offsets[date(2025, 3, 31)] == timedelta(hours=2)
