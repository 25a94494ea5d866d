"""统计考核 dashboard and drill-down: headline totals, trends by month, the records behind a figure.

Everything here is built from the same rows as the API's reports (:mod:`app.assessment.service`),
so a figure on a page is the API's figure, and a drill-down lists exactly the records it counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.assessment.indicators import HEADLINE, Indicator, indicator
from app.assessment.ranking import Ranked, department_ranking, unit_rankings
from app.assessment.service import (
    Figure,
    Period,
    Row,
    assessable_units,
    combine,
    department_rows,
    departments_among,
    unit_rows,
)
from app.models import Case, Unit
from app.services.auth import Principal
from app.services.errors import Forbidden, Invalid, NotFound

MAX_TREND_MONTHS = 37  # a range is at most three years (Period.parse)


@dataclass
class Dashboard:
    period: Period
    level: str | None
    departments: list[Row]
    units: list[Row]
    headline: list[tuple[Indicator, str, Figure]]  # (indicator, side, total)
    trends: list[dict[str, Any]]  # per month: {"month": "2026-11", "<code>": value, ...}
    department_ranking: list[Ranked]
    unit_rankings: dict[str, list[Ranked]]


def require_assess(principal: Principal) -> None:
    """The dashboard is for users whose role grants ``assess`` (leaders, platform, auditors)."""
    if not principal.can("assess"):
        raise Forbidden("统计考核 needs a role that may assess (locality model: capability 'assess')")


def dashboard(session: Session, principal: Principal, period: Period, level: str | None = None) -> Dashboard:
    require_assess(principal)
    ids = assessable_units(session, principal)
    depts = departments_among(session, ids)
    dept_rows, whistle_rows = department_rows(session, depts, period), unit_rows(session, ids, period, level)
    totals = headline(dept_rows, whistle_rows)
    trends = []
    for month in period.months()[:MAX_TREND_MONTHS]:
        # a period of one month is its own trend: counted once
        found = totals if month == period else headline(department_rows(session, depts, month),
                                                        unit_rows(session, ids, month, level))
        trends.append({"month": month.first.strftime("%Y-%m")} | {i.code: f.value for i, _, f in found})
    return Dashboard(period, level, dept_rows, whistle_rows, totals, trends,
                     department_ranking(dept_rows, period=period), unit_rankings(whistle_rows))


def headline(dept_rows: list[Row], whistle_rows: list[Row]) -> list[tuple[Indicator, str, Figure]]:
    """The headline totals over every unit seen (HEADLINE: figures whose records add up)."""
    rows = {"departments": dept_rows, "units": whistle_rows}
    result = []
    for side, code in HEADLINE:
        item = indicator(side, code)
        result.append((item, side, combine(item.unit, [row.figures[code] for row in rows[side]])))
    return result


def overview(board: Dashboard) -> dict[str, Any]:
    """The API's shape of the dashboard's headline and trends."""
    return {"period": board.period.as_dict(), "level": board.level,
            "headline": [{"side": side, "code": item.code, "zh": item.zh, "en": item.en,
                          "formula_zh": item.formula_zh, "formula_en": item.formula_en, "unit": item.unit}
                         | figure.as_dict() for item, side, figure in board.headline],
            "trends": board.trends}


# --- drill-down ----------------------------------------------------------------------------------


@dataclass
class Drill:
    """The records behind one figure: the indicator, the figure and each counted record's case."""

    indicator: Indicator
    side: str
    unit: Unit | None  # None: the headline total over every unit the user sees
    figure: Figure
    cases: dict[int, Case]


def drill(session: Session, principal: Principal, period: Period, side: str, code: str,
          unit_code: str | None = None, level: str | None = None) -> Drill:
    """The records a figure was counted from; 403 for a unit the user may not see."""
    try:
        item = indicator(side, code)
    except KeyError:
        raise Invalid(f"unknown indicator '{side}/{code}'", {"code": "unknown indicator"}) from None
    ids = assessable_units(session, principal)
    unit = None
    if unit_code:
        unit = session.scalar(select(Unit).where(Unit.code == unit_code))
        if unit is None:
            raise NotFound(f"no unit '{unit_code}'")
        if unit.id not in ids:
            raise Forbidden("these figures are not yours to see")
        ids = {unit.id}
    figure = _figure(session, principal, period, item, side, ids, level, unit)
    cases = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(figure.cases or [0])))}
    return Drill(item, side, unit, figure, cases)


def _figure(session: Session, principal: Principal, period: Period, item: Indicator, side: str, ids: set[int],
            level: str | None, unit: Unit | None) -> Figure:
    if side == "departments":
        rows = department_rows(session, departments_among(session, ids), period)
    else:
        rows = unit_rows(session, ids, period, level)
    figures = [row.figures[item.code] for row in rows]
    if unit is not None and len(figures) <= 1:
        return figures[0] if figures else Figure(None)
    if unit is None:
        require_assess(principal)
        if (side, item.code) not in HEADLINE:
            raise Invalid(f"'{item.code}' has no total: choose a unit", {"unit": "required for this indicator"})
    if item.unit not in ("%", "n"):
        raise Invalid(f"'{item.code}' of several rows has no total: choose a level", {"level": "required"})
    return combine(item.unit, figures)
