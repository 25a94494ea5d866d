"""统计考核 JSON API: the indicators, rankings and dashboard totals of a period for the units the
caller may see."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from sqlalchemy.orm import Session

from app.api import bp, endpoint
from app.assessment.dashboard import dashboard, overview
from app.assessment.ranking import check_grades, rankings
from app.assessment.service import Period, department_report, unit_report
from app.services.auth import Principal
from app.services.errors import Invalid


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
    return jsonify(rankings(s, principal, period_from(request.args), request.args.get("level") or None))


@bp.get("/assessment/overview")
@endpoint
def dashboard_overview(s: Session, principal: Principal) -> Any:
    """The dashboard's headline totals and trends by month (403 without the capability 'assess')."""
    board = dashboard(s, principal, period_from(request.args), request.args.get("level") or None)
    return jsonify(overview(board))


@bp.post("/assessment/grades")
@endpoint
def grades(s: Session, principal: Principal) -> Any:
    """Checks the year-end grades (等次) given to departments against the quotas: 422 naming each
    quota broken (at most 30 % 好 ...), else the grades by grading."""
    body = request.get_json(silent=True) or {}
    given = body.get("grades")
    if not isinstance(given, dict) or not given:
        raise Invalid("grades: give {department code: grade}", {"grades": "required"})
    return jsonify(check_grades(s, principal, {str(k): str(v) for k, v in given.items()}))
