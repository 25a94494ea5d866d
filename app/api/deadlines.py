"""Routes for deadlines: my notifications, the supervised ledger (挂账督办), timer incidents."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from sqlalchemy.orm import Session

from app.api import bp, endpoint
from app.services import clock, deadlines, timers
from app.services.auth import Principal
from app.services.worktime import load_calendar


@bp.get("/notifications")
@endpoint
def notifications(s: Session, principal: Principal) -> Any:
    unread = request.args.get("unread", "").lower() in ("1", "true", "yes")
    return jsonify(deadlines.list_notifications(s, principal, unread))


@bp.post("/notifications/<int:notification_id>/read")
@endpoint
def notification_read(s: Session, principal: Principal, notification_id: int) -> Any:
    return jsonify(deadlines.mark_read(s, principal, notification_id, clock.now()))


@bp.get("/supervision")
@endpoint
def supervision(s: Session, principal: Principal) -> Any:
    return jsonify(deadlines.supervision_ledger(s, principal, request.args.get("status"), clock.now(),
                                                request.args.get("before")))


@bp.get("/incidents")
@endpoint
def incidents(s: Session, principal: Principal) -> Any:
    items = timers.list_incidents(s, principal, request.args.get("status"))
    return jsonify({"items": items, "warnings": load_calendar().warnings(clock.now().date())})


@bp.post("/incidents/<int:incident_id>/retry")
@endpoint
def incident_retry(s: Session, principal: Principal, incident_id: int) -> Any:
    return jsonify(timers.retry_incident(s, principal, incident_id))
