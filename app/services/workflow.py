"""Advancing a case's process: start, complete a task, then save state, inbox rows and events.

Every call here runs inside the caller's unit of work. The sequence per step is always
load → run (timers, task, engine steps) → save state → sync inbox rows → append events, and the
case's version column makes a concurrent or repeated step fail with a conflict instead of being
applied twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.engine import Instance, ProcessError, ProcessScriptEngine, TaskNotOpen
from app.models import Case, CaseUnit, Event, Task, Unit, User
from app.services import clock
from app.services.catalogue import load_catalogue
from app.services.errors import Conflict, Invalid, ServiceError
from app.services.processes import bundle_of
from handlers import HANDLERS, HandlerContext, HandlerError

_script_engine: ProcessScriptEngine | None = None

# Case columns kept in step with the process data, so cases can be queried without the engine.
PROJECTED = ("grade", "level", "matter", "urgent", "rework_count", "return_count")


def script_engine() -> ProcessScriptEngine:
    global _script_engine
    if _script_engine is None:
        _script_engine = ProcessScriptEngine(HANDLERS)
    return _script_engine


def begin_step(case: Case) -> None:
    """One step, one new version: every UPDATE of the step checks the old one (409 on a race),
    and the step's events name the version the case has after it."""
    case.version += 1


def start(session: Session, case: Case, data: dict[str, Any], actor: User | None) -> Instance:
    bundle = bundle_of(session, case.process_version_id)
    instance = Instance.start(bundle, case.process_id, data, script_engine())
    _run(session, case, actor, lambda ctx: instance.advance(ctx))
    save(session, case, instance, actor)
    return instance


def load(session: Session, case: Case) -> Instance:
    bundle = bundle_of(session, case.process_version_id)
    return Instance.load(bundle, case.process_id, case.state, case.serializer_version, script_engine())


def complete(session: Session, task: Task, form: dict[str, Any], actor: User | None) -> Instance:
    """Complete a task; ``actor`` is None for the reporter answering on the public tracking page."""
    case = task.case
    begin_step(case)
    instance = load(session, case)
    task.status = "completed"
    task.completed_at = clock.now()
    task.completed_by_id = actor.id if actor is not None else None
    record_event(
        session, case, "task_completed", actor, role=task.role, unit_id=task.unit_id,
        data={"task": task.task_type, "task_id": task.id, "form": form},
    )
    _run(session, case, actor, lambda ctx: instance.complete(task.engine_task_id, form, ctx))
    save(session, case, instance, actor)
    return instance


def save(session: Session, case: Case, instance: Instance, actor: User | None) -> None:
    """Store the engine state and bring the inbox rows and queryable columns in step with it."""
    case.state, case.serializer_version = instance.dump()
    now = clock.now()
    case.updated_at = now
    ready_ids = instance.ready_task_ids()
    _project(case, instance, ready_ids)
    _sync_inbox(session, case, instance, ready_ids, actor, now)
    session.flush()


def record_event(
    session: Session,
    case: Case | None,
    type_: str,
    actor: User | None,
    *,
    role: str | None = None,
    unit_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> Event:
    seq = 0
    if case is not None:
        seq = case.event_count = (case.event_count or 0) + 1
    event = Event(
        case_id=case.id if case is not None else None,
        seq=seq,
        type=type_,
        actor_id=actor.id if actor is not None else None,
        actor=actor.username if actor is not None else "system",
        role=role,
        unit_id=unit_id,
        process_version_id=case.process_version_id if case is not None else None,
        state_version=case.version if case is not None else None,
        data=data or {},
        created_at=clock.now(),
    )
    session.add(event)
    return event


def link_unit(session: Session, case: Case, unit_id: int) -> None:
    """Make a case visible through a unit (and so to the units above it)."""
    exists = session.scalar(select(CaseUnit.id).where(CaseUnit.case_id == case.id, CaseUnit.unit_id == unit_id))
    if exists is None:
        session.add(CaseUnit(case_id=case.id, unit_id=unit_id))


def _run(session: Session, case: Case, actor: User | None, work: Any) -> None:
    context = HandlerContext(session=session, case=case, actor=actor, now=clock.now())
    try:
        work(context)
    except TaskNotOpen as exc:
        raise Conflict(f"{exc}: it was completed or withdrawn in the meantime") from exc
    except ProcessError as exc:
        cause = exc.cause
        if isinstance(cause, HandlerError):
            raise Invalid(cause.message, cause.fields) from exc
        if isinstance(cause, (ServiceError, SQLAlchemyError)):
            raise cause from exc  # a lost race on the case version (409) or a database error
        raise ProcessFailure(str(exc)) from exc


class ProcessFailure(ServiceError):
    """The process definition could not advance (a script or condition failed): nothing was changed."""

    status = 500
    error = "process_error"


def _project(case: Case, instance: Instance, ready_ids: list[str]) -> None:
    data = instance.task_data(ready_ids[0]) if ready_ids and not instance.completed else instance.data
    for key in PROJECTED:
        if data.get(key) is not None:
            setattr(case, key, data[key])
    matter = load_catalogue().matter(case.matter) if case.matter else None
    case.category = matter.klass if matter else case.category


def _sync_inbox(
    session: Session, case: Case, instance: Instance, ready_ids: list[str], actor: User | None, now: datetime
) -> None:
    """Inbox rows = the READY human tasks: new ones get a row, rows of tasks gone are cancelled."""
    open_rows = {
        row.engine_task_id: row
        for row in session.scalars(select(Task).where(Task.case_id == case.id, Task.status == "open"))
    }
    for engine_id, row in open_rows.items():
        if engine_id not in ready_ids:
            row.status = "cancelled"
            row.completed_at = now
    try:
        new = [instance.describe(task_id) for task_id in ready_ids if task_id not in open_rows]
    except ProcessError as exc:  # a task's unit or deadline expression failed: the diagram is at fault
        raise ProcessFailure(str(exc)) from exc
    units = _units_by_code(session, {t.unit for t in new})
    linked = set(session.scalars(select(CaseUnit.unit_id).where(CaseUnit.case_id == case.id)))
    for item in new:
        unit = units.get(item.unit)
        if unit is None:
            raise ProcessFailure(f"task '{item.name}' belongs to unknown unit '{item.unit}'")
        row = Task(
            case_id=case.id, engine_task_id=item.id, task_type=item.name, title=item.title, stage=item.stage,
            role=item.role, unit_id=unit.id, form=item.form, context=item.context, status="open",
            due_at=now + timedelta(hours=item.due_hours) if item.due_hours is not None else None, created_at=now,
        )
        session.add(row)
        open_rows[item.id] = row
        if unit.id not in linked:
            session.add(CaseUnit(case_id=case.id, unit_id=unit.id))
            linked.add(unit.id)
        record_event(
            session, case, "task_ready", actor, role=item.role, unit_id=unit.id,
            data={"task": item.name, "title": item.title, "engine_task_id": item.id},
        )
    current = [row for engine_id, row in open_rows.items() if engine_id in ready_ids]
    case.current_step = ",".join(sorted({row.task_type for row in current}))[:255]
    case.due_at = min((row.due_at for row in current if row.due_at), default=None)


def _units_by_code(session: Session, codes: set[str]) -> dict[str, Unit]:
    if not codes:
        return {}
    return {u.code: u for u in session.scalars(select(Unit).where(Unit.code.in_(codes)))}
