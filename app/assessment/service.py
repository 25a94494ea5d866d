"""Computing the indicators for a period, for the units a user may see.

Each figure is a :class:`Figure`: the value with its numerator, denominator and the ids of the cases
it was counted from (the drill-down). Periods are local calendar dates in the working-time
calendar's zone (a month is 2026-11-01 00:00 to 2026-12-01 00:00 Beijing time).
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, and_, distinct, exists, func, or_, select, text
from sqlalchemy import case as when
from sqlalchemy.orm import Session, aliased

from app.assessment.indicators import DEPARTMENT_INDICATORS, INDICATORS, Indicator, Rules, load_rules
from app.assessment.scoring import ScorePart, score_rows
from app.models import Case, CaseUnit, Evaluation, Event, ReportIn, SupervisionEntry, Task, Unit, WhistlePush
from app.services import clock
from app.services.auth import Principal
from app.services.errors import Invalid
from app.services.locality import load_locality
from app.services.org import descendant_ids
from app.services.worktime import load_calendar

SCORES = ("efficiency", "cooperation", "professionalism", "responsibility")


@dataclass(frozen=True)
class Period:
    """[start, end) as local dates; ``bounds`` gives them as naive UTC, as rows are stored."""

    first: date
    last: date  # inclusive

    @classmethod
    def parse(cls, month: str | None = None, start: str | None = None, end: str | None = None,
              quarter: str | None = None, year: str | None = None) -> Period:
        """A month (``2026-11``), a quarter (``2026-Q4``), a year (``2026``) or a range of dates
        (``start``/``end``, inclusive, ``2026-10-01``)."""
        if month:
            return cls._months("month", month, r"(\d{4})-(\d{2})", 1)
        if quarter:
            return cls._months("quarter", quarter, r"(\d{4})-Q([1-4])", 3)
        if year:
            return cls._months("year", year, r"(\d{4})()", 12)
        first, last = _date("start", start), _date("end", end)
        if last < first:
            raise Invalid("the period ends before it starts", {"end": "before start"})
        if (last - first).days > 3 * 366:
            raise Invalid("a period is at most three years", {"end": "too far from start"})
        return cls(first, last)

    @classmethod
    def _months(cls, name: str, text: str, pattern: str, length: int) -> Period:
        match = re.fullmatch(pattern, text)
        shapes = {"month": "YYYY-MM", "quarter": "YYYY-Q1…Q4", "year": "YYYY"}
        if not match or not 1900 <= int(match.group(1)) <= 2999:
            raise Invalid(f"{name} '{text}': expected {shapes[name]}", {name: f"expected {shapes[name]}"})
        number = int(match.group(2) or 1)
        if name == "quarter":
            number = 3 * number - 2
        if not 1 <= number <= 12:
            raise Invalid(f"{name} '{text}' does not exist", {name: f"no such {name}"})
        first = date(int(match.group(1)), number, 1)
        return cls(first, _month_after(first, length) - timedelta(days=1))

    def months(self) -> list[Period]:
        """The calendar months the period touches, each cut to the period (for trends)."""
        result, first = [], self.first.replace(day=1)
        while first <= self.last:
            following = _month_after(first, 1)
            result.append(Period(max(first, self.first), min(following - timedelta(days=1), self.last)))
            first = following
        return result

    @property
    def kind(self) -> str:
        """"month", "quarter" or "year" when the period is exactly one, else "range"."""
        months = len(self.months())
        if self.first.day != 1 or self.last + timedelta(days=1) != _month_after(self.first, months):
            return "range"
        shapes = {(1, 1): "month", (3, 1): "quarter", (12, 1): "year"}
        return shapes.get((months, 1 if months == 1 else self.first.month % months), "range")

    def bounds(self) -> tuple[datetime, datetime]:
        zone = load_calendar().zone
        low = datetime.combine(self.first, time(0), zone)
        high = datetime.combine(self.last + timedelta(days=1), time(0), zone)
        return _utc(low), _utc(high)

    def as_dict(self) -> dict[str, str]:
        return {"start": self.first.isoformat(), "end": self.last.isoformat()}


def _month_after(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _date(name: str, value: str | None) -> date:
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        raise Invalid(f"{name} '{value}': expected a date YYYY-MM-DD", {name: "expected YYYY-MM-DD"}) from None


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Counted:
    """One record a figure was counted from: its case, whether it is in the numerator (rates), the
    value it gave (means, quantiles, weights). The drill-down lists these, one line each."""

    case_id: int
    hit: bool | None = None
    value: float | None = None


Loader = Callable[[], list[Counted]]


class Figure:
    """A figure's value with its numerator and denominator, and the records it was counted from.
    Figures computed by SQL aggregates load their records only when asked (``load``: the drill-down,
    a department's late cases, a score's whistles); a figure given ``later`` is computed when first
    read (working hours, which need the calendar for every record: a ranking that does not show
    them never computes them)."""

    def __init__(self, value: float | None = None, numerator: float | None = None, denominator: float | None = None,
                 rows: list[Counted] | None = None, parts: list[ScorePart] | None = None,
                 load: Loader | None = None, later: Callable[[], Figure] | None = None) -> None:
        self._value, self._numerator, self._denominator = value, numerator, denominator
        self._rows, self._load, self._later = rows, load, later
        self.parts: list[ScorePart] = parts or []  # a score's points per term

    def _settled(self) -> Figure:
        if self._later is not None:
            found, self._later = self._later(), None
            self._value, self._numerator, self._denominator = found.value, found.numerator, found.denominator
            self._rows, self._load = found.rows, None
        return self

    @property
    def value(self) -> float | None:
        return self._settled()._value

    @property
    def numerator(self) -> float | None:
        return self._settled()._numerator

    @property
    def denominator(self) -> float | None:
        return self._settled()._denominator

    @property
    def rows(self) -> list[Counted]:
        self._settled()
        if self._rows is None:
            self._rows = self._load() if self._load else []
        return self._rows

    @property
    def cases(self) -> list[int]:
        return sorted({row.case_id for row in self.rows})

    def __repr__(self) -> str:
        return f"Figure({self.value!r}, {self.numerator!r}, {self.denominator!r})"

    def as_dict(self) -> dict[str, Any]:
        found = {"value": self.value, "numerator": self.numerator, "denominator": self.denominator,
                 "cases": self.cases}
        if self.parts:
            found["parts"] = [{"label": p.label, "points": p.points} for p in self.parts]
        return found


def _score(value: float | None, parts: list[ScorePart], load: Loader) -> Figure:
    return Figure(value, parts=parts, load=load)


def scored(side: str, rows: list[Row], rules: Rules, period: Period) -> list[Row]:
    """The rows with their 考核得分, scored together (a mean of all units is a mean of these)."""
    score_rows(rules.scoring.schemes.get(side), rows, _score, len(period.months()))
    return rows


def _rate(pairs: Iterable[tuple[int, bool]]) -> Figure:
    """A rate in percent over records (case, counted in the numerator); None when there is none."""
    rows = [Counted(case, bool(hit)) for case, hit in pairs]
    hits = sum(1 for row in rows if row.hit)
    value = round(100 * hits / len(rows), 1) if rows else None
    return Figure(value, hits, len(rows), rows)


def _count(cases: Iterable[int]) -> Figure:
    rows = [Counted(case) for case in cases]
    return Figure(len(rows), rows=rows)


def _mean(pairs: Iterable[tuple[int, float]]) -> Figure:
    rows = [Counted(case, value=value) for case, value in pairs]
    return Figure(round(statistics.fmean([r.value or 0.0 for r in rows]), 2) if rows else None, rows=rows)


def _quantile(pairs: Iterable[tuple[int, float]], q: float) -> Figure:
    """Nearest-rank quantile (the value at rank ⌈q·n⌉): always a measured value."""
    rows = [Counted(case, value=value) for case, value in pairs]
    ordered = sorted(r.value or 0.0 for r in rows)
    value = round(ordered[max(1, math.ceil(q * len(ordered))) - 1], 2) if ordered else None
    return Figure(value, rows=rows)


def combine(unit: str, figures: list[Figure]) -> Figure:
    """One figure over the records of several (a headline total): rates and counts only. The sums of
    the numerators and denominators are the counts of the records; the records load when asked."""
    def load() -> list[Counted]:
        return [row for figure in figures for row in figure.rows]

    if unit == "%":
        hits = sum(int(f.numerator or 0) for f in figures)
        total = sum(int(f.denominator or 0) for f in figures)
        return _rate_of(hits, total, load)
    if unit == "n":
        return Figure(sum(int(f.value or 0) for f in figures), load=load)
    raise ValueError(f"figures in '{unit}' do not add up")


def _rate_of(hits: int, total: int, load: Loader) -> Figure:
    """A rate from counts (the aggregate of :func:`_rate`): the same value, numerator and denominator."""
    return Figure(round(100 * hits / total, 1) if total else None, hits, total, load=load)


def _mean_of(total: float, n: int, load: Loader) -> Figure:
    """A mean from a sum of whole or quarter points and a count (the aggregate of :func:`_mean`)."""
    return Figure(round(float(total) / n, 2) if n else None, load=load)


def _weighted(weights: Iterable[float]) -> float:
    """Σ weight of call-backs, summed per weight (the same float whatever the records' order)."""
    return sum(weight * count for weight, count in sorted(Counter(weights).items()))


def assessable_units(session: Session, principal: Principal) -> set[int]:
    """The units whose figures the user may see: every unit within a unit where a role of theirs
    grants ``assess`` (统计考核), and the units they hold any role in (a department its own)."""
    granted = load_locality().roles_with("assess")
    below = descendant_ids(session, {unit for role, unit in principal.assignments if role in granted})
    return below | {unit for _, unit in principal.assignments}


# --- departments ---------------------------------------------------------------------------------


@dataclass
class Row:
    """The figures of one unit (and, for whistling units, one level)."""

    unit: Unit
    level: str | None
    figures: dict[str, Figure]

    def as_dict(self, side: str) -> dict[str, Any]:
        row: dict[str, Any] = {"unit": self.unit.code, "name": self.unit.name}
        if side == "units":
            row["level"] = self.level
        return row | {"figures": {code: figure.as_dict() for code, figure in self.figures.items()}}


def department_report(session: Session, principal: Principal, period: Period) -> dict[str, Any]:
    """The indicators of every department the user may see (a department its own; the district all)."""
    rows = department_rows(session, departments_among(session, assessable_units(session, principal)), period)
    return report("departments", period, rows)


def report(side: str, period: Period, rows: list[Row]) -> dict[str, Any]:
    """The API's shape of a report: the period, the indicators with their formulas, a row per unit."""
    return {"period": period.as_dict(), "indicators": [describe(i) for i in INDICATORS[side]],
            "rows": [row.as_dict(side) for row in rows]}


def departments_among(session: Session, ids: set[int]) -> list[Unit]:
    kinds = load_locality().kinds_where("summoned")
    return list(session.scalars(select(Unit).where(Unit.kind.in_(kinds), Unit.id.in_(ids or [0]))
                                .order_by(Unit.code)))


def peer_departments(session: Session, unit: Unit) -> list[Unit]:
    """The departments ranked with this one: those of the same parent (排名通报 among peers)."""
    kinds = load_locality().kinds_where("summoned")
    return list(session.scalars(select(Unit).where(Unit.kind.in_(kinds), Unit.parent_id == unit.parent_id)
                                .order_by(Unit.code)))


def department_rows(session: Session, depts: list[Unit], period: Period) -> list[Row]:
    """The figures of these departments in the period (no access check: callers choose the units).
    Counted by SQL aggregates per department; each figure loads its records when asked, from the
    same queries as :func:`department_rows_from_records`."""
    rules = load_rules()
    low, high = period.bounds()
    ids = {u.id for u in depts}
    plan_for_the_period(session)
    found: dict[int, dict[str, Figure]] = defaultdict(dict)
    for part in (_report_in_counts, _handling_counts, _dispatch_counts, _supervision_counts, _evaluation_counts,
                 _satisfaction_counts):
        for unit_id, figures in part(session, ids, low, high, rules).items():
            found[unit_id].update(figures)
    rows = []
    for unit in depts:
        figures = found[unit.id]
        rows.append(Row(unit, None, {i.code: figures.get(i.code) or _empty(session, unit.id, i.code, low, high, rules)
                                     for i in DEPARTMENT_INDICATORS}))
    return scored("departments", rows, rules, period)


def department_rows_from_records(session: Session, depts: list[Unit], period: Period) -> list[Row]:
    """The same figures counted record by record in Python (each with its records): the reference
    the aggregates are checked against, and where a figure's records come from."""
    rules = load_rules()
    low, high = period.bounds()
    ids = {u.id for u in depts}
    parts = [build(session, ids, low, high, rules) for build in RECORDS.values()]
    rows = []
    for unit in depts:
        figures: dict[str, Figure] = {}
        for part in parts:
            figures.update(part(unit.id))
        rows.append(Row(unit, None, {i.code: figures[i.code] for i in DEPARTMENT_INDICATORS}))
    return scored("departments", rows, rules, period)


Hours = dict[Any, list[tuple[int, float]]]  # per unit (and level): (case, working hours) of each record
Counts = dict[int, dict[str, Figure]]  # unit id → some of its figures


def _loader(session: Session, unit_id: int, code: str, low: datetime, high: datetime, rules: Rules) -> Loader:
    """The records of one department's figure, counted as :func:`department_rows_from_records` does."""
    build = next(b for codes, b in RECORDS.items() if code in codes)
    return lambda: build(session, {unit_id}, low, high, rules)(unit_id)[code].rows


def _empty(session: Session, unit_id: int, code: str, low: datetime, high: datetime, rules: Rules) -> Figure:
    """A figure with nothing counted, as the record-by-record count gives it."""
    return _records_figure(code, [], _loader(session, unit_id, code, low, high, rules))


def _records_figure(code: str, records: list[Counted], load: Loader) -> Figure:
    unit = next(i.unit for i in DEPARTMENT_INDICATORS if i.code == code)
    if unit == "%":
        return Figure(None, 0, 0, load=load)
    if unit == "n":
        return Figure(0, load=load)
    return Figure(None, rows=records) if code.startswith("report_in_hours") else Figure(None, load=load)


def _hits(condition: Any) -> Any:
    return func.sum(when((condition, 1), else_=0))


def plan_for_the_period(session: Session) -> None:
    """On PostgreSQL, plan this transaction's aggregates for the bounds they are given, without JIT.

    psycopg prepares a statement once it has run five times on a connection; PostgreSQL may then
    use one generic plan for every period, made without the bounds, which reads a year's rows as if
    they were a month's (bench/README.md, session 9: the year's ranking 2 s at first, 7–8 s once
    prepared). JIT compiling costs 40–90 ms a statement costed above ``jit_above_cost``, more than it saves
    on these aggregates."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        session.execute(text("SET LOCAL jit = off"))


def _report_in_counts(session: Session, ids: set[int], low: datetime, high: datetime, rules: Rules) -> Counts:
    in_period = (ReportIn.department_id.in_(ids), ReportIn.summoned_at >= low, ReportIn.summoned_at < high)
    counts = session.execute(select(ReportIn.department_id, func.count(), func.count(ReportIn.reported_at),
                                    _hits(ReportIn.on_time.is_(True)))
                             .where(*in_period).group_by(ReportIn.department_id))
    found: Counts = {}
    for unit_id, total, reported, on_time in counts:
        def load(code: str, unit_id: int = unit_id) -> Loader:
            return _loader(session, unit_id, code, low, high, rules)
        found[unit_id] = {"summoned": Figure(total, load=load("summoned")),
                          "report_in_rate": _rate_of(reported, total, load("report_in_rate")),
                          "on_time_report_in_rate": _rate_of(int(on_time or 0), total, load("on_time_report_in_rate"))}
    # response times need the working-time calendar, record by record: computed when first read
    hours = _first_then_rest(lambda units: _report_in_hours(session, (ReportIn.department_id.in_(units),
                                                                     *in_period[1:])), set(found))
    for unit_id, figures in found.items():
        figures["report_in_hours_median"] = Figure(later=lambda u=unit_id: _quantile(hours(u), 0.5))
        figures["report_in_hours_p90"] = Figure(later=lambda u=unit_id: _quantile(hours(u), 0.9))
    return found


def _first_then_rest(compute: Callable[[set[int]], Hours], ids: set[int]) -> Callable[[int], list[tuple[int, float]]]:
    """Each unit's hours from ``compute``: the first unit asked alone (a department's page shows its
    own among its ranked peers), then every other unit at once (the dashboard shows them all)."""
    found: Hours = {}
    done: set[int] = set()

    def get(unit_id: int) -> list[tuple[int, float]]:
        if unit_id not in done:
            wanted = ids - done if done else {unit_id}
            found.update(compute(wanted))
            done.update(wanted | {unit_id})
        return found.get(unit_id, [])

    return get


def _once(compute: Callable[[], Hours]) -> Callable[[], Hours]:
    """``compute`` run on the first call only (shared by the figures of every unit)."""
    found: list[Hours] = []

    def get() -> Hours:
        if not found:
            found.append(compute())
        return found[0]

    return get


def _report_in_hours(session: Session, in_period: tuple[Any, ...]) -> Hours:
    """Per department, (case, working hours from the summons to the report-in) of each report-in."""
    calendar = load_calendar()
    hours: Hours = defaultdict(list)
    for unit_id, case_id, summoned, reported in session.execute(
            select(ReportIn.department_id, ReportIn.case_id, ReportIn.summoned_at, ReportIn.reported_at)
            .where(*in_period, ReportIn.reported_at.is_not(None))):
        hours[unit_id].append((case_id, calendar.hours_between(summoned, reported)))
    return hours


def _handling_counts(session: Session, ids: set[int], low: datetime, high: datetime, rules: Rules) -> Counts:
    counts = session.execute(handling_counts(ids, low, high, rules))
    return {unit_id: {"handled_on_time_rate": _rate_of(int(on_time or 0), total,
                                                       _loader(session, unit_id, "handled_on_time_rate", low, high,
                                                               rules)),
                      "rework_rate": _rate_of(reworked, handled,
                                              _loader(session, unit_id, "rework_rate", low, high, rules))}
            for unit_id, total, on_time, handled, reworked in counts}


def handling_counts(ids: set[int], low: datetime, high: datetime, rules: Rules) -> Select[Any]:
    """Per department: handling tasks due in the period, those done on time, the cases handled and
    those reworked, read from the reworked cases alone (the partial index ``ix_cases_reworked``),
    not from every case's row."""
    done = Task.status == "completed"
    reworked = select(Case.id).where(Case.rework_count != 0).subquery()
    return (select(Task.unit_id, func.count(),
                   _hits(and_(Task.completed_at.is_not(None), Task.completed_at <= Task.due_at)),
                   func.count(distinct(when((done, Task.case_id)))),
                   func.count(distinct(when((and_(done, reworked.c.id.is_not(None)), Task.case_id)))))
            .outerjoin(reworked, reworked.c.id == Task.case_id)
            .where(*_handling_filter(ids, low, high, rules), or_(done, Task.due_at < clock.now()))
            .group_by(Task.unit_id))


def _handling_filter(ids: set[int], low: datetime, high: datetime, rules: Rules) -> tuple[Any, ...]:
    return (Task.unit_id.in_(ids), Task.stage.in_(rules.handling_stages), Task.due_at.is_not(None),
            Task.due_at >= low, Task.due_at < high, Task.status != "cancelled")


def sent_back(ids: set[int], low: datetime, high: datetime, rules: Rules) -> Select[tuple[int, int]]:
    """(department, case) of each send-back in the period: a completed task of the rules' stage
    whose form says so (on PostgreSQL the partial index ``ix_events_sent_back`` holds them)."""
    completed = aliased(Event)
    return (select(completed.unit_id, completed.case_id).distinct()
            .join(Task, and_(Task.case_id == completed.case_id, Task.unit_id == completed.unit_id))
            .where(completed.type == "task_completed", completed.unit_id.in_(ids), completed.created_at >= low,
                   completed.created_at < high, Task.stage == rules.sent_back_stage,
                   _json_equals(completed.data[("form", rules.sent_back_field)], rules.sent_back_value)))


def _dispatch_counts(session: Session, ids: set[int], low: datetime, high: datetime, rules: Rules) -> Counts:
    returned = sent_back(ids, low, high, rules).subquery()
    counts = session.execute(
        select(Event.unit_id, func.count(), func.count(returned.c.case_id))
        .outerjoin(returned, and_(returned.c.unit_id == Event.unit_id, returned.c.case_id == Event.case_id))
        .where(Event.type == "dispatched", Event.unit_id.in_(ids), Event.created_at >= low, Event.created_at < high)
        .group_by(Event.unit_id))
    return {unit_id: {"sent_back_rate": _rate_of(hits, total,
                                                 _loader(session, unit_id, "sent_back_rate", low, high, rules))}
            for unit_id, total, hits in counts}


# --- a department's late and reworked cases (its page lists a page of each) ------------------------

# each list of the department page, and the figure whose records it is drawn from (its drill-down)
PROBLEM_FIGURES = {"late_report_in": "on_time_report_in_rate", "late_handling": "handled_on_time_rate",
                   "reworked": "rework_rate"}


@dataclass(frozen=True)
class Problems:
    """How many cases a list of the department page holds, and the first ``limit`` of them by id."""

    total: int
    cases: list[int]


def problem_cases(session: Session, unit_id: int, period: Period, limit: int) -> dict[str, Problems]:
    """The department's late report-ins, late handling and reworked cases in the period: counted and
    paged in SQL, the same cases as :func:`problem_cases_from_records` finds in the figures' records."""
    rules = load_rules()
    low, high = period.bounds()
    done = Task.status == "completed"
    on_time = and_(Task.completed_at.is_not(None), Task.completed_at <= Task.due_at)
    handling = (*_handling_filter({unit_id}, low, high, rules), or_(done, Task.due_at < clock.now()))
    queries = {
        "late_report_in": select(ReportIn.case_id).where(
            ReportIn.department_id == unit_id, ReportIn.summoned_at >= low, ReportIn.summoned_at < high,
            or_(ReportIn.on_time.is_(None), ReportIn.on_time.is_(False))),
        "late_handling": select(Task.case_id).where(*handling, ~on_time),
        "reworked": select(Task.case_id).join(Case, Case.id == Task.case_id).where(*handling, done,
                                                                                   Case.rework_count != 0),
    }
    found = {}
    for key, query in queries.items():
        ids = query.distinct().subquery()
        total = int(session.scalar(select(func.count()).select_from(ids)) or 0)
        found[key] = Problems(total, list(session.scalars(select(ids.c.case_id).order_by(ids.c.case_id)
                                                          .limit(limit))))
    return found


def problem_cases_from_records(row: Row) -> dict[str, list[int]]:
    """The same lists whole, from the figures' counted records: the reference."""
    figures = row.figures
    return {
        "late_report_in": sorted({r.case_id for r in figures["on_time_report_in_rate"].rows if not r.hit}),
        "late_handling": sorted({r.case_id for r in figures["handled_on_time_rate"].rows if not r.hit}),
        "reworked": sorted({r.case_id for r in figures["rework_rate"].rows if r.hit}),
    }


def _json_equals(field: Any, value: Any) -> Any:
    """A form field of an event's data equals the configured value (missing or null: None)."""
    if value is None:
        return field.as_string().is_(None)
    if isinstance(value, bool):
        return field.as_boolean() == value
    if isinstance(value, int | float):
        return field.as_float() == value
    return field.as_string() == str(value)


def _supervision_counts(session: Session, ids: set[int], low: datetime, high: datetime, rules: Rules) -> Counts:
    entry = SupervisionEntry
    opened = session.execute(select(entry.unit_id, func.count()).where(
        entry.unit_id.in_(ids), entry.opened_at >= low, entry.opened_at < high).group_by(entry.unit_id))
    still_open = session.execute(select(entry.unit_id, func.count()).where(
        entry.unit_id.in_(ids), entry.status == "open").group_by(entry.unit_id))
    found: Counts = defaultdict(dict)
    for code, counts in (("supervised", opened), ("supervised_open", still_open)):
        for unit_id, total in counts:
            found[unit_id][code] = Figure(total, load=_loader(session, unit_id, code, low, high, rules))
    return found


def _evaluation_counts(session: Session, ids: set[int], low: datetime, high: datetime, rules: Rules) -> Counts:
    counts = session.execute(
        select(Evaluation.department_id, func.count(), *(func.sum(getattr(Evaluation, key)) for key in SCORES),
               func.sum(Evaluation.score))
        .where(Evaluation.department_id.in_(ids), Evaluation.created_at >= low, Evaluation.created_at < high)
        .group_by(Evaluation.department_id))
    found: Counts = {}
    for unit_id, n, *sums in counts:
        found[unit_id] = {key: _mean_of(total, n, _loader(session, unit_id, key, low, high, rules))
                          for key, total in zip((*SCORES, "evaluation_score"), sums, strict=True)}
    return found


def _satisfaction_counts(session: Session, ids: set[int], low: datetime, high: datetime, rules: Rules) -> Counts:
    counts = session.execute(
        select(CaseUnit.unit_id, Case.satisfaction, func.count()).join(Case, Case.id == CaseUnit.case_id)
        .where(CaseUnit.unit_id.in_(ids), Case.closed_at >= low, Case.closed_at < high,
               Case.satisfaction.in_(rules.satisfaction_weights))
        .group_by(CaseUnit.unit_id, Case.satisfaction))
    answers: dict[int, list[float]] = defaultdict(list)
    for unit_id, answer, n in counts:
        answers[unit_id] += [rules.satisfaction_weights[answer]] * n
    found: Counts = {}
    for unit_id, weights in answers.items():
        weight = _weighted(weights)
        found[unit_id] = {"satisfaction_rate": Figure(round(100 * weight / len(weights), 1), round(weight, 2),
                                                      len(weights), load=_loader(session, unit_id,
                                                                                 "satisfaction_rate", low, high,
                                                                                 rules))}
    return found


def describe(indicator: Indicator) -> dict[str, str]:
    return {"code": indicator.code, "zh": indicator.zh, "en": indicator.en, "formula_zh": indicator.formula_zh,
            "formula_en": indicator.formula_en, "unit": indicator.unit}


Part = Any  # a function of a unit id giving some of its figures


def _report_ins(session: Session, ids: set[int], low: datetime, high: datetime, rules: Rules) -> Part:
    rows = list(session.scalars(select(ReportIn).where(ReportIn.department_id.in_(ids),
                                                       ReportIn.summoned_at >= low, ReportIn.summoned_at < high)))
    calendar = load_calendar()

    def figures(unit_id: int) -> dict[str, Figure]:
        mine = [r for r in rows if r.department_id == unit_id]
        hours = [(r.case_id, calendar.hours_between(r.summoned_at, r.reported_at)) for r in mine if r.reported_at]
        return {
            "summoned": _count(r.case_id for r in mine),
            "report_in_rate": _rate((r.case_id, r.reported_at is not None) for r in mine),
            "on_time_report_in_rate": _rate((r.case_id, bool(r.on_time)) for r in mine),
            "report_in_hours_median": _quantile(hours, 0.5),
            "report_in_hours_p90": _quantile(hours, 0.9),
        }

    return figures


def _handling(session: Session, ids: set[int], low: datetime, high: datetime, rules: Rules) -> Part:
    """Handling tasks whose limit fell in the period: on time when done by it; late when done after
    it or still open past it. Rework: of the cases the department handled in the period, those
    verification sent back for rework."""
    now = clock.now()
    tasks = list(session.execute(
        select(Task, Case.rework_count).join(Case, Case.id == Task.case_id)
        .where(*_handling_filter(ids, low, high, rules))))

    def figures(unit_id: int) -> dict[str, Figure]:
        mine = [(t, rework) for t, rework in tasks if t.unit_id == unit_id and (t.status == "completed"
                                                                                 or t.due_at < now)]
        handled = {t.case_id: bool(rework) for t, rework in mine if t.status == "completed"}
        return {
            "handled_on_time_rate": _rate((t.case_id, t.completed_at is not None and t.completed_at <= t.due_at)
                                          for t, _ in mine),
            "rework_rate": _rate(handled.items()),
        }

    return figures


def _dispatches(session: Session, ids: set[int], low: datetime, high: datetime, rules: Rules) -> Part:
    dispatched = list(session.execute(select(Event.unit_id, Event.case_id).where(
        Event.type == "dispatched", Event.unit_id.in_(ids), Event.created_at >= low, Event.created_at < high)))
    completions = session.execute(
        select(Event.unit_id, Event.case_id, Event.data).join(Task, Task.case_id == Event.case_id)
        .where(Event.type == "task_completed", Event.unit_id.in_(ids), Event.created_at >= low,
               Event.created_at < high, Task.stage == rules.sent_back_stage, Task.unit_id == Event.unit_id))
    sent_back = {(unit, case) for unit, case, data in completions
                 if (data.get("form") or {}).get(rules.sent_back_field) == rules.sent_back_value}

    def figures(unit_id: int) -> dict[str, Figure]:
        mine = [case for unit, case in dispatched if unit == unit_id]
        return {"sent_back_rate": _rate((c, (unit_id, c) in sent_back) for c in mine)}

    return figures


def _supervision(session: Session, ids: set[int], low: datetime, high: datetime, rules: Rules) -> Part:
    entries = list(session.scalars(select(SupervisionEntry).where(
        SupervisionEntry.unit_id.in_(ids), SupervisionEntry.opened_at >= low, SupervisionEntry.opened_at < high)))
    still_open = list(session.scalars(select(SupervisionEntry).where(
        SupervisionEntry.unit_id.in_(ids), SupervisionEntry.status == "open")))

    def figures(unit_id: int) -> dict[str, Figure]:
        return {"supervised": _count(e.case_id for e in entries if e.unit_id == unit_id),
                "supervised_open": _count(e.case_id for e in still_open if e.unit_id == unit_id)}

    return figures


def _evaluations(session: Session, ids: set[int], low: datetime, high: datetime, rules: Rules) -> Part:
    rows = list(session.scalars(select(Evaluation).where(
        Evaluation.department_id.in_(ids), Evaluation.created_at >= low, Evaluation.created_at < high)))

    def figures(unit_id: int) -> dict[str, Figure]:
        mine = [e for e in rows if e.department_id == unit_id]
        result = {key: _mean((e.case_id, float(getattr(e, key))) for e in mine) for key in SCORES}
        result["evaluation_score"] = _mean((e.case_id, e.score) for e in mine)
        return result

    return figures


def _satisfaction(session: Session, ids: set[int], low: datetime, high: datetime, rules: Rules) -> Part:
    """Call-backs of cases closed in the period that involved the department (it had a task or was
    dispatched): weighted by answer, over the answers the rules know."""
    rows = list(session.execute(
        select(CaseUnit.unit_id, Case.id, Case.satisfaction).join(Case, Case.id == CaseUnit.case_id)
        .where(CaseUnit.unit_id.in_(ids), Case.closed_at >= low, Case.closed_at < high,
               Case.satisfaction.in_(rules.satisfaction_weights))))

    def figures(unit_id: int) -> dict[str, Figure]:
        mine = [Counted(case, value=rules.satisfaction_weights[answer]) for unit, case, answer in rows
                if unit == unit_id]
        weight = _weighted(row.value or 0.0 for row in mine)
        value = round(100 * weight / len(mine), 1) if mine else None
        return {"satisfaction_rate": Figure(value, round(weight, 2), len(mine), mine)}

    return figures


RECORDS: dict[tuple[str, ...], Callable[[Session, set[int], datetime, datetime, Rules], Part]] = {
    ("summoned", "report_in_rate", "on_time_report_in_rate", "report_in_hours_median", "report_in_hours_p90"):
        _report_ins,
    ("handled_on_time_rate", "rework_rate"): _handling,
    ("sent_back_rate",): _dispatches,
    ("supervised", "supervised_open"): _supervision,
    (*SCORES, "evaluation_score"): _evaluations,
    ("satisfaction_rate",): _satisfaction,
}


# --- whistling units -----------------------------------------------------------------------------


def unit_report(session: Session, principal: Principal, period: Period, level: str | None = None) -> dict[str, Any]:
    """Per whistling unit (and level): whistles started in the period and how they ended."""
    return report("units", period, unit_rows(session, assessable_units(session, principal), period, level))


def unit_rows(session: Session, ids: set[int], period: Period, level: str | None = None) -> list[Row]:
    """A row per whistling unit among ``ids`` and level, for the whistles started in the period:
    counted by SQL aggregates; each figure loads its whistles when asked (:func:`_unit_figures`)."""
    low, high = period.bounds()
    plan_for_the_period(session)
    closed = and_(Case.status == "closed", Case.outcome == "closed")
    on_time = or_(Case.due_at.is_(None), Case.closed_at.is_(None), Case.closed_at <= Case.due_at)
    pushed = exists().where(WhistlePush.case_id == Case.id, WhistlePush.undone_at.is_(None))
    counts = list(session.execute(
        select(Case.whistle_unit_id, Case.level, func.count(), _hits(closed),
               _hits(and_(closed, Case.rework_count == 0)), _hits(Case.outcome == "escalated"),
               _hits(and_(closed, on_time)), _hits(and_(closed, pushed)))
        .where(*_whistles(ids, low, high, level)).group_by(Case.whistle_unit_id, Case.level)))
    hours = _once(lambda: _close_hours(session, _whistles(ids, low, high, level), closed))
    units = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_({c[0] for c in counts} or [0])))}
    rows = []
    for uid, lvl, started, n_closed, at_once, escalated, in_time, n_pushed in sorted(
            counts, key=lambda c: (units[c[0]].code, c[1])):
        def load(code: str, uid: int = uid, lvl: str = lvl) -> Loader:
            return lambda: _whistle_figures(session, list(session.scalars(select(Case).where(
                *_whistles({uid}, low, high, lvl))))).get(code, Figure(None)).rows
        figures = {"whistles_started": Figure(started, load=load("whistles_started")),
                   "whistles_closed": Figure(n_closed, load=load("whistles_closed")),
                   "close_rate": _rate_of(n_closed, started, load("close_rate")),
                   "closed_at_once_rate": _rate_of(at_once, n_closed, load("closed_at_once_rate")),
                   "escalated": Figure(escalated, load=load("escalated")),
                   "close_hours_avg": Figure(later=lambda key=(uid, lvl): _mean(hours().get(key, []))),
                   "closed_on_time_rate": _rate_of(in_time, n_closed, load("closed_on_time_rate")),
                   "whistles_pushed": Figure(n_pushed, load=load("whistles_pushed"))}
        rows.append(Row(units[uid], lvl, figures))
    return scored("units", rows, load_rules(), period)


def _close_hours(session: Session, whistles: tuple[Any, ...], closed: Any) -> Hours:
    """Per (whistling unit, level), (case, working hours from the report to its closure) of each closed whistle."""
    calendar = load_calendar()
    hours: Hours = defaultdict(list)
    for unit_id, level, case_id, created, closed_at in session.execute(
            select(Case.whistle_unit_id, Case.level, Case.id, Case.created_at, Case.closed_at)
            .where(*whistles, closed, Case.closed_at.is_not(None))):
        hours[(unit_id, level)].append((case_id, calendar.hours_between(created, closed_at)))
    return hours


def unit_rows_from_records(session: Session, ids: set[int], period: Period, level: str | None = None) -> list[Row]:
    """The same rows counted whistle by whistle in Python: the reference the aggregates are checked against."""
    low, high = period.bounds()
    by_unit: dict[tuple[int, str], list[Case]] = defaultdict(list)
    for whistle in session.scalars(select(Case).where(*_whistles(ids, low, high, level))):
        if whistle.whistle_unit_id is not None and whistle.level is not None:
            by_unit[(whistle.whistle_unit_id, whistle.level)].append(whistle)
    units = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_({k[0] for k in by_unit} or [0])))}
    keys = sorted(by_unit, key=lambda key: (units[key[0]].code, key[1]))
    rows = [Row(units[uid], lvl, _whistle_figures(session, by_unit[(uid, lvl)])) for uid, lvl in keys]
    return scored("units", rows, load_rules(), period)


def pushed_cases(session: Session, case_ids: set[int]) -> set[int]:
    """The cases among these with a push to the city standing (推送市级, not undone)."""
    if not case_ids:
        return set()
    return set(session.scalars(select(WhistlePush.case_id).where(WhistlePush.case_id.in_(case_ids),
                                                                 WhistlePush.undone_at.is_(None))))


def _whistles(ids: set[int], low: datetime, high: datetime, level: str | None) -> tuple[Any, ...]:
    """Whistles of these units blown (the head approved: whistle_started, not while under review),
    reported in the period."""
    blown = exists().where(Event.case_id == Case.id, Event.type == "whistle_started")
    found = (Case.level.is_not(None), Case.whistle_unit_id.in_(ids or [0]), Case.created_at >= low,
             Case.created_at < high, blown)
    return (*found, Case.level == level) if level else found


def _whistle_figures(session: Session, cases: list[Case]) -> dict[str, Figure]:
    """A whistling unit's figures counted whistle by whistle (the reference, and a figure's cases)."""
    return _unit_figures(cases, pushed_cases(session, {c.id for c in cases}))


def _unit_figures(cases: list[Case], pushed: set[int]) -> dict[str, Figure]:
    calendar = load_calendar()
    closed = [c for c in cases if c.status == "closed" and c.outcome == "closed"]
    hours = [(c.id, calendar.hours_between(c.created_at, c.closed_at)) for c in closed if c.closed_at]
    return {
        "whistles_started": _count(c.id for c in cases),
        "whistles_closed": _count(c.id for c in closed),
        "close_rate": _rate((c.id, c.status == "closed" and c.outcome == "closed") for c in cases),
        "closed_at_once_rate": _rate((c.id, not c.rework_count) for c in closed),
        "escalated": _count(c.id for c in cases if c.outcome == "escalated"),
        "close_hours_avg": _mean(hours),
        "closed_on_time_rate": _rate((c.id, c.due_at is None or (c.closed_at or c.due_at) <= c.due_at)
                                     for c in closed),
        "whistles_pushed": _count(c.id for c in closed if c.id in pushed),
    }
