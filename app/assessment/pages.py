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

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from app.assessment import bulletin, bulletin_pdf, export_jobs, grades, pushes
from app.assessment.api import period_from
from app.assessment.dashboard import dashboard, drill
from app.assessment.indicators import INDICATORS, Indicator, indicator, load_rules
from app.assessment.labels import figure_text, indicator_formula, indicator_name
from app.assessment.ranking import Ranked, department_ranking
from app.assessment.service import (
    PROBLEM_FIGURES,
    Period,
    assessable_units,
    department_rows,
    peer_departments,
    problem_cases,
)
from app.models import Case, Unit, User
from app.services import clock, deadlines
from app.services.auth import Principal
from app.services.errors import Conflict, Forbidden, Invalid, NotFound
from app.services.locality import load_locality
from app.services.worktime import load_calendar
from app.settings import ROOT
from app.web.pages import staff_error_pages
from app.web.session import page

bp = Blueprint("assessment", __name__, url_prefix="/assessment", template_folder="templates",
               static_folder="static", static_url_path="/static")

ECHARTS_DIST = ROOT / "node_modules" / "echarts" / "dist"
ECHARTS_FILE = "echarts.common.min.js"  # line, bar and pie charts: all the pages draw
PERIOD_KINDS = ("month", "quarter", "year", "range")
PROBLEM_PAGE = 50  # cases listed of each late or reworked list on a department page; the rest by "more"


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
                           by={side: _ranking_order(side) for side in INDICATORS},
                           given_grades=grades.given_grades(s, period, (r.row.unit for r in board.department_ranking)))


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
    ledger = deadlines.supervision_ledger(s, principal, "open", clock.now(), unit_id=unit.id)["items"]
    problems = problem_cases(s, unit.id, period, PROBLEM_PAGE)
    ids = {case_id for found in problems.values() for case_id in found.cases}
    cases = {c.id: c for c in s.scalars(select(Case).where(Case.id.in_(ids or [0])))}
    return render_template("assessment/department.html", me=principal.user, unit=unit, row=row, ranked=ranked,
                           mine=mine, ledger=ledger, query=query, kind=_kind(query), period=period,
                           indicators=INDICATORS["departments"], problems=problems, cases=cases,
                           problem_figures=PROBLEM_FIGURES,
                           visible=assessable_units(s, principal), by=_ranking_order("departments"),
                           given_grades=grades.given_grades(s, period, (r.row.unit for r in ranked)))


def _ranking_order(side: str) -> list[Indicator]:
    return [indicator(side, code) for code in load_rules().rankings[side].order]


@bp.get("/cases")
@page
def drill_page(s: Session, principal: Principal) -> Any:
    period, query = chosen_period(request.args)
    args = request.args
    found = drill(s, principal, period, args.get("side", ""), args.get("code", ""), args.get("unit") or None,
                  args.get("level") or None)
    return render_template("assessment/drill.html", me=principal.user, drill=found, query=query, kind=_kind(query),
                           period=period, level=args.get("level") or None)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.get("/export/<what>.xlsx")
@page
def export(s: Session, principal: Principal, what: str) -> Any:
    """The figures, rankings or 督办 ledger the user may see, as an Excel workbook; for a long period a
    page offering to make it in the background (with a progress bar)."""
    period, query = chosen_period(request.args)
    level = request.args.get("level") or None
    plan = export_jobs.steps(s, principal, what, period, level)  # 404 for an unknown export
    if export_jobs.is_long(period):
        return render_template("assessment/export_job.html", me=principal.user, job=None, what=what, query=query,
                               kind=_kind(query), level=level, period=period, days=export_jobs.BACKGROUND_DAYS)
    return _xlsx(export_jobs.run(plan), export_jobs.filename(what, period))


def _xlsx(body: bytes, name: str) -> Response:
    response = Response(body, mimetype=XLSX)
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    return response


@bp.post("/exports")
@page
def start_export(s: Session, principal: Principal) -> Any:
    period, _query = chosen_period(request.form)
    job = export_jobs.create(s, principal, request.form.get("what", ""), period, request.form.get("level") or None)
    s.commit()  # the job's thread reads it
    export_jobs.start(current_app.extensions["whistle.db"], job.id)
    return redirect(url_for("assessment.export_job_page", job_id=job.id))


@bp.get("/exports/<int:job_id>")
@page
def export_job_page(s: Session, principal: Principal, job_id: int) -> Any:
    job = export_jobs.mine(s, principal, job_id)
    return render_template("assessment/export_job.html", me=principal.user, job=job, what=job.what)


@bp.get("/exports/<int:job_id>.json")
@page
def export_job_status(s: Session, principal: Principal, job_id: int) -> Any:
    return jsonify(export_jobs.describe(export_jobs.mine(s, principal, job_id)))


@bp.get("/exports/<int:job_id>/download")
@page
def export_job_download(s: Session, principal: Principal, job_id: int) -> Any:
    job = export_jobs.mine(s, principal, job_id)
    if job.status != "done" or job.body is None:
        raise Conflict(f"export job {job_id} is {job.status}, not done")
    return _xlsx(job.body, job.filename)


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


@bp.get("/bulletins/<int:event_id>.pdf")
@page
def bulletin_pdf_download(s: Session, principal: Principal, event_id: int) -> Any:
    """The bulletin as published, as an A4 PDF (the same figures and hash as the HTML page)."""
    found = bulletin.load(s, principal, event_id)  # 404 unless of a unit the user may assess
    response = Response(bulletin_pdf.render(found), mimetype="application/pdf")
    name = f"考核通报_{found.content['unit']['code']}_{found.content['period']['start']}.pdf"
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    return response


# --- 等次评定 grades a leader gives --------------------------------------------------------------


@bp.get("/grades")
@page
def grades_page(s: Session, principal: Principal) -> Any:
    return _grades_form(s, principal, request.args, {}, None)


@bp.post("/grades")
@page
def give_grades(s: Session, principal: Principal) -> Any:
    """Stores the grades entered (a blank choice grades nobody); on a broken quota the form again with
    the message and what was entered, nothing stored (422)."""
    form = request.form
    period, query = chosen_period(form)
    entered = {key.removeprefix("grade-"): value for key, value in form.items()
               if key.startswith("grade-") and value}
    reasons = {code: form.get(f"reason-{code}", "") for code in entered if form.get(f"reason-{code}", "").strip()}
    if not entered:
        return _grades_form(s, principal, query, form, _("未选择任何等次")), 422
    try:
        grades.give(s, principal, period, entered, reasons)
    except Invalid as refused:
        return _grades_form(s, principal, query, form, refused.message), 422
    flash(_("等次已保存并记入审计链"))
    return redirect(url_for("assessment.grades_page", **query))


def _grades_form(s: Session, principal: Principal, args: Any, entered: Any, problem: str | None) -> str:
    """The departments the user may grade, by grading, each with its score, the grade its score earns
    (建议等次), the grade given (评定等次) and its history, for a period of the gradings' kind."""
    depts = grades.graded_departments(s, principal)
    if not depts:
        raise Forbidden("grading needs a role that may assess (locality model: capability 'assess')")
    if not any(args.get(k) for k in ("month", "quarter", "year", "start")):
        args = {"kind": "year", "year": str(_today().year)}
    period, query = chosen_period(args)
    rules = load_rules()
    ranked = department_ranking(department_rows(s, depts, period), rules, period)
    stored = grades.current(s, period, {u.id for u in depts})
    return render_template("assessment/grades.html", me=principal.user, query=query, kind=_kind(query),
                           period=period, groups=grades.by_grading(rules.scoring, ranked), stored=stored,
                           entered=entered, problem=problem, can_grade=not principal.read_only)


# --- 推送市级 whistles pushed to the city (buttons on the case page) --------------------------------


@bp.post("/cases/<int:case_id>/push")
@page
def push_whistle(s: Session, principal: Principal, case_id: int) -> Any:
    pushes.push(s, principal, case_id, request.form.get("comment", ""))
    flash(_("已推送市级并记入审计链"))
    return redirect(url_for("web.case_page", case_id=case_id) + "#push")


@bp.post("/cases/<int:case_id>/unpush")
@page
def undo_push(s: Session, principal: Principal, case_id: int) -> Any:
    pushes.undo(s, principal, case_id)
    flash(_("已撤销推送市级"))
    return redirect(url_for("web.case_page", case_id=case_id) + "#push")


@bp.get("/vendor/echarts.js")
def echarts() -> Any:
    if not (ECHARTS_DIST / ECHARTS_FILE).is_file():
        abort(404, "echarts is not installed: run `npm ci` in the project folder")
    return send_from_directory(ECHARTS_DIST, ECHARTS_FILE, max_age=3600)
