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

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.assessment.indicators import DEPARTMENT_INDICATORS, UNIT_INDICATORS, Rules, load_rules
from app.models import Case, CaseUnit, Evaluation, Event, ReportIn, SupervisionEntry, Task, Unit
from app.services import clock
from app.services.auth import Principal
from app.services.errors import Invalid
from app.services.locality import load_locality
from app.services.worktime import load_calendar

SCORES = ("efficiency", "cooperation", "professionalism", "responsibility")


@dataclass(frozen=True)
class Period:
    """[start, end) as local dates; ``bounds`` gives them as naive UTC, as rows are stored."""

    first: date
    last: date  # inclusive

    @classmethod
    def parse(cls, month: str | None = None, start: str | None = None, end: str | None = None) -> Period:
        """A month (``2026-11``) or a range of dates (``start``/``end``, inclusive, ``2026-10-01``)."""
        if month:
            if not re.fullmatch(r"\d{4}-\d{2}", month):
                raise Invalid(f"month '{month}': expected YYYY-MM", {"month": "expected YYYY-MM"})
            year, number = int(month[:4]), int(month[5:])
            if not 1 <= number <= 12:
                raise Invalid(f"month '{month}' does not exist", {"month": "no such month"})
            first = date(year, number, 1)
            following = date(year + number // 12, number % 12 + 1, 1)
            return cls(first, following - timedelta(days=1))
        first, last = _date("start", start), _date("end", end)
        if last < first:
            raise Invalid("the period ends before it starts", {"end": "before start"})
        if (last - first).days > 3 * 366:
            raise Invalid("a period is at most three years", {"end": "too far from start"})
        return cls(first, last)

    def bounds(self) -> tuple[datetime, datetime]:
        zone = load_calendar().zone
        low = datetime.combine(self.first, time(0), zone)
        high = datetime.combine(self.last + timedelta(days=1), time(0), zone)
        return _utc(low), _utc(high)

    def as_dict(self) -> dict[str, str]:
        return {"start": self.first.isoformat(), "end": self.last.isoformat()}


def _date(name: str, value: str | None) -> date:
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        raise Invalid(f"{name} '{value}': expected a date YYYY-MM-DD", {name: "expected YYYY-MM-DD"}) from None


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


@dataclass
class Figure:
    value: float | None
    numerator: float | None = None
    denominator: float | None = None
    cases: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "numerator": self.numerator, "denominator": self.denominator,
                "cases": self.cases}


def _rate(hits: Iterable[int], base: Iterable[int]) -> Figure:
    """A rate in percent over cases (or rows) counted with repeats; None when there is no base."""
    hits, base = list(hits), list(base)
    value = round(100 * len(hits) / len(base), 1) if base else None
    return Figure(value, len(hits), len(base), sorted(set(base)))


def _count(cases: Iterable[int]) -> Figure:
    cases = list(cases)
    return Figure(len(cases), cases=sorted(set(cases)))


def _mean(values: list[float], cases: Iterable[int]) -> Figure:
    return Figure(round(statistics.fmean(values), 2) if values else None, cases=sorted(set(cases)))


def _quantile(values: list[float], q: float, cases: Iterable[int]) -> Figure:
    """Nearest-rank quantile (the value at rank ⌈q·n⌉): always a measured value."""
    ordered = sorted(values)
    value = round(ordered[max(1, math.ceil(q * len(ordered))) - 1], 2) if ordered else None
    return Figure(value, cases=sorted(set(cases)))


# --- departments ---------------------------------------------------------------------------------


def department_report(session: Session, principal: Principal, period: Period) -> dict[str, Any]:
    """The indicators of every department the user may see (a department its own; the district all)."""
    rules = load_rules()
    low, high = period.bounds()
    depts = [u for u in session.scalars(select(Unit).where(Unit.kind.in_(load_locality().kinds_where("summoned")))
                                        .order_by(Unit.code)) if u.id in principal.visible_units]
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
        rows.append({"unit": unit.code, "name": unit.name,
                     "figures": {i.code: figures[i.code].as_dict() for i in DEPARTMENT_INDICATORS}})
    return {"period": period.as_dict(), "indicators": [_describe(i) for i in DEPARTMENT_INDICATORS], "rows": rows}


def _describe(indicator: Any) -> dict[str, str]:
    return {"code": indicator.code, "zh": indicator.zh, "en": indicator.en, "formula_zh": indicator.formula_zh,
            "formula_en": indicator.formula_en, "unit": indicator.unit}


Part = Any  # a function of a unit id giving some of its figures


def _report_ins(session: Session, ids: set[int], low: datetime, high: datetime) -> Part:
    rows = list(session.scalars(select(ReportIn).where(ReportIn.department_id.in_(ids),
                                                       ReportIn.summoned_at >= low, ReportIn.summoned_at < high)))
    calendar = load_calendar()

    def figures(unit_id: int) -> dict[str, Figure]:
        mine = [r for r in rows if r.department_id == unit_id]
        reported = [r for r in mine if r.reported_at is not None]
        hours = [calendar.hours_between(r.summoned_at, r.reported_at) for r in reported if r.reported_at]
        cases = [r.case_id for r in reported]
        return {
            "summoned": _count(r.case_id for r in mine),
            "report_in_rate": _rate((r.case_id for r in reported), (r.case_id for r in mine)),
            "on_time_report_in_rate": _rate((r.case_id for r in mine if r.on_time), (r.case_id for r in mine)),
            "report_in_hours_median": _quantile(hours, 0.5, cases),
            "report_in_hours_p90": _quantile(hours, 0.9, cases),
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
        on_time = [t.case_id for t, _ in mine if t.completed_at is not None and t.completed_at <= t.due_at]
        handled = {t.case_id: rework for t, rework in mine if t.status == "completed"}
        return {
            "handled_on_time_rate": _rate(on_time, (t.case_id for t, _ in mine)),
            "rework_rate": _rate((c for c, rework in handled.items() if rework), handled),
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
        return {"sent_back_rate": _rate((c for c in mine if (unit_id, c) in sent_back), mine)}

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
        cases = [e.case_id for e in mine]
        result = {key: _mean([float(getattr(e, key)) for e in mine], cases) for key in SCORES}
        result["evaluation_score"] = _mean([e.score for e in mine], cases)
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
        mine = [(case, answer) for unit, case, answer in rows if unit == unit_id]
        weight = sum(rules.satisfaction_weights[answer] for _, answer in mine)
        value = round(100 * weight / len(mine), 1) if mine else None
        return {"satisfaction_rate": Figure(value, round(weight, 2), len(mine), sorted({c for c, _ in mine}))}

    return figures


# --- whistling units -----------------------------------------------------------------------------


def unit_report(session: Session, principal: Principal, period: Period, level: str | None = None) -> dict[str, Any]:
    """Per whistling unit (and level): whistles started in the period and how they ended."""
    low, high = period.bounds()
    query = select(Case).where(Case.level.is_not(None), Case.whistle_unit_id.in_(principal.visible_units),
                               Case.created_at >= low, Case.created_at < high)
    if level:
        query = query.where(Case.level == level)
    cases = list(session.scalars(query))
    by_unit: dict[tuple[int, str], list[Case]] = defaultdict(list)
    for case in cases:
        if case.whistle_unit_id is not None and case.level is not None:
            by_unit[(case.whistle_unit_id, case.level)].append(case)
    units = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_({k[0] for k in by_unit})))}
    rows = [{"unit": units[uid].code, "name": units[uid].name, "level": lvl,
             "figures": {k: v.as_dict() for k, v in _unit_figures(group).items()}}
            for (uid, lvl), group in sorted(by_unit.items(), key=lambda kv: (units[kv[0][0]].code, kv[0][1]))]
    return {"period": period.as_dict(), "indicators": [_describe(i) for i in UNIT_INDICATORS], "rows": rows}


def _unit_figures(cases: list[Case]) -> dict[str, Figure]:
    calendar = load_calendar()
    closed = [c for c in cases if c.status == "closed" and c.outcome == "closed"]
    hours = [calendar.hours_between(c.created_at, c.closed_at) for c in closed if c.closed_at]
    return {
        "whistles_started": _count(c.id for c in cases),
        "whistles_closed": _count(c.id for c in closed),
        "close_rate": _rate((c.id for c in closed), (c.id for c in cases)),
        "closed_at_once_rate": _rate((c.id for c in closed if not c.rework_count), (c.id for c in closed)),
        "escalated": _count(c.id for c in cases if c.outcome == "escalated"),
        "close_hours_avg": _mean(hours, (c.id for c in closed)),
    }
