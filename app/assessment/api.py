"""统计考核 JSON API: the indicators, rankings and dashboard totals of a period for the units the
caller may see."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from sqlalchemy.orm import Session

from app.api import bp, endpoint
from app.assessment.dashboard import dashboard, overview
from app.assessment.ranking import rankings
from app.assessment.service import Period, department_report, unit_report
from app.services.auth import Principal


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
