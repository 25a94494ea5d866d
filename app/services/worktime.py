"""Working time (工作时 / 工作日): add N working hours or days to a moment.

A working day is decided, in this order, by the local config (extra closures and working days),
the year's holiday table in config (for years the ``chinesecalendar`` package does not know yet),
``chinesecalendar`` (statutory holidays and make-up working days, 调休), and last Monday–Friday.
Times go in and out as naive UTC (as stored); the arithmetic runs in the configured zone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar

from app.definitions import configuration

MAX_DAYS = 3 * 366  # no deadline looks further ahead than this: a bad calendar must not loop forever

log = logging.getLogger(__name__)


class CalendarError(ValueError):
    """The calendar config is malformed (bad zone, office hours out of order ...)."""


@dataclass(frozen=True)
class YearTable:
    holidays: frozenset[date]
    workdays: frozenset[date]


@dataclass
class WorkCalendar:
    zone: ZoneInfo
    periods: tuple[tuple[time, time], ...]
    closed: frozenset[date] = frozenset()
    working: frozenset[date] = frozenset()
    years: dict[int, YearTable] = field(default_factory=dict)
    # Years neither the config nor chinesecalendar knows: weekends only. Shown to admins.
    missing_years: set[int] = field(default_factory=set)
    # Working or not, per day once asked (chinesecalendar's look-up is slow; indicators ask per record)
    _days: dict[date, bool] = field(default_factory=dict, repr=False, compare=False)
    _worked: dict[date, timedelta] = field(default_factory=dict, repr=False, compare=False)  # hours_between
    _periods_of: dict[date, list[tuple[datetime, datetime]]] = field(default_factory=dict, repr=False, compare=False)
    # per UTC date: the zone's offset when it holds all day (None on a day the offset changes)
    _offsets: dict[date, timedelta | None] = field(default_factory=dict, repr=False, compare=False)

    @property
    def hours_per_day(self) -> float:
        return sum(_seconds(start, end) for start, end in self.periods) / 3600

    def is_working_day(self, day: date) -> bool:
        known = self._days.get(day)
        if known is None:
            known = self._days[day] = self._is_working_day(day)
        return known

    def _is_working_day(self, day: date) -> bool:
        if day in self.closed:
            return False
        if day in self.working:
            return True
        table = self.years.get(day.year)
        if table is not None:
            if day in table.holidays:
                return False
            return day in table.workdays or day.weekday() < 5
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year not in self.missing_years:
                self.missing_years.add(day.year)
                log.warning("工作日历缺少 %s 年的节假日安排，按周一至周五计算 / no holiday table for %s: "
                            "counting Monday–Friday only; add it to config/calendar.yaml", day.year, day.year)
            return day.weekday() < 5

    def add_hours(self, start: datetime, hours: float) -> datetime:
        """``start`` (naive UTC) plus ``hours`` working hours, as naive UTC. A limit that ends exactly at
        the end of a period ends there (12:00), not at the start of the next one (14:00)."""
        if hours < 0:
            raise ValueError("working hours must not be negative")
        remaining = timedelta(hours=hours)
        cursor = self.to_local(start)
        for _ in range(MAX_DAYS):
            day = cursor.date()
            if self.is_working_day(day):
                for begin, end in self.periods:
                    period_start = datetime.combine(day, begin, self.zone)
                    period_end = datetime.combine(day, end, self.zone)
                    if cursor >= period_end:
                        continue
                    cursor = max(cursor, period_start)
                    available = period_end - cursor
                    if remaining <= available:
                        return _to_utc(cursor + remaining)
                    remaining -= available
                    cursor = period_end
            cursor = datetime.combine(day + timedelta(days=1), time(0), self.zone)
        raise CalendarError(f"no working time found within {MAX_DAYS} days: check config/calendar.yaml")

    def hours_between(self, start: datetime, end: datetime) -> float:
        """Working hours from ``start`` to ``end`` (naive UTC): what ``add_hours`` counts, the other way.
        The difference of the working time each moment closes (per day, summed once per calendar), so
        the indicators can ask it for every record of a year."""
        if end <= start:
            return 0.0
        worked = self._worked_until(self._wall(end)) - self._worked_until(self._wall(start))
        return worked.total_seconds() / 3600

    def _wall(self, moment: datetime) -> datetime:
        """A stored moment as the calendar's wall clock (naive): periods are wall-clock times. The
        offset is looked up once per UTC date (the indicators convert every record of a period)."""
        day = moment.date()
        if day not in self._offsets:
            self._offsets[day] = self._steady_offset(day)
        offset = self._offsets[day]
        return moment + offset if offset is not None else self.to_local(moment).replace(tzinfo=None)

    def _steady_offset(self, day: date) -> timedelta | None:
        """The zone's offset from UTC on this UTC date, None when it changes within the day (DST)."""
        start = datetime.combine(day, time(0), UTC)
        first = start.astimezone(self.zone).utcoffset()
        last = (start + timedelta(days=1, microseconds=-1)).astimezone(self.zone).utcoffset()
        return first if first == last else None

    def _worked_until(self, moment: datetime) -> timedelta:
        """Working time from the start of the first day this calendar counted from, to ``moment`` (wall clock)."""
        day = moment.date()
        worked = self._worked_before(day)
        for low, high in self._day_periods(day):
            if moment <= low:
                break
            worked += min(moment, high) - low
        return worked

    def _worked_before(self, day: date) -> timedelta:
        """Working time of the whole days from the first day counted from up to ``day`` (negative
        before it), extending the known range a day at a time."""
        known = self._worked
        if day in known:
            return known[day]
        if not known:
            known[day] = timedelta(0)
        first, last = min(known), max(known)
        while day > last:
            known[last + timedelta(days=1)] = known[last] + self._day_length(last)
            last += timedelta(days=1)
        while day < first:
            known[first - timedelta(days=1)] = known[first] - self._day_length(first - timedelta(days=1))
            first -= timedelta(days=1)
        return known[day]

    def _day_periods(self, day: date) -> list[tuple[datetime, datetime]]:
        """The day's working periods on the wall clock; none on a rest day."""
        found = self._periods_of.get(day)
        if found is None:
            found = self._periods_of[day] = [(datetime.combine(day, begin), datetime.combine(day, finish))
                                             for begin, finish in self.periods] if self.is_working_day(day) else []
        return found

    def _day_length(self, day: date) -> timedelta:
        return sum((high - low for low, high in self._day_periods(day)), timedelta(0))

    def add_days(self, start: datetime, days: int) -> datetime:
        """``days`` working days after ``start``: the same clock time on the Nth working day after it
        (from outside office hours: the end of the Nth working day's office hours)."""
        if days < 0:
            raise ValueError("working days must not be negative")
        local = self.to_local(start)
        clock_time = local.time()
        first, last = self.periods[0][0], self.periods[-1][1]
        day = local.date()
        count = 0
        for _ in range(MAX_DAYS):
            if count == days and (days > 0 or self.is_working_day(day)):
                break
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        else:
            raise CalendarError(f"no working day found within {MAX_DAYS} days: check config/calendar.yaml")
        at = clock_time if first <= clock_time <= last else last
        return _to_utc(datetime.combine(day, at, self.zone))

    def knows_year(self, year: int) -> bool:
        if year in self.years:
            return True
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
        except NotImplementedError:
            return False
        return True

    def warnings(self, today: date) -> list[str]:
        """For admins: the years deadlines reach into (this one, the next, any met so far) that have
        no holiday table, so they count Monday–Friday only."""
        return [
            f"工作日历缺少 {year} 年的节假日安排（按周一至周五计算），请在 config/calendar.yaml 的 years 中补充 / "
            f"no holiday table for {year}: deadlines count Monday–Friday only; add the State Council's "
            f"notice to config/calendar.yaml (years)"
            for year in self.years_without_table(today)
        ]

    def years_without_table(self, today: date) -> list[int]:
        """The years deadlines reach into (this one, the next, any met so far) that neither the
        holiday tables nor chinesecalendar know."""
        return [year for year in sorted({today.year, today.year + 1, *self.missing_years}) if not self.knows_year(year)]

    def to_local(self, moment: datetime) -> datetime:
        """A stored (naive UTC) moment in the calendar's zone, for display."""
        return moment.replace(tzinfo=UTC).astimezone(self.zone)


def _to_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _seconds(start: time, end: time) -> float:
    return (datetime.combine(date.min, end) - datetime.combine(date.min, start)).total_seconds()


def _parse_periods(raw: list[str]) -> tuple[tuple[time, time], ...]:
    periods: list[tuple[time, time]] = []
    for text in raw:
        try:
            begin, end = (time.fromisoformat(part.strip()) for part in str(text).split("-"))
        except ValueError as exc:
            raise CalendarError(f"office hours '{text}': expected 'HH:MM-HH:MM'") from exc
        if begin >= end or (periods and begin < periods[-1][1]):
            raise CalendarError(f"office hours '{text}': periods must be in order and not overlap")
        periods.append((begin, end))
    if not periods:
        raise CalendarError("office_hours must list at least one period")
    return tuple(periods)


def _dates(raw: Any) -> frozenset[date]:
    return frozenset(d if isinstance(d, date) else date.fromisoformat(str(d)) for d in raw or ())


def parse_calendar(raw: dict[str, Any]) -> WorkCalendar:
    try:
        zone = ZoneInfo(str(raw.get("zone", "Asia/Shanghai")))
    except (KeyError, ValueError) as exc:
        raise CalendarError(f"unknown time zone '{raw.get('zone')}'") from exc
    years = {
        int(year): YearTable(_dates(table.get("holidays")), _dates(table.get("workdays")))
        for year, table in (raw.get("years") or {}).items()
    }
    return WorkCalendar(
        zone=zone,
        periods=_parse_periods(raw.get("office_hours") or ["08:30-12:00", "14:00-17:30"]),
        closed=_dates(raw.get("closed")),
        working=_dates(raw.get("working")),
        years=years,
    )


@configuration.loader("calendar")
def _read(config: configuration.Configuration) -> WorkCalendar:
    raw, lines = configuration.yaml_with_lines(config.text("calendar.yaml"), "calendar.yaml", CalendarError)
    raw = raw or {}
    if not isinstance(raw, dict):
        raise CalendarError("calendar.yaml: must be a mapping (zone, office_hours, years, deadlines ...)")
    _check_years(raw.get("years"), lines)
    try:
        return parse_calendar(raw)
    except CalendarError as exc:
        raise CalendarError(f"calendar.yaml: {exc}") from exc


def _check_years(years: Any, lines: dict[tuple[str, ...], int]) -> None:
    """The holiday tables, each wrong entry named by its line (``calendar.yaml line 31: years.2027``)."""
    def wrong(path: tuple[str, ...], message: str) -> CalendarError:
        return CalendarError(f"{configuration.where('calendar.yaml', lines, path)}: {message}")

    if years is None:
        return
    if not isinstance(years, dict):
        raise wrong(("years",), "must map each year to its holidays and workdays")
    for year, table in years.items():
        path = ("years", str(year))
        number = int(year) if isinstance(year, int) or (isinstance(year, str) and year.isdigit()) else 0
        if not 1900 < number < 2200:
            raise wrong(path, f"'{year}' is not a year")
        if not isinstance(table, dict) or set(table) - {"holidays", "workdays"}:
            raise wrong(path, "must be a mapping with `holidays` and `workdays` (lists of dates)")
        for key in ("holidays", "workdays"):
            _check_dates(number, table.get(key), (*path, key), wrong)


def _check_dates(year: int, days: Any, path: tuple[str, ...],
                 wrong: Callable[[tuple[str, ...], str], CalendarError]) -> None:
    if days is None:
        return
    if not isinstance(days, list):
        raise wrong(path, "must be a list of dates (YYYY-MM-DD)")
    for index, day in enumerate(days):
        try:
            parsed = day if isinstance(day, date) else date.fromisoformat(str(day))
        except ValueError:
            raise wrong((*path, str(index)), f"'{day}' is not a date (YYYY-MM-DD)") from None
        if parsed.year != year:
            raise wrong((*path, str(index)), f"{parsed.isoformat()} is not in {year}")


def calendar_of(config: configuration.Configuration) -> WorkCalendar:
    """A configuration's calendar (a check or deploy reports its missing holiday tables)."""
    calendar: WorkCalendar = config.get("calendar")
    return calendar


def load_calendar() -> WorkCalendar:
    """The working-time calendar in effect (versioned with the processes)."""
    return configuration.load("calendar")  # type: ignore[no-any-return]


def add_working_hours(start: datetime, hours: float) -> datetime:
    return load_calendar().add_hours(start, hours)


def add_working_days(start: datetime, days: int) -> datetime:
    return load_calendar().add_days(start, days)
