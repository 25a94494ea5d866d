"""The inbox: tasks for the roles a user holds in their units; claim, assign, complete."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, contains_eager, joinedload
from sqlalchemy.sql.elements import ColumnElement

from app.attachments.service import check_form_attachments
from app.definitions.versions import bundle_of
from app.models import Case, Task, Unit, User
from app.services import clock, deadlines, journal, workflow
from app.services.auth import Principal, users_holding
from app.services.cases import can_see, describe, task_summary
from app.services.catalogue import load_catalogue
from app.services.errors import Conflict, Forbidden, Invalid, NotFound
from app.services.locality import load_locality
from app.services.validation import valid_id, validate


@dataclass
class InboxFilter:
    task_type: str | None = None
    level: str | None = None
    category: str | None = None
    overdue: bool = False
    mine: bool = False
    page: int = 1
    per_page: int = 20

    @classmethod
    def from_query(cls, args: Mapping[str, str], *, overdue: bool, mine: bool, page: int, per_page: int) -> InboxFilter:
        """The filter a query string asks for; the caller has read the flags and numbers its own way
        (the API refuses bad ones with 422, the pages fall back to defaults)."""
        return cls(
            task_type=args.get("task_type") or None, level=args.get("level") or None,
            category=args.get("category") or None, overdue=overdue, mine=mine, page=page, per_page=per_page,
        )


def inbox(session: Session, principal: Principal, flt: InboxFilter) -> dict[str, Any]:
    base = _actionable(principal)
    query = select(Task).join(Case, Task.case_id == Case.id).where(Task.status == "open", base)
    if flt.task_type:
        query = query.where(Task.task_type == flt.task_type)
    if flt.level:
        query = query.where(Case.level == flt.level)
    if flt.category:
        query = query.where(Case.category == flt.category)
    if flt.overdue:
        query = query.where(Task.due_at < clock.now())
    if flt.mine:
        query = query.where(Task.assignee_id == principal.user.id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.options(contains_eager(Task.case), joinedload(Task.assignee))
        .order_by(Task.due_at.is_(None), Task.due_at, Task.id)
        .offset((flt.page - 1) * flt.per_page)
        .limit(flt.per_page)
    ).all()
    counts = session.execute(
        select(Task.task_type, func.count()).where(Task.status == "open", base).group_by(Task.task_type)
    ).all()
    units = _units(session, {r.unit_id for r in rows})
    supervised = deadlines.supervised_work(session, list(rows), clock.now())
    return {
        "items": [_inbox_item(row, units, supervised.get(row.id)) for row in rows],
        "total": total,
        "page": flt.page,
        "per_page": flt.per_page,
        "counts": {task_type: n for task_type, n in counts},
    }


def task_detail(session: Session, principal: Principal, task_id: int) -> dict[str, Any]:
    task = _visible_task(session, principal, task_id)
    bundle = bundle_of(session, task.case.process_version_id)
    detail = task_summary(task, _units(session, {task.unit_id}))
    detail["form_schema"] = bundle.form(task.form) if task.form else None
    detail["can_complete"] = task.status == "open" and principal.holds(task.role, task.unit_id)
    detail["case"] = describe(session, task.case, principal)
    detail["supervision"] = deadlines.supervised_work(session, [task], clock.now()).get(task.id)  # 督办事项
    return detail


def claim(session: Session, principal: Principal, task_id: int) -> Task:
    task = _actionable_task(session, principal, task_id)
    if task.assignee_id not in (None, principal.user.id):
        raise Conflict(f"task {task_id} is already claimed by {task.assignee.username}")
    if task.assignee_id is None:  # claiming one's own task again records nothing
        task.assignee_id = principal.user.id
        _touch(session, task, "task_claimed", principal.user)
    return task


def unclaim(session: Session, principal: Principal, task_id: int) -> Task:
    """The assignee gives a task back; a head of the unit may take it back from anyone."""
    task = _open_visible_task(session, principal, task_id)
    if task.assignee_id != principal.user.id and not may_assign(principal, task):
        if not principal.holds(task.role, task.unit_id):
            raise Forbidden(f"task {task_id} is for role {task.role} of another unit or role")
        if task.assignee_id is not None:
            raise Forbidden(f"task {task_id} is claimed by someone else")
    if task.assignee_id is not None:
        task.assignee_id = None
        _touch(session, task, "task_unclaimed", principal.user)
    return task


def assign(session: Session, principal: Principal, task_id: int, username: Any) -> Task:
    task = _open_visible_task(session, principal, task_id)
    if not (principal.holds(task.role, task.unit_id) or may_assign(principal, task)):
        raise Forbidden("you cannot assign tasks of this role in this unit")
    if task.assignee_id not in (None, principal.user.id) and not may_assign(principal, task):
        raise Conflict(f"task {task_id} is already claimed by {task.assignee.username}")
    if not isinstance(username, str):
        raise Invalid("username is required", {"username": "required"})
    target = session.scalar(select(User).where(User.username == username))
    if target is None or target not in users_holding(session, task.role, task.unit_id):
        raise Invalid(f"'{username}' does not hold role {task.role} in this unit", {"username": "not eligible"})
    task.assignee_id = target.id
    _touch(session, task, "task_assigned", principal.user, {"assignee": target.username})
    return task


def complete(session: Session, principal: Principal, task_id: int, form: Any) -> dict[str, Any]:
    task = _actionable_task(session, principal, task_id)
    if task.assignee_id not in (None, principal.user.id):
        raise Conflict(f"task {task_id} is claimed by {task.assignee.username}")
    bundle = bundle_of(session, task.case.process_version_id)
    if task.form:
        with workflow.case_configuration(session, task.case):  # the levels and matters of the case's version
            choices = widget_choices(bundle.form(task.form))
        data = validate(bundle.validator(task.form), form, choices)
    else:
        data = validate_object(form)
    if task.form:
        check_form_attachments(session, task.case_id, bundle.form(task.form), data)
    workflow.complete(session, task, data, principal.user)
    return {"task": task.id, "status": task.status, "case": task.case_id}


def widget_choices(schema: dict[str, Any]) -> dict[str, set[str]]:
    """The allowed values of a form's pickers that the configuration fills (whistle levels, matters)."""
    sources = {"whistle_level": lambda: set(load_locality().levels), "matter": lambda: set(load_catalogue().matters)}
    return {name: sources[prop["x-widget"]]() for name, prop in schema.get("properties", {}).items()
            if isinstance(prop, dict) and prop.get("x-widget") in sources and prop.get("type") == "string"}


def validate_object(form: Any) -> dict[str, Any]:
    if not isinstance(form, dict):
        raise Invalid("the form must be a JSON object", {"": "expected a JSON object"})
    return form


def _actionable(principal: Principal) -> ColumnElement[bool]:
    pairs = [and_(Task.role == role, Task.unit_id == unit_id) for role, unit_id in principal.assignments]
    return or_(*pairs) if pairs else Task.id.is_(None)


def _visible_task(session: Session, principal: Principal, task_id: int) -> Task:
    # The task and its case in one statement: what the caller checks on the task (open, whom it is
    # claimed by) and the case version its change is checked against come from the same moment, so
    # of two racing claims, assigns or completions one wins and the other gets 409.
    query = select(Task).options(joinedload(Task.case)).where(Task.id == task_id)
    task = session.scalar(query) if valid_id(task_id) else None
    # holding the task's role in its unit already proves the case is visible: skip the query
    if task is None or not (principal.holds(task.role, task.unit_id) or can_see(session, principal, task.case)):
        raise NotFound(f"task {task_id} not found")  # the same answer whether it exists or not
    return task


def _open_visible_task(session: Session, principal: Principal, task_id: int) -> Task:
    task = _visible_task(session, principal, task_id)
    if task.status != "open":
        raise Conflict(f"task {task_id} is already {task.status}")
    return task


def _actionable_task(session: Session, principal: Principal, task_id: int) -> Task:
    task = _open_visible_task(session, principal, task_id)
    if not principal.holds(task.role, task.unit_id):
        raise Forbidden(f"task {task_id} is for role {task.role} of another unit or role")
    return task


def may_assign(principal: Principal, task: Task) -> bool:
    """Heads of the task's unit (the roles that ``assign`` in the locality model) hand its tasks
    to anyone holding the task's role there, besides holders of that role."""
    return principal.can("assign", task.unit_id)


def _touch(session: Session, task: Task, event: str, actor: User, data: dict[str, Any] | None = None) -> None:
    case = task.case
    workflow.begin_step(case)
    case.updated_at = clock.now()
    # Take the case version now, before the event is appended: of racing claims, assigns and
    # completions the first to write wins and every other gets 409 here, with nothing recorded.
    session.flush()
    journal.record_event(
        session, case, event, actor, role=task.role, unit_id=task.unit_id, data={"task_id": task.id, **(data or {})}
    )


def _units(session: Session, ids: set[int]) -> dict[int, Unit]:
    return {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(ids)))} if ids else {}


def _inbox_item(task: Task, units: dict[int, Unit], supervised: dict[str, Any] | None) -> dict[str, Any]:
    item = task_summary(task, units)
    case = task.case
    item.update(
        case_id=case.id, case_number=case.number, case_title=case.title,
        level=case.level, category=case.category, urgent=case.urgent, supervision=supervised,
    )
    return item
