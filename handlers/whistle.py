"""Handlers of the whistle (吹哨): its units, report-in, evaluation, escalation."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.models import Evaluation, ReportIn, Task
from app.services import workflow
from app.services.org import WHISTLE_LEVELS, ancestor_of_kind, unit_by_code

from . import HandlerContext, HandlerError, handler

SCORES = ("efficiency", "cooperation", "professionalism", "responsibility")


@handler("whistle_units")
def whistle_units(ctx: HandlerContext, level: str) -> dict[str, Any]:
    """The whistling unit at a level, where it files (备案) and who verifies (核查)."""
    if level not in WHISTLE_LEVELS:
        raise HandlerError(f"unknown whistle level '{level}'", {"level": "community, street or district"})
    whistle = ancestor_of_kind(ctx.case.grid, level)
    district = ancestor_of_kind(ctx.case.grid, "district")
    if whistle is None or district is None:
        raise HandlerError(f"the case's grid has no {level} above it", {"level": "no such unit"})
    above = whistle.parent or whistle
    ctx.case.whistle_unit_id = whistle.id
    workflow.record_event(ctx.session, ctx.case, "whistle_started", ctx.actor, unit_id=whistle.id,
                          data={"level": level, "whistle_unit": whistle.code})
    return {"whistle": whistle.code, "filing": above.code, "verifier": above.code, "district": district.code}


@handler("record_report_in")
def record_report_in(ctx: HandlerContext, department: str, duty: str) -> dict[str, Any]:
    """报到: the department checked in; on time if before its report-in task's deadline."""
    unit = unit_by_code(ctx.session, department, "department", kind="department")
    task = ctx.session.scalar(
        select(Task).where(Task.case_id == ctx.case.id, Task.task_type == "report_in", Task.unit_id == unit.id)
        .order_by(Task.id.desc()).limit(1)
    )
    row = ctx.session.scalar(select(ReportIn).where(ReportIn.case_id == ctx.case.id, ReportIn.department_id == unit.id))
    if row is None:
        row = ReportIn(case_id=ctx.case.id, department_id=unit.id, duty=duty,
                       summoned_at=task.created_at if task else ctx.now, due_at=task.due_at if task else None)
        ctx.session.add(row)
    row.reported_at = ctx.now
    row.on_time = row.due_at is None or ctx.now <= row.due_at
    workflow.record_event(ctx.session, ctx.case, "reported_in", ctx.actor, role="dept_staff", unit_id=unit.id,
                          data={"department": department, "duty": duty, "on_time": row.on_time})
    return {"on_time": row.on_time}


@handler("record_evaluation")
def record_evaluation(
    ctx: HandlerContext,
    department: str,
    efficiency: int,
    cooperation: int,
    professionalism: int,
    responsibility: int,
    comment: str | None = None,
) -> dict[str, Any]:
    """一哨一考: the whistling unit's rating of one department on this whistle."""
    unit = unit_by_code(ctx.session, department, "department", kind="department")
    scores = dict(zip(SCORES, (efficiency, cooperation, professionalism, responsibility), strict=True))
    bad = {k: "must be an integer 1–5" for k, v in scores.items() if not isinstance(v, int) or not 1 <= v <= 5}
    if bad:
        raise HandlerError("ratings must be integers from 1 to 5", bad)
    row = ctx.session.scalar(
        select(Evaluation).where(Evaluation.case_id == ctx.case.id, Evaluation.department_id == unit.id)
    ) or Evaluation(case_id=ctx.case.id, department_id=unit.id)
    for key, value in scores.items():
        setattr(row, key, value)
    row.score = round(sum(scores.values()) / len(scores), 2)
    row.comment = comment or ""
    row.rated_by_id = ctx.actor.id if ctx.actor else None
    row.created_at = ctx.now
    ctx.session.add(row)
    workflow.record_event(ctx.session, ctx.case, "evaluated", ctx.actor, unit_id=unit.id,
                          data={"department": department, **scores, "score": row.score})
    return {"score": row.score}


@handler("escalate_whistle")
def escalate_whistle(ctx: HandlerContext, level: str, reason: str | None = None) -> dict[str, Any]:
    """社呼街应、街呼市应: open a linked whistle one level up."""
    from app.services.cases import start_escalated_whistle

    new_case = start_escalated_whistle(ctx.session, ctx.case, level, reason or "", ctx.actor)
    workflow.record_event(ctx.session, ctx.case, "escalated", ctx.actor,
                          data={"level": level, "reason": reason or "", "new_case": new_case.number})
    return {"case_number": new_case.number, "case_id": new_case.id}
