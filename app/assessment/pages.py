"""统计考核 pages: the leaders' dashboard, a department's own page, the drill-down behind a figure,
and the ECharts library they draw with (from node_modules, pinned in package-lock.json; no CDN).

Who sees what comes from the locality model: the dashboard needs a role with the capability
``assess``; a department page is open to those who may assess the department and to the people
of the department itself (app/assessment/service.py ``assessable_units``).
"""

from __future__ import annotations

from datetime import UTC, date
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, send_from_directory, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from app.assessment import bulletin
from app.assessment.api import period_from
from app.assessment.dashboard import dashboard, drill
from app.assessment.export import indicators_workbook, rankings_workbook, supervision_workbook
from app.assessment.indicators import INDICATORS, Indicator, indicator, load_rules
from app.assessment.ranking import Ranked, department_ranking, rankings
from app.assessment.service import (
    Period,
    assessable_units,
    department_rows,
    departments_among,
    peer_departments,
    unit_rows,
)
from app.models import Case, Unit, User
from app.services import clock, deadlines
from app.services.auth import Principal
from app.services.errors import Forbidden, NotFound
from app.services.locality import load_locality
from app.services.worktime import load_calendar
from app.settings import ROOT
from app.web.labels import is_english
from app.web.pages import staff_error_pages
from app.web.session import page

bp = Blueprint("assessment", __name__, url_prefix="/assessment", template_folder="templates",
               static_folder="static", static_url_path="/static")

ECHARTS_DIST = ROOT / "node_modules" / "echarts" / "dist"
ECHARTS_FILE = "echarts.common.min.js"  # line, bar and pie charts: all the pages draw
PERIOD_KINDS = ("month", "quarter", "year", "range")


staff_error_pages(bp)


# --- the period picker ---------------------------------------------------------------------------


def chosen_period(args: Any) -> tuple[Period, dict[str, str]]:
    """The period the picker asks for (this month when none), and the query that gives it again."""
    kind = args.get("kind") or next((k for k in PERIOD_KINDS[:3] if args.get(k)), "range" if args.get("start")
                                    else "month")
    if kind not in PERIOD_KINDS:
        kind = "month"
    query = {k: args.get(k, "") for k in (("start", "end") if kind == "range" else (kind,))}
    if not any(query.values()):
        query = {"month": _today().strftime("%Y-%m")}
    return period_from(query), query


def _today() -> date:
    """Today in the working-time calendar's zone (stored times are naive UTC)."""
    return clock.now().replace(tzinfo=UTC).astimezone(load_calendar().zone).date()


# --- display helpers -----------------------------------------------------------------------------


def figure_text(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "%":
        return f"{value:.1f}%"
    if unit == "n":
        return f"{int(value)}"
    return f"{value:.2f}"


def indicator_name(item: Indicator) -> str:
    return item.en if is_english() else item.zh


def indicator_formula(item: Indicator) -> str:
    return item.formula_en if is_english() else item.formula_zh


def assessment_link(me: User | None) -> str | None:
    """The nav's 统计考核 link: the dashboard for those who may assess, a department's own page for
    its people, nothing for the rest."""
    if me is None or object_session(me) is None:
        return None
    model = load_locality()
    granted, summoned = model.roles_with("assess"), model.kinds_where("summoned")
    if any(r.role in granted for r in me.roles):
        return url_for("assessment.dashboard_page")
    own = next((r.unit for r in me.roles if r.unit.kind in summoned), None)
    return url_for("assessment.department_page", code=own.code) if own is not None else None


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {"assessment_link": assessment_link, "figure_text": figure_text, "indicator_name": indicator_name,
            "indicator_formula": indicator_formula}


# --- pages ---------------------------------------------------------------------------------------


@bp.get("/")
@page
def dashboard_page(s: Session, principal: Principal) -> Any:
    period, query = chosen_period(request.args)
    level = request.args.get("level") or None
    board = dashboard(s, principal, period, level)  # 403 without 'assess'
    charts = {"trends": board.trends, "headline": [[i.code, indicator_name(i), i.unit] for i, _, _ in board.headline],
              "departments": _chart_ranking(board.department_ranking, "departments"),
              "units": {lvl: _chart_ranking(rows, "units") for lvl, rows in board.unit_rankings.items()}}
    return render_template("assessment/dashboard.html", me=principal.user, board=board, query=query,
                           kind=_kind(query), levels=list(load_locality().levels), charts=charts,
                           indicators=INDICATORS, rules=load_rules(), visible=assessable_units(s, principal),
                           by={side: _ranking_order(side) for side in INDICATORS})


def _chart_ranking(ranked: list[Ranked], side: str) -> dict[str, Any]:
    code = load_rules().rankings[side].order[0]
    return {"code": code, "names": [r.row.unit.name for r in ranked if r.rank is not None],
            "values": [r.row.figures[code].value for r in ranked if r.rank is not None]}


def _kind(query: dict[str, str]) -> str:
    return "range" if "start" in query else next(iter(query))


@bp.get("/departments/<code>")
@page
def department_page(s: Session, principal: Principal, code: str) -> Any:
    unit = s.scalar(select(Unit).where(Unit.code == code, Unit.kind.in_(load_locality().kinds_where("summoned"))))
    if unit is None:
        raise NotFound(f"no department '{code}'")
    if unit.id not in assessable_units(s, principal):
        raise Forbidden("these figures are not yours to see")
    period, query = chosen_period(request.args)
    ranked = department_ranking(department_rows(s, peer_departments(s, unit), period), period=period)
    mine = next(r for r in ranked if r.row.unit.id == unit.id)  # scored among its peers, as ranked
    row = mine.row
    ledger = [e for e in deadlines.supervision_ledger(s, principal, "open", clock.now())["items"] if e["unit"] == code]
    problems = _problems(row)
    ids = {case_id for found in problems.values() for case_id in found}
    cases = {c.id: c for c in s.scalars(select(Case).where(Case.id.in_(ids or [0])))}
    return render_template("assessment/department.html", me=principal.user, unit=unit, row=row, ranked=ranked,
                           mine=mine, ledger=ledger, query=query, kind=_kind(query), period=period,
                           indicators=INDICATORS["departments"], problems=problems, cases=cases,
                           visible=assessable_units(s, principal), by=_ranking_order("departments"))


def _ranking_order(side: str) -> list[Indicator]:
    return [indicator(side, code) for code in load_rules().rankings[side].order]


def _problems(row: Any) -> dict[str, list[int]]:
    """The department's late and reworked cases, straight from the figures' counted records."""
    figures = row.figures
    return {
        "late_report_in": sorted({r.case_id for r in figures["on_time_report_in_rate"].rows if not r.hit}),
        "late_handling": sorted({r.case_id for r in figures["handled_on_time_rate"].rows if not r.hit}),
        "reworked": sorted({r.case_id for r in figures["rework_rate"].rows if r.hit}),
    }


@bp.get("/cases")
@page
def drill_page(s: Session, principal: Principal) -> Any:
    period, query = chosen_period(request.args)
    args = request.args
    found = drill(s, principal, period, args.get("side", ""), args.get("code", ""), args.get("unit") or None,
                  args.get("level") or None)
    return render_template("assessment/drill.html", me=principal.user, drill=found, query=query, kind=_kind(query),
                           period=period, level=args.get("level") or None)


EXPORTS = {"indicators": "统计考核指标", "rankings": "统计考核排名", "supervision": "督办台账"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.get("/export/<what>.xlsx")
@page
def export(s: Session, principal: Principal, what: str) -> Any:
    """The figures, rankings or 督办 ledger the user may see, as an Excel workbook."""
    if what not in EXPORTS:
        raise NotFound(f"no export '{what}'")
    period, _query = chosen_period(request.args)
    level = request.args.get("level") or None
    body = _workbook(s, principal, what, period, level)
    name = f"{EXPORTS[what]}_{period.first.isoformat()}_{period.last.isoformat()}.xlsx"
    response = Response(body, mimetype=XLSX)
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    return response


def _workbook(s: Session, principal: Principal, what: str, period: Period, level: str | None) -> bytes:
    if what == "rankings":
        return rankings_workbook(period, rankings(s, principal, period, level))
    if what == "supervision":
        return supervision_workbook(period, supervision_items(s, principal, period))
    ids = assessable_units(s, principal)
    return indicators_workbook(period, department_rows(s, departments_among(s, ids), period),
                               unit_rows(s, ids, period, level))


def supervision_items(s: Session, principal: Principal, period: Period) -> list[dict[str, Any]]:
    """The ledger entries the user sees that were opened in the period or are still open (the two
    督办 figures), of the units whose figures they may see."""
    low, high = (moment.isoformat() for moment in period.bounds())
    codes = {u.code for u in s.scalars(select(Unit).where(Unit.id.in_(assessable_units(s, principal) or [0])))}
    items = deadlines.supervision_ledger(s, principal, None, clock.now())["items"]
    return [e for e in items if e["unit"] in codes and (e["status"] == "open" or low <= e["opened_at"] < high)]


# --- 月度通报 bulletins ----------------------------------------------------------------------------


@bp.get("/bulletins")
@page
def bulletins_page(s: Session, principal: Principal) -> Any:
    units = bulletin.bulletin_units(s, principal)
    if not units:
        raise Forbidden("bulletins need a role that may assess (locality model: capability 'assess')")
    _period, query = chosen_period(request.args)
    return render_template("assessment/bulletins.html", me=principal.user, units=units,
                           items=bulletin.published(s, principal), query=query, kind=_kind(query),
                           can_publish=not principal.read_only)


@bp.post("/bulletins")
@page
def publish_bulletin(s: Session, principal: Principal) -> Any:
    period, _query = chosen_period(request.form)
    event_id = bulletin.publish(s, principal, request.form.get("unit", ""), period)
    flash(_("通报已生成并记入审计链"))
    return redirect(url_for("assessment.bulletin_page", event_id=event_id))


@bp.get("/bulletins/<int:event_id>")
@page
def bulletin_page(s: Session, principal: Principal, event_id: int) -> Any:
    found = bulletin.load(s, principal, event_id)  # 404 unless of a unit the user may assess
    check = bulletin.regenerate(s, found) if request.args.get("verify") else None
    return render_template("assessment/bulletin.html", me=principal.user, bulletin=found, body=found.content,
                           check=check, indicators={side: {i.code: i for i in items}
                                                    for side, items in INDICATORS.items()})


@bp.get("/vendor/echarts.js")
def echarts() -> Any:
    if not (ECHARTS_DIST / ECHARTS_FILE).is_file():
        abort(404, "echarts is not installed: run `npm ci` in the project folder")
    return send_from_directory(ECHARTS_DIST, ECHARTS_FILE, max_age=3600)
