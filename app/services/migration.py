"""Moving running cases onto another process version (迁移): choose the cases, a dry run that says
per case whether it can move and why not, then the migration itself, one transaction per case.

The step itself is app/services/workflow.migrate (the engine part app/engine/migration.py); a case
that cannot move is left as it was and its report says why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from app.definitions.versions import bundle_of, version_by_number
from app.engine import ProcessError
from app.models import Case, CaseUnit, ProcessVersion, Task, User
from app.services import clock, workflow
from app.services.errors import Invalid, ServiceError
from app.services.org import unit_by_code

MAX_CASES = 500  # one request's batch; a larger one is chosen again after


@dataclass(frozen=True)
class Selection:
    """Which running cases to move: from one version, optionally of one level, through one unit
    (the case's place or a unit it involves, and the units below it) and at one stage or task."""

    from_version: int
    level: str | None = None
    unit: str | None = None
    step: str | None = None  # a stage (e.g. triage) or a task's element id


@dataclass(frozen=True)
class CaseReport:
    case_id: int
    number: str
    title: str
    from_version: int
    current_step: str
    ok: bool
    reason: str | None = None
    migrated: bool = False

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


UnitOfWork = Callable[[], AbstractContextManager[Session]]


def selection_of(values: Mapping[str, Any]) -> tuple[Selection, int]:
    """The selection and the target version from a form or a JSON body; 422 naming the field."""
    numbers = [_number(values.get(key), key) for key in ("from", "to")]
    if numbers[0] == numbers[1]:
        raise Invalid("'from' and 'to' must be two different versions", {"to": "same as from"})
    texts = [_text(values.get(key), key) for key in ("level", "unit", "step")]
    return Selection(numbers[0], *texts), numbers[1]


def _number(value: Any, key: str) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise Invalid(f"'{key}' must be a version number", {key: "required"})
    return value


def _text(value: Any, key: str) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise Invalid(f"'{key}' must be text of at most 64 characters", {key: "invalid"})
    return value.strip() or None


def run(session: Session, selection: Selection, target: int, visible_units: set[int], case_ids: list[int] | None,
        migrate_with: tuple[UnitOfWork, int] | None) -> list[CaseReport]:
    """The dry run of the chosen cases (``case_ids``: some of them), or with ``migrate_with`` (a
    unit-of-work factory and the admin's user id) their migration. The request's own transaction
    is committed first: each case then moves in a transaction of its own."""
    version_by_number(session, target)  # 404 before anything else
    chosen = choose(session, selection, visible_units)
    if case_ids is not None:
        outside = sorted(set(case_ids) - {case.id for case in chosen})
        if outside:
            raise Invalid(f"cases {outside} are not among the chosen running cases", {"cases": "not chosen"})
        chosen = [case for case in chosen if case.id in set(case_ids)]
    if migrate_with is None:
        return dry_run(session, chosen, target)
    ids = [case.id for case in chosen]
    session.commit()
    return migrate_cases(migrate_with[0], ids, target, migrate_with[1])


def choose(session: Session, selection: Selection, visible_units: set[int]) -> list[Case]:
    """The open cases of the selection among those the admin's units see, oldest first."""
    source = version_by_number(session, selection.from_version)
    query = select(Case).where(Case.process_version_id == source.id, Case.status == "open",
                               exists().where(CaseUnit.case_id == Case.id, CaseUnit.unit_id.in_(visible_units)))
    if selection.level:
        query = query.where(Case.level == selection.level)
    if selection.unit:
        unit = unit_by_code(session, selection.unit)
        query = query.where(exists().where(CaseUnit.case_id == Case.id, CaseUnit.unit_id == unit.id))
    if selection.step:
        query = query.where(exists().where(Task.case_id == Case.id, Task.status == "open",
                                           (Task.stage == selection.step) | (Task.task_type == selection.step)))
    return list(session.scalars(query.order_by(Case.id).limit(MAX_CASES)))


def dry_run(session: Session, cases: list[Case], target_number: int) -> list[CaseReport]:
    """Whether each case could move to the target version, and why not: the migration is tried on
    a copy of its state in memory; nothing is stored."""
    target = version_by_number(session, target_number)
    bundle = bundle_of(session, target.id)
    reports = []
    for case in cases:
        reason = _refusal(case, target)
        if reason is None:
            try:
                with workflow.case_configuration(session, case):
                    workflow.move_instance(workflow.load(session, case), bundle, clock.now())
            except (ProcessError, ServiceError) as exc:
                reason = str(exc)
        reports.append(_report(case, reason))
    return reports


def migrate_cases(unit_of_work: UnitOfWork, case_ids: list[int],
                  target_number: int, actor_id: int) -> list[CaseReport]:
    """Move each case in a transaction of its own; a case that cannot move is rolled back whole
    (untouched) and its report says why."""
    reports = []
    for case_id in case_ids:
        try:
            with unit_of_work() as session:
                case = session.get(Case, case_id)
                if case is None:
                    raise Invalid(f"case {case_id} does not exist", {"cases": "unknown"})
                before = _report(case, None)
                target = version_by_number(session, target_number)
                reason = _refusal(case, target)
                if reason is not None:
                    raise _Refused(reason)
                workflow.migrate(session, case, target, session.get(User, actor_id))
                reports.append(CaseReport(**{**before.as_dict(), "migrated": True}))
        except (_Refused, ServiceError) as exc:
            reports.append(_failed(unit_of_work, case_id, str(exc)))
    return reports


class _Refused(Exception):
    """A case the migration must leave alone (closed, on the target already)."""


def _failed(unit_of_work: UnitOfWork, case_id: int, reason: str) -> CaseReport:
    with unit_of_work() as session:
        case = session.get(Case, case_id)
        if case is None:
            return CaseReport(case_id, "", "", 0, "", False, reason)
        return _report(case, reason)


def _refusal(case: Case, target: ProcessVersion) -> str | None:
    if case.status != "open":
        return "the case is closed"
    if case.process_version_id == target.id:
        return f"the case runs on version {target.version} already"
    if target.retired_at is not None:
        return f"version {target.version} is retired"
    return None


def _report(case: Case, reason: str | None) -> CaseReport:
    return CaseReport(case.id, case.number, case.title, case.process_version.version, case.current_step,
                      reason is None, reason)
