"""Handlers for time limits (时限): a stage's deadlines, the 80 % reminder, 挂账督办.

``set_deadline`` turns a limit in working hours into absolute times (ISO 8601, UTC) in the process
data; the diagram's timer events read them (``timeDate``), so no script or expression ever reads a
clock. The reply is recorded like every handler's, so a replay gets the same times.
"""

from __future__ import annotations

from typing import Any

from app.services import deadlines
from app.services.org import unit_by_code

from . import HandlerContext, HandlerError, handler


@handler("set_deadline")
def set_deadline(ctx: HandlerContext, stage: str, hours: float | None = None) -> dict[str, Any]:
    """Reminder (80 %), deadline and second limit of ``stage``, ``hours`` working hours from now
    (or the stage's default from config/calendar.yaml when the diagram gives none)."""
    if hours is None:
        hours = deadlines.load_rules().default_hours.get(stage)
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or hours <= 0:
        raise HandlerError(f"stage '{stage}' has no valid time limit", {"hours": "a positive number of hours"})
    return {"stage": stage, **deadlines.stage_deadlines(ctx.now, float(hours))}


@handler("send_reminder")
def send_reminder(ctx: HandlerContext, stage: str, unit: str, task: str) -> dict[str, Any]:
    return deadlines.remind(ctx.session, ctx.case, stage, unit_by_code(ctx.session, unit), task, ctx.now)


@handler("open_supervision")
def open_supervision(ctx: HandlerContext, stage: str, unit: str, task: str, due: str) -> dict[str, Any]:
    return deadlines.open_supervision(
        ctx.session, ctx.case, stage, unit_by_code(ctx.session, unit), task, deadlines.parse_iso(due), ctx.now
    )
