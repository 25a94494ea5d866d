"""统计考核 JSON API: the indicators of a period for the units the caller may see."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from sqlalchemy.orm import Session

from app.api import bp, endpoint
from app.assessment.service import Period, department_report, unit_report
from app.services.auth import Principal


def _period() -> Period:
    args = request.args
    return Period.parse(args.get("month"), args.get("start"), args.get("end"))


@bp.get("/assessment/departments")
@endpoint
def departments(s: Session, principal: Principal) -> Any:
    """?month=2026-11 or ?start=2026-10-01&end=2026-12-31: every department the caller may see."""
    return jsonify(department_report(s, principal, _period()))


@bp.get("/assessment/units")
@endpoint
def units(s: Session, principal: Principal) -> Any:
    """Whistles by whistling unit and level (?level= to keep one)."""
    return jsonify(unit_report(s, principal, _period(), request.args.get("level") or None))
