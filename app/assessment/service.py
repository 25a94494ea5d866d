"""Computing the indicators for a period, for the units a user may see.

Each figure is a :class:`Figure`: the value with its numerator, denominator and the ids of the cases
it was counted from (the drill-down). Periods are local calendar dates in the working-time
calendar's zone (a month is 2026-11-01 00:00 to 2026-12-01 00:00 Beijing time).
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from app.assessment.indicators import DEPARTMENT_INDICATORS, INDICATORS, Indicator, Rules, load_rules
from app.assessment.scoring import ScorePart, score_rows
from app.models import Case, CaseUnit, Evaluation, Event, ReportIn, SupervisionEntry, Task, Unit
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


@dataclass
class Figure:
    value: float | None
    numerator: float | None = None
    denominator: float | None = None
    rows: list[Counted] = field(default_factory=list)
    parts: list[ScorePart] = field(default_factory=list)  # a score's points per term

    @property
    def cases(self) -> list[int]:
        return sorted({row.case_id for row in self.rows})

    def as_dict(self) -> dict[str, Any]:
        found = {"value": self.value, "numerator": self.numerator, "denominator": self.denominator,
                 "cases": self.cases}
        if self.parts:
            found["parts"] = [{"label": p.label, "points": p.points} for p in self.parts]
        return found


def _score(value: float | None, parts: list[ScorePart], rows: list[Counted]) -> Figure:
    return Figure(value, rows=rows, parts=parts)


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
    """One figure over the records of several (a headline total): rates and counts only."""
    rows = [row for figure in figures for row in figure.rows]
    if unit == "%":
        return _rate((row.case_id, bool(row.hit)) for row in rows)
    if unit == "n":
        return _count(row.case_id for row in rows)
    raise ValueError(f"figures in '{unit}' do not add up")


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
    """The figures of these departments in the period (no access check: callers choose the units)."""
    rules = load_rules()
    low, high = period.bounds()
    ids = {u.id for u in depts}
    parts = [
        _report_ins(session, ids, low, high), _handling(session, ids, low, high, rules),
        _dispatches(session, ids, low, high, rules), _supervision(session, ids, low, high),
        _evaluations(session, ids, low, high), _satisfaction(session, ids, low, high, rules),
    ]
    rows = []
    for unit in depts:
        figures: dict[str, Figure] = {}
        for part in parts:
            figures.update(part(unit.id))
        rows.append(Row(unit, None, {i.code: figures[i.code] for i in DEPARTMENT_INDICATORS}))
    return scored("departments", rows, rules, period)


def describe(indicator: Indicator) -> dict[str, str]:
    return {"code": indicator.code, "zh": indicator.zh, "en": indicator.en, "formula_zh": indicator.formula_zh,
            "formula_en": indicator.formula_en, "unit": indicator.unit}


Part = Any  # a function of a unit id giving some of its figures


def _report_ins(session: Session, ids: set[int], low: datetime, high: datetime) -> Part:
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
        .where(Task.unit_id.in_(ids), Task.stage.in_(rules.handling_stages), Task.due_at.is_not(None),
               Task.due_at >= low, Task.due_at < high, Task.status != "cancelled")))

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


def _supervision(session: Session, ids: set[int], low: datetime, high: datetime) -> Part:
    entries = list(session.scalars(select(SupervisionEntry).where(
        SupervisionEntry.unit_id.in_(ids), SupervisionEntry.opened_at >= low, SupervisionEntry.opened_at < high)))
    still_open = list(session.scalars(select(SupervisionEntry).where(
        SupervisionEntry.unit_id.in_(ids), SupervisionEntry.status == "open")))

    def figures(unit_id: int) -> dict[str, Figure]:
        return {"supervised": _count(e.case_id for e in entries if e.unit_id == unit_id),
                "supervised_open": _count(e.case_id for e in still_open if e.unit_id == unit_id)}

    return figures


def _evaluations(session: Session, ids: set[int], low: datetime, high: datetime) -> Part:
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
        weight = sum(row.value or 0.0 for row in mine)
        value = round(100 * weight / len(mine), 1) if mine else None
        return {"satisfaction_rate": Figure(value, round(weight, 2), len(mine), mine)}

    return figures


# --- whistling units -----------------------------------------------------------------------------


def unit_report(session: Session, principal: Principal, period: Period, level: str | None = None) -> dict[str, Any]:
    """Per whistling unit (and level): whistles started in the period and how they ended."""
    return report("units", period, unit_rows(session, assessable_units(session, principal), period, level))


def unit_rows(session: Session, ids: set[int], period: Period, level: str | None = None) -> list[Row]:
    """A row per whistling unit among ``ids`` and level, for the whistles started in the period."""
    low, high = period.bounds()
    # a whistle counts once it blew (the head approved: whistle_started), not while under review
    blown = exists().where(Event.case_id == Case.id, Event.type == "whistle_started")
    query = select(Case).where(Case.level.is_not(None), Case.whistle_unit_id.in_(ids or [0]),
                               Case.created_at >= low, Case.created_at < high, blown)
    if level:
        query = query.where(Case.level == level)
    by_unit: dict[tuple[int, str], list[Case]] = defaultdict(list)
    for case in session.scalars(query):
        if case.whistle_unit_id is not None and case.level is not None:
            by_unit[(case.whistle_unit_id, case.level)].append(case)
    units = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_({k[0] for k in by_unit} or [0])))}
    keys = sorted(by_unit, key=lambda key: (units[key[0]].code, key[1]))
    rows = [Row(units[uid], lvl, _unit_figures(by_unit[(uid, lvl)])) for uid, lvl in keys]
    return scored("units", rows, load_rules(), period)


def _unit_figures(cases: list[Case]) -> dict[str, Figure]:
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
    }
