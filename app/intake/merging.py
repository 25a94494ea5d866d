"""Closing a report at triage into an open case: merged into it (并案), or a duplicate of it (重复件).

Only who may complete the report's triage task may do it. The report's process ends without a
diagram path (app/services/workflow.py ``cancel``), the report is closed with the outcome, both
cases' chains record it, and the reporter's tracking page follows the target case from then on.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.intake.duplicates import suggestions
from app.models import Case, CaseMerge, Task
from app.services import clock, tasks, workflow
from app.services.auth import Principal
from app.services.cases import can_see
from app.services.errors import Conflict, Invalid
from app.services.journal import record_event
from app.services.locality import load_locality

# kind → (the event in the closed report's chain, the event in the target's chain)
KINDS = {"merged": ("case_merged", "report_merged_in"), "duplicate": ("marked_duplicate", "duplicate_noted")}
MAX_NOTE = 500


def is_triage(task: Task) -> bool:
    """A task of a stage the locality model says means triage (研判): duplicates are shown there."""
    return task.stage in load_locality().stages_meaning("triage")


def triage_panel(session: Session, principal: Principal, task: Task) -> dict[str, Any] | None:
    """What the triage task page shows beside the form: the likely duplicates of the report, and
    whether this user may close the report into one; None on every other task."""
    if task.status != "open" or not is_triage(task):
        return None
    return {"items": suggestions(session, principal, task.case_id), "kinds": list(KINDS),
            "may_merge": principal.holds(task.role, task.unit_id) and not principal.read_only}


def close_into(session: Session, principal: Principal, task_id: int, form: Any) -> CaseMerge:
    """Close the case of the triage task ``task_id`` into the open case ``form['target']`` (its
    number) as ``form['kind']`` (merged | duplicate), with an optional ``note``."""
    kind, number, note = _checked(form)
    task = tasks.actionable_task(session, principal, task_id)
    if not is_triage(task):
        raise Conflict(f"task {task_id} is not a triage task: only triage merges a report or marks it a duplicate")
    case = task.case
    target = session.scalar(select(Case).where(Case.number == number))
    if target is None or not can_see(session, principal, target):
        raise Invalid(f"no case '{number}' that you can see", {"target": "no such case"})
    if target.id == case.id:
        raise Invalid("a report cannot be merged into itself", {"target": "the report's own case"})
    if target.status != "open":
        raise Invalid(f"case '{number}' is closed: merge only into an open case", {"target": "closed case"})
    own_event, target_event = KINDS[kind]
    actor = principal.user
    workflow.begin_step(target)  # one change of the target at a time, like every other step
    target.updated_at = clock.now()
    record_event(session, target, target_event, actor, role=task.role, unit_id=task.unit_id,
                 data={"case": case.number, "note": note})
    record_event(session, case, own_event, actor, role=task.role, unit_id=task.unit_id,
                 data={"target": target.number, "note": note})
    workflow.cancel(session, case, actor, kind, {"target": target.number})
    merge = CaseMerge(case_id=case.id, target_id=target.id, kind=kind, note=note, merged_by_id=actor.id,
                      merged_at=clock.now())
    session.add(merge)
    session.flush()
    return merge


def _checked(form: Any) -> tuple[str, str, str]:
    if not hasattr(form, "get"):
        raise Invalid("the form must be an object", {"": "expected an object"})
    kind, number, note = form.get("kind"), form.get("target"), form.get("note") or ""
    if kind not in KINDS:
        raise Invalid(f"kind must be one of {sorted(KINDS)}", {"kind": "merged or duplicate"})
    if not isinstance(number, str) or not number.strip():
        raise Invalid("the case to merge into is missing", {"target": "required: a case number"})
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise Invalid(f"the note is text of at most {MAX_NOTE} characters", {"note": f"at most {MAX_NOTE} characters"})
    return kind, number.strip()[:64], note.strip()


def merged_into(session: Session, case: Case) -> CaseMerge | None:
    """How the case was closed into another one, if it was."""
    return session.scalar(select(CaseMerge).where(CaseMerge.case_id == case.id))
