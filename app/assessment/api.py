"""统计考核 JSON API: the indicators, rankings and dashboard totals of a period for the units the
caller may see."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from sqlalchemy.orm import Session

from app.api import bp, endpoint
from app.assessment import pushes
from app.assessment.dashboard import dashboard, overview
from app.assessment.grades import annotate, give, history
from app.assessment.ranking import rankings
from app.assessment.service import Period, department_report, unit_report
from app.services.auth import Principal
from app.services.errors import Invalid

PERIOD_KEYS = ("month", "quarter", "year", "start", "end")


def period_from(args: Any) -> Period:
    """?month=2026-11, ?quarter=2026-Q4, ?year=2026 or ?start=2026-10-01&end=2026-12-31."""
    return Period.parse(args.get("month"), args.get("start"), args.get("end"), args.get("quarter"),
                        args.get("year"))


@bp.get("/assessment/departments")
@endpoint
def departments(s: Session, principal: Principal) -> Any:
    """Every department the caller may see."""
    return jsonify(department_report(s, principal, period_from(request.args)))


@bp.get("/assessment/units")
@endpoint
def units(s: Session, principal: Principal) -> Any:
    """Whistles by whistling unit and level (?level= to keep one)."""
    return jsonify(unit_report(s, principal, period_from(request.args), request.args.get("level") or None))


@bp.get("/assessment/rankings")
@endpoint
def ranking(s: Session, principal: Principal) -> Any:
    """The rankings with 红黑榜: departments, and whistling units per level."""
    period = period_from(request.args)
    return jsonify(annotate(s, period, rankings(s, principal, period, request.args.get("level") or None)))


@bp.get("/assessment/overview")
@endpoint
def dashboard_overview(s: Session, principal: Principal) -> Any:
    """The dashboard's headline totals and trends by month (403 without the capability 'assess')."""
    board = dashboard(s, principal, period_from(request.args), request.args.get("level") or None)
    return jsonify(overview(board))


@bp.get("/assessment/grades")
@endpoint
def grades(s: Session, principal: Principal) -> Any:
    """The grades (等次) given for the period to the units the caller may see, every version."""
    return jsonify(history(s, principal, period_from(request.args)))


@bp.post("/assessment/grades")
@endpoint
def give_grades(s: Session, principal: Principal) -> Any:
    """Gives year-end grades (等次) to departments: stored (a new version for one graded before) only
    when every quota holds over the period's grades, else 422 naming each quota broken (at most
    30 % 好 ...) and nothing stored. Body: {"year": "2026", "grades": {code: grade},
    "reasons": {code: text}} (the period as in the query: month, quarter, year or start/end)."""
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    given, reasons = body.get("grades"), body.get("reasons") or {}
    if not isinstance(given, dict) or not given or not all(isinstance(v, str) for v in given.values()):
        raise Invalid("grades: give {department code: grade}", {"grades": "required"})
    if not isinstance(reasons, dict) or not all(isinstance(v, str) for v in reasons.values()):
        raise Invalid("reasons: give {department code: text}", {"reasons": "a mapping of texts"})
    period = period_from({k: str(v) for k, v in body.items() if k in PERIOD_KEYS})
    return jsonify(give(s, principal, period, {str(k): v for k, v in given.items()}, reasons))


@bp.post("/cases/<int:case_id>/push")
@endpoint
def push_whistle(s: Session, principal: Principal, case_id: int) -> Any:
    """推送市级: records a closed whistle as pushed to the city, with a comment (the locality's
    assessment.yaml push names who may and which levels)."""
    body = request.get_json(silent=True)
    comment = body.get("comment") if isinstance(body, dict) else None
    if not isinstance(comment, str):
        raise Invalid("comment: say why the whistle is pushed", {"comment": "required"})
    return jsonify(pushes.push(s, principal, case_id, comment)), 201


@bp.delete("/cases/<int:case_id>/push")
@endpoint
def undo_push(s: Session, principal: Principal, case_id: int) -> Any:
    """Takes a push back, until a bulletin covering the whistle's month is published."""
    return jsonify(pushes.undo(s, principal, case_id))
