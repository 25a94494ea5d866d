"""Handlers of the whistle (吹哨): its units, report-in, evaluation, escalation."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.models import Evaluation, ReportIn, Unit
from app.services import journal
from app.services.cases import start_escalated_whistle
from app.services.errors import Invalid
from app.services.locality import load_locality
from app.services.org import nearest_of_kind
from app.services.record_keys import RESPONDING_UNIT
from app.services.validation import has_visible_text

from . import HandlerContext, HandlerError, handler, unit_that

SCORES = ("efficiency", "cooperation", "professionalism", "responsibility")


@handler("whistle_units")
def whistle_units(ctx: HandlerContext, level: str) -> dict[str, Any]:
    """The whistling unit at a level, where it files (备案) and who verifies (核查), as the locality
    model's whistle level says: the units of those kinds on the case's path; and the level's review
    chain (审核链), the roles that review the materials in order before the secretary approves."""
    levels = load_locality().levels
    if level not in levels:
        raise HandlerError(f"unknown whistle level '{level}'", {"level": f"one of {', '.join(levels)}"})
    spec = levels[level]
    whistle = _on_path(ctx, spec.blown_by, level)
    verifier = _on_path(ctx, spec.verified_by, level)
    filing = _on_path(ctx, spec.filed_with, level) if spec.filed_with else verifier
    ctx.case.whistle_unit_id = whistle.id
    return {"whistle": whistle.code, "filing": filing.code, "verifier": verifier.code,
            "review_chain": list(spec.review_chain)}


@handler("record_whistle_started")
def record_whistle_started(ctx: HandlerContext, summoned: list[dict[str, Any]]) -> dict[str, Any]:
    """吹哨: the head of the whistling unit approved; the whistle blows to the summoned departments.
    Recorded here, not when the level is resolved at triage: until now the whistle was under review."""
    unit = ctx.case.whistle_unit
    codes = [d["code"] for d in summoned]
    journal.record_event(ctx.session, ctx.case, "whistle_started", ctx.actor,
                          role=ctx.task.role if ctx.task else None, unit_id=unit.id if unit else None,
                          data={"level": ctx.case.level, "whistle_unit": unit.code if unit else None,
                                "departments": codes})
    return {"at": ctx.now.isoformat(timespec="seconds") + "Z", "departments": codes}


def _on_path(ctx: HandlerContext, kind: str, level: str) -> Unit:
    unit = nearest_of_kind(ctx.session, ctx.case.place, kind)
    if unit is None:
        raise HandlerError(f"the case's place has no unit of kind '{kind}' above or beside it for a '{level}' whistle",
                           {"level": "no such unit"})
    return unit


@handler("adjust_departments")
def adjust_departments(
    ctx: HandlerContext,
    proposed: list[dict[str, Any]],
    add: list[str] | None = None,
    remove: list[str] | None = None,
    reason: str | None = None,
) -> list[dict[str, Any]]:
    """The staff preparing the whistle add or remove a summoned department (with a reason) before the
    review chain sees the list; the catalogue's lead stays (change the matter to change the lead)."""
    departments = proposed
    codes = [d["code"] for d in departments]
    added = [code for code in dict.fromkeys(add or []) if code not in codes]
    removed = [code for code in dict.fromkeys(remove or []) if code in codes]
    if not added and not removed:
        return departments
    if not (reason or "").strip():
        raise HandlerError("a reason is required to add or remove a department",
                           {"department_change_reason": "required"})
    if any(d["code"] in removed and d["duty"] == "lead" for d in departments):
        raise HandlerError("the lead department cannot be removed", {"remove_departments": "not the lead"})
    try:
        units = [unit_that(ctx, code, "summoned") for code in added]
    except (HandlerError, Invalid) as exc:
        raise HandlerError(exc.message, {"add_departments": "cannot be summoned"}) from exc
    result = [d for d in departments if d["code"] not in removed]
    result += [{"code": u.code, "name": u.name, "duty": "cooperating"} for u in units]
    journal.record_event(ctx.session, ctx.case, "departments_adjusted", ctx.actor,
                          role=ctx.task.role if ctx.task else None, unit_id=ctx.task.unit_id if ctx.task else None,
                          data={"added": added, "removed": removed, "reason": reason,
                                "departments": [d["code"] for d in result]})
    return result


@handler("record_report_in")
def record_report_in(ctx: HandlerContext, department: str, duty: str, photos: list[str] | None = None,
                     location: str | None = None) -> dict[str, Any]:
    """报到: the department checked in; on time if before the deadline of the task it completed to
    report in (whatever the diagram calls that task). Photos taken on site and the place (an address
    or "lat,long") are its proof of being there, kept with the event (the form checked the photos
    are files of this case)."""
    unit = unit_that(ctx, department, "summoned")
    task = ctx.task if ctx.task is not None and ctx.task.unit_id == unit.id else None
    row = ctx.session.scalar(select(ReportIn).where(ReportIn.case_id == ctx.case.id, ReportIn.department_id == unit.id))
    if row is None:
        row = ReportIn(case_id=ctx.case.id, department_id=unit.id, duty=duty,
                       summoned_at=task.created_at if task else ctx.now, due_at=task.due_at if task else None)
        ctx.session.add(row)
    row.reported_at = ctx.now
    row.on_time = row.due_at is None or ctx.now <= row.due_at
    journal.record_event(ctx.session, ctx.case, "reported_in", ctx.actor, role=task.role if task else None,
                          unit_id=unit.id,
                          data={RESPONDING_UNIT: department, "duty": duty, "on_time": row.on_time,
                                **_proof(photos, location)})
    return {"on_time": row.on_time}


def _proof(photos: list[str] | None, location: str | None) -> dict[str, Any]:
    """The report-in's proof of presence, only what was given (older events have none)."""
    proof: dict[str, Any] = {}
    if photos:
        proof["photos"] = [str(p) for p in photos]
    if location and location.strip():
        proof["location"] = location.strip()
    return proof


@handler("return_to_department")
def return_to_department(ctx: HandlerContext, department: str, reason: str,
                         summoned: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """退回某部门重办: the lead department sends one summoned department's result back with a reason;
    that department alone handles again (the list the handling runs over), the others' results stand."""
    chosen = [d for d in summoned if d.get("code") == department]
    if not chosen:
        raise HandlerError(f"'{str(department)[:64]}' is not a summoned department",
                           {"return_department": "not a summoned department"})
    if not isinstance(reason, str) or not has_visible_text(reason):
        raise HandlerError("a department is sent back with a reason", {"return_reason": "required"})
    unit = unit_that(ctx, department, "summoned")
    journal.record_event(ctx.session, ctx.case, "department_returned", ctx.actor,
                         role=ctx.task.role if ctx.task else None, unit_id=unit.id,
                         data={RESPONDING_UNIT: department, "reason": reason.strip()})
    return chosen


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
    unit = unit_that(ctx, department, "rated")
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
    journal.record_event(ctx.session, ctx.case, "evaluated", ctx.actor, unit_id=unit.id,
                          data={RESPONDING_UNIT: department, **scores, "score": row.score})
    return {"score": row.score}


@handler("escalate_whistle")
def escalate_whistle(ctx: HandlerContext, level: str, reason: str | None = None) -> dict[str, Any]:
    """社呼街应、街呼市应: open a linked whistle one level up."""
    new_case = start_escalated_whistle(ctx.session, ctx.case, level, reason or "", ctx.actor)
    journal.record_event(ctx.session, ctx.case, "escalated", ctx.actor,
                          data={"level": level, "reason": reason or "", "new_case": new_case.number})
    return {"case_number": new_case.number, "case_id": new_case.id}
