"""The inbox: tasks for the roles a user holds in their units; claim, assign, complete."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, tuple_, union_all
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.sql.elements import ColumnElement

from app.attachments.service import check_form_attachments
from app.definitions.versions import bundle_of
from app.models import Case, Task, Unit, User
from app.services import clock, deadlines, journal, workflow
from app.services.auth import Principal, users_holding
from app.services.case_list import COUNT_CAP
from app.services.cases import can_see, describe, task_summary
from app.services.catalogue import load_catalogue
from app.services.errors import Conflict, Forbidden, Invalid, NotFound
from app.services.locality import load_locality
from app.services.validation import valid_id, validate


@dataclass(frozen=True)
class Cursor:
    """A place in the inbox order (deadline, nulls last, then id): the row a page starts after or
    ends before (keyset paging: a deep page costs what the first does, and nothing is skipped or
    repeated when tasks arrive or leave between pages)."""

    due_at: datetime | None
    id: int

    def token(self) -> str:
        return f"{self.due_at.isoformat() if self.due_at else ''}~{self.id}"

    @classmethod
    def parse(cls, name: str, raw: str | None) -> Cursor | None:
        if not raw:
            return None
        due, sep, ident = raw.partition("~")
        try:
            if sep and ident.isdigit() and len(raw) <= 64:
                return cls(datetime.fromisoformat(due) if due else None, int(ident))
        except ValueError:
            pass
        raise Invalid(f"'{name}' must be a cursor given by a previous page", {name: "not a page cursor"})


@dataclass
class InboxFilter:
    task_type: str | None = None
    level: str | None = None
    category: str | None = None
    overdue: bool = False
    mine: bool = False
    page: int = 1
    per_page: int = 20
    after: Cursor | None = None  # the page after this row (下一页)
    before: Cursor | None = None  # the page before this row (上一页)
    last: bool = False  # the last page (末页)

    @classmethod
    def from_query(cls, args: Mapping[str, str], *, overdue: bool, mine: bool, page: int, per_page: int) -> InboxFilter:
        """The filter a query string asks for; the caller has read the flags and numbers its own way
        (the API refuses bad ones with 422, the pages fall back to defaults). A bad cursor is Invalid."""
        return cls(
            task_type=args.get("task_type") or None, level=args.get("level") or None,
            category=args.get("category") or None, overdue=overdue, mine=mine, page=page, per_page=per_page,
            after=Cursor.parse("after", args.get("after")), before=Cursor.parse("before", args.get("before")),
            last=args.get("last") in ("1", "true", "on"),
        )

    @property
    def backwards(self) -> bool:
        return self.before is not None or (self.last and self.after is None)


# COUNT_CAP: an inbox total or a group count past it reads "999+" (counting 77,000 open tasks costs more
# than the page they head, issue 17)
def inbox(session: Session, principal: Principal, flt: InboxFilter) -> dict[str, Any]:
    """One page of the user's open tasks in deadline order, the (capped) total that match and the
    (capped) count per task type. Every statement reads index entries of the user's own (role, unit)
    pairs only, in index order, and stops at the rows it needs."""
    ids, more = _page_ids(session, principal, flt)
    rows = _tasks_by_id(session, ids)
    total = _capped_count(session, principal, flt)
    units = _units(session, {r.unit_id for r in rows})
    supervised = deadlines.supervised_work(session, rows, clock.now())
    first, last = (_cursor(rows[0]), _cursor(rows[-1])) if rows else (None, None)
    if flt.backwards:
        after, before = (last if flt.before else None), (first if more else None)
    else:
        after, before = (last if more else None), (first if flt.after or flt.page > 1 else None)
    return {
        "items": [_inbox_item(row, units, supervised.get(row.id)) for row in rows],
        "total": min(total, COUNT_CAP), "total_capped": total > COUNT_CAP,
        "page": flt.page, "per_page": flt.per_page,
        "next_after": after.token() if after else None, "prev_before": before.token() if before else None,
        "counts": _type_counts(session, principal), "count_cap": COUNT_CAP,
    }


def _cursor(task: Task) -> Cursor:
    return Cursor(task.due_at, task.id)


def _page_ids(session: Session, principal: Principal, flt: InboxFilter) -> tuple[list[int], bool]:
    """The ids of the page in inbox order, and whether more rows lie beyond it (after it going
    forwards, before it going backwards). A page number is an offset into the same order."""
    cursor = flt.before if flt.backwards else flt.after
    skip = 0 if cursor or flt.backwards else (flt.page - 1) * flt.per_page
    want = skip + flt.per_page + 1
    parts = [part.limit(want).subquery() for role, unit_id in principal.assignments
             for part in _slices(flt, principal.user.id, role, unit_id, cursor)]
    if not parts:
        return [], False
    merged = union_all(*[select(p.c.id, p.c.due_at) for p in parts]).subquery()
    found = session.execute(select(merged.c.id).order_by(*_order(merged.c.due_at, merged.c.id, flt.backwards))
                            .offset(skip).limit(flt.per_page + 1)).scalars().all()
    ids, more = list(found[:flt.per_page]), len(found) > flt.per_page
    return (ids[::-1] if flt.backwards else ids), more


def _slices(flt: InboxFilter, user_id: int, role: str, unit_id: int, cursor: Cursor | None) -> list[Select[Any]]:
    """The open tasks of one (role, unit) past the cursor, in (backwards) inbox order: those with a
    deadline and those without (they come last), each a range of one index: a row comparison, not
    an OR, so the database seeks to the cursor instead of reading up to it."""
    base = _matching(select(Task.id, Task.due_at), flt, user_id).where(Task.role == role, Task.unit_id == unit_id)
    dated, undated = base.where(Task.due_at.is_not(None)), base.where(Task.due_at.is_(None))
    if cursor is None:
        parts = [dated, undated]
    elif cursor.due_at is None:
        parts = [dated, undated.where(Task.id < cursor.id)] if flt.backwards else [undated.where(Task.id > cursor.id)]
    elif flt.backwards:
        parts = [dated.where(tuple_(Task.due_at, Task.id) < (cursor.due_at, cursor.id))]
    else:
        parts = [dated.where(tuple_(Task.due_at, Task.id) > (cursor.due_at, cursor.id)), undated]
    return [p.order_by(*_order(Task.due_at, Task.id, flt.backwards)) for p in parts]


def _order(due: Any, ident: Any, backwards: bool) -> tuple[Any, ...]:
    return (due.desc().nulls_first(), ident.desc()) if backwards else (due.asc().nulls_last(), ident.asc())


def _matching(query: Select[Any], flt: InboxFilter, user_id: int) -> Select[Any]:
    """The filter's conditions on open tasks (and their cases, for the level and the category)."""
    query = query.where(Task.status == "open")
    if flt.task_type:
        query = query.where(Task.task_type == flt.task_type)
    if flt.level or flt.category:
        query = query.join(Case, Case.id == Task.case_id)
        query = query.where(Case.level == flt.level) if flt.level else query
        query = query.where(Case.category == flt.category) if flt.category else query
    if flt.overdue:
        query = query.where(Task.due_at < clock.now())
    if flt.mine:
        query = query.where(Task.assignee_id == user_id)
    return query


def _tasks_by_id(session: Session, ids: list[int]) -> list[Task]:
    """The page's tasks with their cases and assignees, in the order of ``ids``."""
    if not ids:
        return []
    found = session.scalars(select(Task).options(joinedload(Task.case), joinedload(Task.assignee))
                            .where(Task.id.in_(ids))).unique().all()
    by_id = {task.id: task for task in found}
    return [by_id[i] for i in ids]


def _capped_count(session: Session, principal: Principal, flt: InboxFilter) -> int:
    """How many open tasks match, counted up to COUNT_CAP + 1 (then it is "more than the cap")."""
    parts = [_matching(select(Task.id), flt, principal.user.id).where(Task.role == role, Task.unit_id == unit_id)
             .limit(COUNT_CAP + 1).subquery() for role, unit_id in principal.assignments]
    if not parts:
        return 0
    return int(session.scalar(select(func.count()).select_from(union_all(*[select(p.c.id) for p in parts])
                                                               .subquery())) or 0)


def _type_counts(session: Session, principal: Principal) -> dict[str, int]:
    """Open tasks per task type, each capped at COUNT_CAP + 1, in one statement for all the user's
    (role, unit) pairs: per pair, its types found by skipping through the index (a recursive query
    jumping from one type to the next), each counted up to the cap."""
    parts = [_capped_type_counts(n, (Task.status == "open", Task.role == role, Task.unit_id == unit_id))
             for n, (role, unit_id) in enumerate(principal.assignments)]
    counts: dict[str, int] = {}
    if not parts:
        return counts
    for task_type, n in session.execute(union_all(*parts)):
        counts[task_type] = min(counts.get(task_type, 0) + int(n), COUNT_CAP + 1)
    return counts


def _capped_type_counts(n: int, where: tuple[ColumnElement[bool], ...]) -> Select[Any]:
    """(type, capped count) of the rows ``where`` selects: one probe per type instead of a read per task."""
    types = select(func.min(Task.task_type).label("t")).where(*where).cte(f"types{n}", recursive=True)
    following = select(func.min(Task.task_type)).where(*where, Task.task_type > types.c.t).scalar_subquery()
    types = types.union_all(select(following).where(types.c.t.is_not(None)))
    capped = select(func.count()).select_from(
        select(Task.id).where(*where, Task.task_type == types.c.t).limit(COUNT_CAP + 1).subquery()
    ).scalar_subquery()
    return select(types.c.t, capped).where(types.c.t.is_not(None))


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
    task = actionable_task(session, principal, task_id)
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


def actionable_task(session: Session, principal: Principal, task_id: int) -> Task:
    """The open task if this user may act on it instead of completing it (a report merged at
    triage): 404 unseen, 409 done or claimed by another, 403 another role's."""
    task = _actionable_task(session, principal, task_id)
    if task.assignee_id not in (None, principal.user.id):
        raise Conflict(f"task {task_id} is claimed by {task.assignee.username}")
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
