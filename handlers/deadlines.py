"""Handlers for time limits (时限): a stage's deadlines, the 80 % reminder, 挂账督办, escalation.

``set_deadline`` turns a limit in working hours into absolute times (ISO 8601, UTC) in the process
data; the diagram's timer events read them (``timeDate``), so no script or expression ever reads a
clock. The reply is recorded like every handler's, so a replay gets the same times.
"""

from __future__ import annotations

from typing import Any

from app.services import deadlines
from app.services import division as work_division
from app.services.org import unit_by_code

from . import HandlerContext, HandlerError, handler


@handler("set_deadline", times=deadlines.STAGE_MOMENTS)
def set_deadline(ctx: HandlerContext, stage: str, hours: float | None = None) -> dict[str, Any]:
    """Reminder (80 %), deadline and second limit of ``stage``, ``hours`` working hours from now
    (or the stage's default from config/calendar.yaml when the diagram gives none)."""
    if hours is None:
        hours = deadlines.load_rules().default_hours.get(stage)
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or hours <= 0:
        raise HandlerError(f"stage '{stage}' has no valid time limit", {"hours": "a positive number of hours"})
    return {"stage": stage, **deadlines.stage_deadlines(ctx.now, float(hours))}


@handler("record_division")
def record_division(ctx: HandlerContext, division: list[dict[str, Any]] | None,
                    summoned: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """分工: the coordination meeting's division of work, checked against the summoned departments."""
    return work_division.check(division, [str(d["code"]) for d in summoned], ctx.now)


@handler("set_handling_deadlines")
def set_handling_deadlines(ctx: HandlerContext, stage: str, hours: float | None,
                           division: list[dict[str, Any]] | None, summoned: list[dict[str, Any]]) -> dict[str, Any]:
    """The handling stage's deadlines, and under ``departments`` each summoned department's own:
    its 分工 task, and its due date's end where that comes before the stage's limit."""
    general = set_deadline(ctx, stage, hours)
    return {**general, "departments": {
        str(d["code"]): work_division.department_deadline(general, division, str(d["code"]), ctx.now)
        for d in summoned}}


@handler("send_reminder")
def send_reminder(ctx: HandlerContext, stage: str, unit: str, task: str) -> dict[str, Any]:
    return deadlines.remind(ctx.session, ctx.case, stage, unit_by_code(ctx.session, unit), task, ctx.now)


# Who supervises a late unit (督办), as the diagram's open_supervision names it.
SUPERVISORS = ("head", "above")


@handler("open_supervision")
def open_supervision(ctx: HandlerContext, stage: str, unit: str, task: str, due: str,
                     supervisor: str = "head") -> dict[str, Any]:
    """The ledger entry of a late ``unit`` and who supervises it: ``head``, the unit's own head
    (一把手: a department's head, a street's or community's secretary); ``above``, the head of the
    unit above it, for work the head itself is late with (a secretary's own approval)."""
    late = unit_by_code(ctx.session, unit)
    if supervisor not in SUPERVISORS:
        raise HandlerError(f"unknown supervisor '{supervisor}'", {"supervisor": " or ".join(SUPERVISORS)})
    # The top of the tree (the district) has no unit above it: its own head supervises, the one
    # case where the late secretary gets the 督办 task of their own approval.
    head = (late.parent or late) if supervisor == "above" else late
    return deadlines.open_supervision(ctx.session, ctx.case, stage, late, task, deadlines.parse_iso(due), ctx.now,
                                      head)


@handler("escalate_late_work")
def escalate_late_work(ctx: HandlerContext, stage: str, unit: str, task: str, to: str, reason: str) -> dict[str, Any]:
    """Past the second limit the late ``unit``'s work goes up to the unit ``to`` (a dispatched case
    back to the platform's triage). The diagram's interrupting timer has withdrawn the late task and
    its 督办 task; this records a ``taken_back`` event (the inbox sync transfers the ledger entry)."""
    return deadlines.take_back(ctx.session, ctx.case, stage, unit_by_code(ctx.session, unit), task,
                               unit_by_code(ctx.session, to), reason, ctx.actor, ctx.now)


@handler("schedule_retry", times=deadlines.RETRY_MOMENTS)
def schedule_retry(ctx: HandlerContext, stage: str, attempts: int, note: str | None = None) -> dict[str, Any]:
    """Work that could not be done this time (回访未接通): when it comes back (working hours from
    calendar.yaml's ``retries``), or, after the configured number of attempts, that it is given up."""
    retry = deadlines.load_rules().retries.get(stage)
    if retry is None:
        raise HandlerError(f"stage '{stage}' has no retry rule",
                           {"stage": "add it to calendar.yaml's deadlines: retries"})
    return deadlines.schedule_retry(ctx.session, ctx.case, stage, retry, attempts, note or "", ctx.actor, ctx.now)
