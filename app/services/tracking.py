"""The reporter's side of a case, by tracking code: status, public updates, and their rating.

A reporter sees units and what was done, never the names or phones of staff or other people.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.definitions.versions import bundle_of
from app.models import Case, CaseMerge, Event, Task, Unit
from app.services import workflow
from app.services.cases import whistle_in_review
from app.services.comments import public_comments
from app.services.errors import Conflict, NotFound
from app.services.locality import load_locality
from app.services.validation import validate

# The stage of the call-back task (回访): while it is open, the reporter may rate on the page.
# Milestones a reporter sees; feedback tasks add the text written for them (一对一反馈).
MILESTONES = {
    "case_created", "dispatched", "whistle_started", "reported_in", "escalated", "taken_back",
    "satisfaction", "case_closed", "case_merged", "marked_duplicate",
}
FEEDBACK_FIELD = "feedback"


@dataclass(frozen=True)
class PublicUpdate:
    at: datetime
    kind: str  # an event type above, "feedback" or "comment"
    unit: str | None = None
    text: str | None = None


def case_by_code(session: Session, code: str) -> Case:
    case = session.scalar(select(Case).where(Case.tracking_code == code.strip().upper())) if code else None
    if case is None:
        raise NotFound("no case has this tracking code")
    return case


def followed(session: Session, case: Case, merges: bool = True) -> list[Case]:
    """The reported case and the whistles it was escalated to (社呼街应、街呼市应), oldest first:
    the reporter follows their problem, not one case number. A report merged into another case
    (or closed as its duplicate) follows that case too, unless ``merges`` is False."""
    chain = [case]
    while child := _next(session, chain[-1], merges):
        if child in chain:
            break
        chain.append(child)
    return chain


def _next(session: Session, case: Case, merges: bool) -> Case | None:
    child = session.scalar(select(Case).where(Case.parent_case_id == case.id).order_by(Case.id.desc()).limit(1))
    if child is None and merges:
        child = session.scalar(select(Case).join(CaseMerge, CaseMerge.target_id == Case.id)
                               .where(CaseMerge.case_id == case.id))
    return child


def public_updates(session: Session, case: Case) -> list[PublicUpdate]:
    """Milestones, feedback and public notes of the case and of the whistles it became."""
    units = {unit_id: name for unit_id, name in session.execute(select(Unit.id, Unit.name))}
    chain = followed(session, case)
    ids = [c.id for c in chain]
    updates: list[PublicUpdate] = []
    for event in session.scalars(select(Event).where(Event.case_id.in_(ids)).order_by(Event.created_at, Event.id)):
        unit = units.get(event.unit_id) if event.unit_id else None
        if event.type in MILESTONES:
            # a merge names the case followed now; a 退单 says why
            text = event.data.get("target") or event.data.get("reason")
            updates.append(PublicUpdate(event.created_at, event.type, unit, text))
        elif event.type == "task_completed" and _feedback_text(event.data):
            updates.append(PublicUpdate(event.created_at, "feedback", unit, _feedback_text(event.data)))
    for item in chain:
        updates += [PublicUpdate(c.at, "comment", c.unit_name, c.body) for c in public_comments(session, item)]
    return sorted(updates, key=lambda u: u.at)


def in_review(session: Session, case: Case) -> bool:
    """The reporter is told 吹哨审核中 while the whistle's review chain runs (before it blows)."""
    stages = session.scalars(select(Task.stage).where(Task.case_id == case.id, Task.status == "open")).all()
    return whistle_in_review(case, list(stages))


def rating_task(session: Session, case: Case) -> Task | None:
    """The open call-back task, if the case (or the whistle it became) waits for the reporter's rating:
    not the call-back of a case this one was merged into, which asks that case's reporter."""
    ids = [c.id for c in followed(session, case, merges=False)]
    return session.scalar(
        select(Task).where(Task.case_id.in_(ids), Task.status == "open",
                           Task.stage.in_(load_locality().stages_meaning("rating"))).order_by(Task.id)
    )


def rate(session: Session, code: str, form: Any) -> Case:
    """The reporter's satisfaction (满意/基本满意/不满意) and comment complete the call-back task,
    exactly as the call-back agent's answer would: the process goes on from there."""
    task = rating_task(session, case_by_code(session, code))
    if task is None:
        raise Conflict("this case is not waiting for your rating")
    data = validate(bundle_of(session, task.case.process_version_id).validator(task.form), form)
    workflow.complete(session, task, data, None)
    return task.case


def _feedback_text(data: dict[str, Any]) -> str | None:
    """What the feedback form (反馈群众) told the reporter."""
    form = data.get("form") or {}
    text = form.get(FEEDBACK_FIELD)
    return text if isinstance(text, str) and text else None
