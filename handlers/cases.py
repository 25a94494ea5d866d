"""Handlers for a case's own record: dispatch, satisfaction, closure."""

from __future__ import annotations

from typing import Any

from app.services import journal, workflow
from app.services.record_keys import RESPONDING_UNIT

from . import HandlerContext, HandlerError, handler, unit_that

OUTCOMES = {"self_handled", "closed", "escalated", "invalid"}
# Outcomes that must say why (退单 / 无效件): the reporter is shown the reason.
NEEDS_REASON = {"invalid"}
SATISFACTION = {"satisfied", "basically_satisfied", "dissatisfied"}
# 解决情况: recorded apart from satisfaction (a reporter may be satisfied with a partial fix)
RESOLUTION = {"resolved", "partly_resolved", "unresolved"}


@handler("dispatch_case")
def dispatch_case(ctx: HandlerContext, department: str) -> dict[str, Any]:
    """Grade 2 (分级派单): one department with a clear duty gets the case."""
    unit = unit_that(ctx, department, "summoned")
    workflow.link_unit(ctx.session, ctx.case, unit.id)
    journal.record_event(ctx.session, ctx.case, "dispatched", ctx.actor, unit_id=unit.id,
                          data={RESPONDING_UNIT: department})
    return {RESPONDING_UNIT: department, "dispatched_at": ctx.now.isoformat()}


@handler("record_satisfaction")
def record_satisfaction(ctx: HandlerContext, satisfaction: str, comment: str | None = None,
                        resolution: str | None = None) -> dict[str, Any]:
    """A call-back that reached the reporter (有效回访): their satisfaction and, apart from it,
    whether the problem was solved (解决情况)."""
    if satisfaction not in SATISFACTION:
        raise HandlerError(f"unknown satisfaction '{satisfaction}'", {"satisfaction": "unknown value"})
    if resolution is not None and resolution not in RESOLUTION:
        raise HandlerError(f"unknown resolution '{resolution}'", {"resolution": "unknown value"})
    ctx.case.satisfaction = satisfaction
    data = {"satisfaction": satisfaction, "comment": comment or ""} | ({"resolution": resolution} if resolution else {})
    journal.record_event(ctx.session, ctx.case, "satisfaction", ctx.actor, data=data)
    return {}


@handler("close_case")
def close_case(ctx: HandlerContext, outcome: str, reason: str | None = None) -> dict[str, Any]:
    """办结销号: the case is closed (self-handled, solved, passed up to the next level, or 退单 as
    an invalid report, with the reason the reporter is shown)."""
    if outcome not in OUTCOMES:
        raise HandlerError(f"unknown outcome '{outcome}'", {"outcome": "unknown value"})
    if outcome in NEEDS_REASON and not (reason or "").strip():
        raise HandlerError(f"outcome '{outcome}' needs a reason", {"reason": "required"})
    case = ctx.case
    case.status, case.outcome, case.closed_at = "closed", outcome, ctx.now
    data = {"outcome": outcome} | ({"reason": reason.strip()} if reason and reason.strip() else {})
    journal.record_event(ctx.session, case, "case_closed", ctx.actor, data=data)
    return {}
