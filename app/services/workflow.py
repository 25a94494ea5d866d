"""Advancing a case's process: start, complete a task, then save state, inbox rows and events.

Every call here runs inside the caller's unit of work. The sequence per step is always
load → run (timers, task, engine steps) → save state → sync inbox rows → append events, and the
case's version column makes a concurrent or repeated step fail with a conflict instead of being
applied twice.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from blinker import signal
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.definitions import configuration
from app.definitions.versions import bundle_of, configuration_of
from app.engine import PRUNE_RULE, Instance, ParsedBundle, ProcessError, ProcessScriptEngine, ServiceCalls, TaskNotOpen
from app.models import Case, CaseUnit, ImportedOrder, ProcessVersion, Task, Timer, Unit, User
from app.services import chain, clock, live, snapshots
from app.services.catalogue import load_catalogue
from app.services.errors import Conflict, Invalid, ServiceError
from app.services.handler_api import HandlerContext, HandlerError, registered
from app.services.journal import record_event
from app.services.locality import load_locality
from app.services.worktime import add_working_hours

_script_engine: ProcessScriptEngine | None = None

# What a step tells the features above it (the 督办 ledger subscribes: app/services/deadlines.py).
# Receivers run inside the step's transaction; what they raise fails the step.
task_completing = signal("task-completing")  # sender: the Task; session, form, actor, task_data, now
task_completed = signal("task-completed")  # sender: the Task, after the step is saved; session, actor, now
tasks_withdrawn = signal("tasks-withdrawn")  # sender: the Case; session, tasks (cancelled rows), actor, now

# Case columns kept in step with the process data, so cases can be queried without the engine.
PROJECTED = ("grade", "level", "matter", "urgent", "rework_count", "return_count")


def script_engine() -> ProcessScriptEngine:
    global _script_engine
    if _script_engine is None:
        _script_engine = ProcessScriptEngine(registered())
    return _script_engine


def begin_step(case: Case) -> None:
    """One step, one new version: every UPDATE of the step checks the old one (409 on a race),
    and the step's events name the version the case has after it."""
    case.version += 1


def claim(session: Session, case: Case) -> None:
    """Begin the step and write the new version at once: of two workers stepping the same case,
    the second waits on the row here and then fails with a conflict (409) before it does any work
    or writes any event (an event's sequence number would clash first, as a 500)."""
    begin_step(case)
    session.flush()


def start(session: Session, case: Case, data: dict[str, Any], actor: User | None) -> Instance:
    with case_configuration(session, case):
        return _start(session, case, data, actor)


def _start(session: Session, case: Case, data: dict[str, Any], actor: User | None) -> Instance:
    bundle = bundle_of(session, case.process_version_id)
    # The run's first event: what replay starts the process with.
    record_event(session, case, "process_started", actor, data={"process": case.process_id, "data": data})
    instance = Instance.start(bundle, case.process_id, data, script_engine())
    now = clock.now()
    _run(session, case, actor, now, lambda ctx, calls: instance.advance(ctx, now, calls, PRUNE_RULE))
    save(session, case, instance, actor, now)
    return instance


def case_configuration(session: Session, case: Case) -> AbstractContextManager[configuration.Configuration]:
    """A step runs with the configuration of the version its case started on (catalogue, calendar,
    locality model), whatever was deployed since."""
    return configuration.activate(configuration_of(session, case.process_version_id))


def load(session: Session, case: Case) -> Instance:
    bundle = bundle_of(session, case.process_version_id)
    return Instance.load(bundle, case.process_id, case.state, case.serializer_version, script_engine())


def _load_to_step(session: Session, case: Case) -> Instance:
    """The case's instance for a step (call before ``begin_step``): this worker's live one if it is
    exactly the stored state (app/services/live.py), else loaded; with the stored state's text, which
    the step's snapshot is compressed against."""
    instance = live.CACHE.take(session, case)
    if instance is None:
        instance = load(session, case)
        instance.stored = case.state
    return instance


def complete(session: Session, task: Task, form: dict[str, Any], actor: User | None) -> Instance:
    """Complete a task; ``actor`` is None for the reporter answering on the public tracking page."""
    with case_configuration(session, task.case):
        return _complete(session, task, form, actor)


def _complete(session: Session, task: Task, form: dict[str, Any], actor: User | None) -> Instance:
    case = task.case
    instance = _load_to_step(session, case)
    claim(session, case)
    task.status = "completed"
    task.completed_at = now = clock.now()
    task.completed_by_id = actor.id if actor is not None else None
    record_event(
        session, case, "task_completed", actor, role=task.role, unit_id=task.unit_id,
        data={"task": task.task_type, "task_id": task.id, "engine_task_id": task.engine_task_id, "form": form},
    )
    outcome = _decision_event(task, form)
    if outcome is not None:
        record_event(session, case, outcome[0], actor, role=task.role, unit_id=task.unit_id, data=outcome[1])

    def run(ctx: HandlerContext, calls: ServiceCalls) -> None:
        task_completing.send(task, session=session, form=form, actor=actor,
                             task_data=instance.task_data(task.engine_task_id), now=now)
        instance.complete(task.engine_task_id, form, ctx, now, calls, PRUNE_RULE)

    _run(session, case, actor, now, run, task)
    save(session, case, instance, actor, now)
    task_completed.send(task, session=session, actor=actor, now=now)
    return instance


def migrate(session: Session, case: Case, target: ProcessVersion, actor: User | None) -> Instance:
    """One step that moves a running case onto another process version: its state is migrated
    (app/engine/migration.py) at this step's moment, the case's version column moves, the step is a
    ``case_migrated`` event in its chain (replay migrates at that step too), and the open inbox rows
    take what the new diagrams say of their tasks. ProcessFailure names why the case cannot move."""
    source = case.process_version
    instance = _load_to_step(session, case)
    claim(session, case)
    now = clock.now()
    move_instance(instance, bundle_of(session, target.id), now)
    case.process_version_id = target.id
    record_event(session, case, "case_migrated", actor, data={
        "from_version": source.version, "from_version_id": source.id, "to_version": target.version,
        "to_version_id": target.id,
    })
    with configuration.activate(configuration_of(session, target.id)):
        _run(session, case, actor, now, lambda ctx, calls: instance.advance(ctx, now, calls, PRUNE_RULE))
        _refresh_open_rows(session, case, instance)
        save(session, case, instance, actor, now)
    return instance


def move_instance(instance: Instance, bundle: ParsedBundle, now: datetime) -> None:
    """Migrate the instance's state onto the bundle (the dry run on a copy, the migration itself);
    ProcessFailure names why it cannot move: the diagrams do not fit its tokens, or the work ahead
    would read data the case lacks (it has passed the step that sets it in the new version). Replay
    repeats a recorded migration without this check: the record says it moved."""
    try:
        instance.migrate(bundle, now)
    except ProcessError as exc:
        raise ProcessFailure(str(exc)) from exc
    missing = instance.missing_data()
    if missing:
        raise ProcessFailure("; ".join(str(each) for each in missing))


def _refresh_open_rows(session: Session, case: Case, instance: Instance) -> None:
    """After a migration a task still waiting may have a new title, stage, form, role or unit."""
    ready = set(instance.ready_task_ids())
    rows = [row for row in session.scalars(select(Task).where(Task.case_id == case.id, Task.status == "open"))
            if row.engine_task_id in ready]
    if not rows:
        return
    limits = stage_limits()
    items = {row.engine_task_id: instance.describe(row.engine_task_id, limits) for row in rows}
    units = _units_by_code(session, {item.unit for item in items.values()})
    for row in rows:
        item = items[row.engine_task_id]
        unit = units.get(item.unit)
        if unit is None:
            raise ProcessFailure(f"task '{item.name}' belongs to unknown unit '{item.unit}'")
        row.role = load_locality().task_role(unit.kind, item.role)
        row.unit_id, row.title, row.stage, row.form = unit.id, task_title(item.title, row.role), item.stage, item.form


def _decision_event(task: Task, form: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The domain meaning of some completions, as an event of its own: a review approved or
    returned (四级审核), a whistle filed (备案)."""
    meaning = load_locality().stage_meanings.get(task.stage)
    if meaning == "review" and form.get("decision") in ("approve", "return"):
        kind = "review_approved" if form["decision"] == "approve" else "review_returned"
        return kind, {"task": task.task_type, "reason": form.get("reason")}
    if meaning == "filing":
        return "whistle_filed", {"task": task.task_type, "filing_no": form.get("filing_no")}
    return None


def cancel(session: Session, case: Case, actor: User | None, outcome: str, data: dict[str, Any]) -> None:
    """End a case's process without a diagram path and close the case with ``outcome`` (a report
    merged into another case, or a duplicate of one): its open tasks and timers are cancelled, the
    step is saved and replayable like any other (``process_cancelled``)."""
    with case_configuration(session, case):
        instance = _load_to_step(session, case)
        claim(session, case)
        now = clock.now()
        record_event(session, case, "process_cancelled", actor, data={"outcome": outcome, **data})
        _run(session, case, actor, now, lambda ctx, calls: instance.cancel(ctx, now))
        case.status, case.outcome, case.closed_at = "closed", outcome, now
        save(session, case, instance, actor, now)
        record_event(session, case, "case_closed", actor, data={"outcome": outcome})


@dataclass
class OpenRows:
    """A case's open inbox rows and waiting timer rows, when the caller has loaded them already
    (the scheduler loads them for a whole batch of cases in two queries)."""

    tasks: list[Task]
    timers: list[Timer]


def fire_timers(session: Session, case: Case, rows: OpenRows | None = None, flush: bool = True) -> Instance:
    """One step that only lets time pass: the timers due now fire (reminder, 督办, escalation ...)."""
    with case_configuration(session, case):
        instance = _load_to_step(session, case)
        if flush:
            claim(session, case)
        else:  # a batch holds its cases' rows locked already
            begin_step(case)
        now = clock.now()
        _run(session, case, None, now, lambda ctx, calls: instance.advance(ctx, now, calls, PRUNE_RULE))
        save(session, case, instance, None, now, rows, flush)
    return instance


def save(
    session: Session, case: Case, instance: Instance, actor: User | None, now: datetime | None = None,
    rows: OpenRows | None = None, flush: bool = True,
) -> None:
    """Store the engine state and bring the inbox rows, the timer table and queryable columns in
    step with it. ``flush=False`` leaves the writes to the caller's next flush (a batch of steps
    written together)."""
    previous = instance.stored
    case.state, case.serializer_version, projected = instance.dump_with_projection()
    instance.stored = case.state
    now = now or clock.now()  # the step's one moment: deadlines set in the run and inbox deadlines agree
    case.updated_at = now
    ready_ids = instance.ready_task_ids()
    with session.no_autoflush:  # one UPDATE of the case per step, at the end
        _project(case, instance, ready_ids)
        _sync_inbox(session, case, instance, ready_ids, actor, now, rows.tasks if rows else None)
        _sync_timers(session, case, instance, now, rows.timers if rows else None)
        _snapshot(session, case, actor, now, projected, instance.prune_rule, previous)
    live.keep(session, case, instance)
    if flush:
        session.flush()


def _snapshot(
    session: Session, case: Case, actor: User | None, now: datetime, projected: str, prune_rule: int,
    previous: str | None,
) -> None:
    """Keep the state after this step (compressed against ``previous``, the state of the step
    before: app/services/snapshots.py), and put its hashes into the case's chain, with the pruning
    rule the step ran with (app/engine/prune.py: replay runs the step with it too)."""
    state_hash = chain.sha256_text(case.state)
    snapshots.stage(session, case.id, case.version, case.serializer_version, case.state, previous,
                    state_hash, projected, now)
    data = {"state_hash": state_hash, "projection_hash": projected, "at": now.isoformat()}
    if prune_rule:  # steps recorded before pruning existed have none: rule 0
        data["prune"] = prune_rule
    record_event(session, case, "state_saved", actor, data=data)


def _sync_timers(
    session: Session, case: Case, instance: Instance, now: datetime, waiting_rows: list[Timer] | None
) -> None:
    """Timer rows = the engine's waiting timers. A row whose timer is gone was fired (it was due)
    or cancelled (its task finished in time); each fired timer is recorded once, here."""
    if waiting_rows is None:
        waiting_rows = list(session.scalars(select(Timer).where(Timer.case_id == case.id, Timer.status == "waiting")))
    rows = {row.engine_task_id: row for row in waiting_rows}
    waiting = {timer.id: timer for timer in instance.waiting_timers()}
    for engine_id, row in rows.items():
        if engine_id in waiting:
            continue
        fired = row.due_at < now
        row.status, row.closed_at = ("fired" if fired else "cancelled"), now
        if fired:
            record_event(session, case, "timer_fired", None, data={
                "timer": row.name, "due_at": row.due_at.isoformat(), "fired_at": now.isoformat(),
            })
    for engine_id, timer in waiting.items():
        if engine_id not in rows:
            session.add(Timer(
                case_id=case.id, engine_task_id=engine_id, name=timer.name[:64], title=timer.title[:128],
                due_at=timer.due_at, fire_at=timer.due_at, status="waiting", attempts=0, created_at=now,
            ))


def link_unit(session: Session, case: Case, unit_id: int) -> None:
    """Make a case visible through a unit (and so to the units above it)."""
    exists = session.scalar(select(CaseUnit.id).where(CaseUnit.case_id == case.id, CaseUnit.unit_id == unit_id))
    if exists is None:
        session.add(CaseUnit(case_id=case.id, unit_id=unit_id))


def _run(session: Session, case: Case, actor: User | None, now: datetime, work: Any, task: Task | None = None) -> None:
    context = HandlerContext(session=session, case=case, actor=actor, now=now, task=task)

    def called(task: str, handler: str, params: dict[str, Any], result: Any) -> None:
        record_event(session, case, "handler_called", actor,
                     data={"task": task, "handler": handler, "params": params, "result": result})

    try:
        work(context, ServiceCalls(called))
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


def stage_limits() -> dict[str, float]:
    """Hours per stage from calendar.yaml's deadlines (``default_hours``), for the diagrams' dueHours
    expressions (``limits['triage']``): the tasks whose limit neither the catalogue nor a rule gives."""
    return dict(configuration.load("deadline_rules").default_hours)


def _sync_inbox(
    session: Session, case: Case, instance: Instance, ready_ids: list[str], actor: User | None, now: datetime,
    task_rows: list[Task] | None,
) -> None:
    """Inbox rows = the READY human tasks: new ones get a row, rows of tasks gone are cancelled."""
    if task_rows is None:
        task_rows = list(session.scalars(select(Task).where(Task.case_id == case.id, Task.status == "open")))
    open_rows = {row.engine_task_id: row for row in task_rows}
    # the row of the task completed in this step is still "open" in the database (not flushed)
    cancelled = [row for engine_id, row in open_rows.items() if engine_id not in ready_ids and row.status == "open"]
    for row in cancelled:
        row.status = "cancelled"
        row.completed_at = now
    if cancelled:
        tasks_withdrawn.send(case, session=session, tasks=cancelled, actor=actor, now=now)
    try:
        limits = stage_limits()
        new = [instance.describe(task_id, limits) for task_id in ready_ids if task_id not in open_rows]
    except ProcessError as exc:  # a task's unit or deadline expression failed: the diagram is at fault
        raise ProcessFailure(str(exc)) from exc
    units = _units_by_code(session, {t.unit for t in new})
    linked = set(session.scalars(select(CaseUnit.unit_id).where(CaseUnit.case_id == case.id))) if new else set()
    linked |= {o.unit_id for o in session.new if isinstance(o, CaseUnit) and o.case_id == case.id}  # not flushed
    for item in new:
        unit = units.get(item.unit)
        if unit is None:
            raise ProcessFailure(f"task '{item.name}' belongs to unknown unit '{item.unit}'")
        role = load_locality().task_role(unit.kind, item.role)
        if role not in load_locality().roles:
            raise ProcessFailure(f"task '{item.name}' names unknown role '{role}'")
        title = task_title(item.title, role)
        row = Task(
            case_id=case.id, engine_task_id=item.id, task_type=item.name, title=title, stage=item.stage,
            role=role, unit_id=unit.id, form=item.form, context=item.context, status="open",
            due_at=add_working_hours(now, item.due_hours) if item.due_hours is not None else None, created_at=now,
        )
        session.add(row)
        open_rows[item.id] = row
        if unit.id not in linked:
            session.add(CaseUnit(case_id=case.id, unit_id=unit.id))
            linked.add(unit.id)
        record_event(
            session, case, "task_ready", actor, role=role, unit_id=unit.id,
            data={"task": item.name, "title": title, "engine_task_id": item.id},
        )
    current = [row for engine_id, row in open_rows.items() if engine_id in ready_ids]
    case.current_step = ",".join(sorted({row.task_type for row in current}))[:255]
    case.due_at = promised_deadline(session, case.id) or min((row.due_at for row in current if row.due_at),
                                                              default=None)


def promised_deadline(session: Session, case_id: int) -> datetime | None:
    """承诺完成时间: the time the system a case came from promised its reporter (a 12345 work order's).
    It is the case's overall deadline, whatever the limits of its steps."""
    return session.scalar(select(ImportedOrder.promised_at).where(ImportedOrder.case_id == case_id))


def task_title(name: str, role: str) -> str:
    """A task's title: its diagram name ("中文 English"), where ``{role}`` stands for the label of the
    role the task goes to, so one task serving every step of a review chain still says which step it
    is ("{role}审核 {role} review" → "专项负责人审核 Section head review")."""
    if "{role}" not in name:
        return name
    label = load_locality().roles[role].label
    chinese, _sep, english = name.partition(" ")
    return f"{chinese.replace('{role}', label.zh)} {english.replace('{role}', label.en)}".strip()[:128]


def _units_by_code(session: Session, codes: set[str]) -> dict[str, Unit]:
    if not codes:
        return {}
    return {u.code: u for u in session.scalars(select(Unit).where(Unit.code.in_(codes)))}
