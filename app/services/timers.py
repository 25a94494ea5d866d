"""Firing due timers: each exactly once, retried with back-off, an incident after N failed tries.

A due timer is fired by one step on its case (``workflow.fire_timers``), which fires every timer
of the case that is due and closes their rows (``workflow.save``). Several schedulers may run at
once: on PostgreSQL each step first locks its case row with ``FOR UPDATE SKIP LOCKED`` (another
scheduler skips to the next case); on both databases the step then claims the timer row with one
conditional UPDATE (``status = 'waiting'``), so a timer another scheduler has just fired is left
alone. A scheduler killed mid-step holds nothing: its transaction rolls back and the lock goes.

Crash safety: every attempt is counted in a transaction of its own, committed BEFORE the step
runs. A step that kills its process (a crash, the OOM killer, a kill -9) rolls back its own work
but not its attempt, so the timer is retried after a back-off and, after ``MAX_ATTEMPTS`` attempts
that did not finish, becomes an incident instead of a crash loop that stops every timer. A timer
tried before is fired alone (one case per transaction), never in a batch with others, so a
crashing case cannot use up the attempts of the cases that would have been fired with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, inspect, select, update
from sqlalchemy.orm import Session, undefer
from sqlalchemy.orm.exc import StaleDataError

from app.db import Database
from app.models import Case, Incident, Task, Timer
from app.services import clock, journal, workflow
from app.services.auth import Principal
from app.services.errors import Conflict, Forbidden, Invalid, NotFound

MAX_ATTEMPTS = 5
BATCH = 50  # cases locked and fired per transaction (PostgreSQL)
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)

log = logging.getLogger(__name__)


class TimerNotFired(Exception):
    """The engine did not fire a timer that the table says is due (its state disagrees)."""


@dataclass
class Firing:
    fired: int = 0  # steps that fired at least the claimed timer
    failed: int = 0  # failed attempts (retried later, or an incident)
    skipped: set[int] = field(default_factory=set)


def backoff(attempts: int) -> timedelta:
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_MAX)


def fire_due(db: Database, limit: int | None = None, stop: Callable[[], bool] | None = None) -> Firing:
    """Fire every timer due now (the app's clock) until none is left, or ``stop()`` says to stop
    (between transactions): on PostgreSQL up to BATCH locked cases per transaction, each in a
    savepoint; on SQLite one case per transaction."""
    result = Firing()
    postgres = db.engine.dialect.name == "postgresql"
    while (limit is None or result.fired + result.failed < limit) and not (stop and stop()):
        progressed = _fire_next_locked(db, result) if postgres else _fire_batch(db, result)
        if not progressed:
            break
    return result


class _BatchFailed(Exception):
    """A batch step failed; nothing of it was committed and its attempts were given back."""

    def __init__(self, cases: int) -> None:
        super().__init__(f"a batch of {cases} cases failed")
        self.cases = cases


def _fire_next_locked(db: Database, result: Firing) -> bool:
    """PostgreSQL: fire a batch of timers never tried before, all together; if any step of the
    batch fails, fire those cases again one per transaction, so the failure is recorded and the
    other cases still fire. Timers tried before (a failure, or a process that died) fire alone."""
    try:
        if _fire_locked_batch(db, result):
            return True
    except _BatchFailed as failed:
        for _ in range(failed.cases):
            _fire_locked_one(db, result)
        return True
    return _fire_locked_one(db, result)


def _due_locked(session: Session, result: Firing, now: datetime, limit: int, fresh: bool) -> list[Any]:
    """(timer id, case) of the next due timers whose case no other scheduler holds, cases locked."""
    query = (
        select(Timer.id, Case).join(Case, Case.id == Timer.case_id)
        .where(Timer.status == "waiting", Timer.fire_at < now, Timer.id.not_in(result.skipped or [0]))
        .order_by(Timer.fire_at).limit(limit).options(undefer(Case.state))
        .with_for_update(of=Case, skip_locked=True)
    )
    if fresh:
        query = query.where(Timer.attempts == 0)
    return list(session.execute(query).all())


def _claims(session: Session, locked: list[Any], now: datetime) -> list[tuple[Case, list[Timer], workflow.OpenRows]]:
    """The claim: per locked case, its listed timers still waiting now that it is locked (not just
    fired by another scheduler), with the case's open rows (read under the lock)."""
    listed = {timer_id for timer_id, _ in locked}
    cases = {case.id: case for _, case in locked}
    open_rows = _open_rows(session, list(cases))
    claims = []
    for case in cases.values():
        rows = open_rows[case.id]
        claimed = [timer for timer in rows.timers if timer.id in listed and timer.fire_at < now]
        if claimed:
            claims.append((case, claimed, rows))
    return claims


def _fire_locked_batch(db: Database, result: Firing) -> bool:
    """Up to BATCH locked cases whose due timers were never tried: their attempts are committed
    first (a separate transaction), then all are fired and written by one flush and one commit."""
    now = clock.now()
    claims: list[tuple[Case, list[Timer], workflow.OpenRows]] = []
    timer_ids: list[int] = []
    try:
        with db.unit_of_work() as session:
            locked = _due_locked(session, result, now, BATCH, fresh=True)
            claims = _claims(session, locked, now)
            timer_ids = [timer.id for _, claimed, _ in claims for timer in claimed]
            _count_attempts(db, timer_ids, now, lease=False)
            for case, claimed, rows in claims:
                _fire_case(session, case, claimed, rows, flush=False)
            _write_cases(session, [case for case, _, _ in claims])
    except Exception as exc:  # nothing of the batch was committed: each case is fired alone next
        _give_back_attempts(db, timer_ids)
        raise _BatchFailed(len(claims) or BATCH) from exc
    result.fired += len(claims)
    return bool(locked)


def _fire_locked_one(db: Database, result: Firing) -> bool:
    """One locked case with a due timer, in a transaction of its own, its attempt committed first."""
    now = clock.now()
    claimed_ids: list[int] = []
    outcome: Exception | None = None
    with db.unit_of_work() as session:
        locked = _due_locked(session, result, now, 1, fresh=False)
        for case, claimed, rows in _claims(session, locked, now):
            if _give_up(session, case, claimed, result):
                continue
            claimed_ids = [timer.id for timer in claimed]
            _count_attempts(db, claimed_ids, now, lease=True)
            try:
                with session.begin_nested():
                    _fire_case(session, case, claimed, rows, flush=True)
                result.fired += 1
            except Exception as exc:  # recorded below, once this transaction has ended
                outcome = exc
    if isinstance(outcome, Conflict | StaleDataError):  # a person acted meanwhile: next round
        _give_back_attempts(db, claimed_ids)
        result.skipped.update(claimed_ids)
    elif outcome is not None:  # any failure of a step is recorded, never lost
        for timer_id in claimed_ids:
            _record_failure(db, timer_id, outcome, result)
    return bool(locked)


def _count_attempts(db: Database, timer_ids: list[int], now: datetime, lease: bool) -> None:
    """Count an attempt for each timer, committed now, before its step runs. With ``lease`` the
    timer is also put off by the back-off: if the step kills its process, the retry waits."""
    if not timer_ids:
        return
    with db.unit_of_work() as session:
        for timer in session.scalars(select(Timer).where(Timer.id.in_(timer_ids), Timer.status == "waiting")):
            timer.attempts += 1
            if lease:
                timer.fire_at = max(timer.fire_at, now + backoff(timer.attempts))


def _give_back_attempts(db: Database, timer_ids: list[int]) -> None:
    """The step did not fail on its own account (a batch-mate failed, a person acted meanwhile)."""
    if not timer_ids:
        return
    with db.unit_of_work() as session:
        session.execute(
            update(Timer).where(Timer.id.in_(timer_ids), Timer.status == "waiting", Timer.attempts > 0)
            .values(attempts=Timer.attempts - 1).execution_options(synchronize_session=False)
        )


def _give_up(session: Session, case: Case, claimed: list[Timer], result: Firing) -> bool:
    """A timer whose attempts are used up without a recorded failure: its steps never finished
    (the process running them died). It becomes an incident instead of being run again."""
    spent = [timer for timer in claimed if timer.attempts >= MAX_ATTEMPTS]
    for timer in spent:
        error = (f"the step firing this timer did not finish in {timer.attempts} attempts (the process "
                 "running it died: a crash, a kill or out of memory)")
        if timer.last_error:
            error += f"; last recorded error: {timer.last_error}"
        _open_incident(session, timer, case, error[:2000])
        result.failed += 1
        result.skipped.add(timer.id)
    return bool(spent)


def _write_cases(session: Session, cases: list[Case]) -> None:
    """The batch's case rows, written by one executemany UPDATE per set of changed columns instead
    of one version-checked UPDATE per case (which SQLAlchemy cannot batch). Each row is still
    checked against the version its step started from; the cases are locked besides."""
    table = Case.__table__
    statements: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for case in cases:
        state = inspect(case)
        # committed_state: the loaded values of the attributes the step changed
        changed = {key: state.dict[key] for key in state.committed_state if key in table.c}
        if not changed:
            continue
        row = {**changed, "_id": case.id, "_version": state.committed_state.get("version", case.version)}
        session.expire(case)  # the ORM's own flush leaves the row alone now (and need not look at it)
        statements.setdefault(tuple(sorted(changed)), []).append(row)
    statement = update(table).where(table.c.id == bindparam("_id"), table.c.version == bindparam("_version"))
    for rows in statements.values():  # the SET clause: the columns of the rows' keys
        written = session.execute(statement, rows).rowcount
        if written != len(rows):
            raise StaleDataError(f"{len(rows) - written} of {len(rows)} cases changed while locked")


def _open_rows(session: Session, case_ids: list[int]) -> dict[int, workflow.OpenRows]:
    """The open inbox rows and waiting timer rows of the cases, in two queries."""
    rows = {case_id: workflow.OpenRows([], []) for case_id in case_ids}
    if case_ids:
        for task in session.scalars(select(Task).where(Task.case_id.in_(case_ids), Task.status == "open")):
            rows[task.case_id].tasks.append(task)
        for timer in session.scalars(select(Timer).where(Timer.case_id.in_(case_ids), Timer.status == "waiting")):
            rows[timer.case_id].timers.append(timer)
    return rows


def _fire_case(session: Session, case: Case, claimed: list[Timer], rows: workflow.OpenRows, flush: bool) -> None:
    workflow.fire_timers(session, case, rows, flush)
    for timer in claimed:
        if timer.status == "waiting":
            raise TimerNotFired(f"timer {timer.id} of case {case.number} is due but the engine did not fire it")


def _fire_batch(db: Database, result: Firing) -> bool:
    """SQLite: list due timers, then fire each in its own transaction after claiming it (the claim
    counts the attempt and is committed first, in a transaction of its own)."""
    now = clock.now()
    with db.unit_of_work() as session:
        rows = session.execute(
            select(Timer.id, Timer.case_id)
            .where(Timer.status == "waiting", Timer.fire_at < now, Timer.id.not_in(result.skipped or [0]))
            .order_by(Timer.fire_at).limit(100)
        ).all()
    for row in rows:
        if not _claim(db, row.id, row.case_id, now, result):
            continue
        try:
            with db.unit_of_work() as session:
                _fire_claimed(session, row.id, row.case_id)
                result.fired += 1
        except (Conflict, StaleDataError):
            _give_back_attempts(db, [row.id])
            result.skipped.add(row.id)
        except Exception as exc:  # any failure of a step is recorded, never lost
            _record_failure(db, row.id, exc, result)
    return bool(rows)


def _claim(db: Database, timer_id: int, case_id: int, now: datetime, result: Firing) -> bool:
    """Claim a due timer and count its attempt, committed: False if another scheduler fired it
    meanwhile or its attempts are used up (then it becomes an incident)."""
    with db.unit_of_work() as session:
        timer = session.get(Timer, timer_id)
        if timer is None or timer.status != "waiting" or not timer.fire_at < now:
            return False  # another scheduler fired it (with the rest of its case) a moment ago
        case = session.get(Case, case_id)
        assert case is not None
        if _give_up(session, case, [timer], result):
            return False
        claimed = session.execute(
            update(Timer).where(Timer.id == timer_id, Timer.status == "waiting", Timer.attempts == timer.attempts)
            .values(attempts=timer.attempts + 1, fire_at=max(timer.fire_at, now + backoff(timer.attempts + 1)))
            .execution_options(synchronize_session=False)
        ).rowcount
    return bool(claimed)


def _fire_claimed(session: Session, timer_id: int, case_id: int) -> None:
    case = session.get(Case, case_id, options=[undefer(Case.state)])
    assert case is not None
    workflow.fire_timers(session, case)
    timer = session.get(Timer, timer_id)  # loaded by the step already: no query
    if timer is None or timer.status == "waiting":
        raise TimerNotFired(f"timer {timer_id} of case {case.number} is due but the engine did not fire it")


def _record_failure(db: Database, timer_id: int, exc: Exception, result: Firing) -> None:
    """A failed step changed nothing; its attempt was counted before it ran: back off, or open an incident."""
    result.failed += 1
    result.skipped.add(timer_id)
    error = f"{type(exc).__name__}: {exc}"[:2000]
    log.warning("timer %s failed: %s", timer_id, error)
    with db.unit_of_work() as session:
        timer = session.get(Timer, timer_id)
        if timer is None or timer.status != "waiting":
            return
        timer.last_error = error
        if timer.attempts < MAX_ATTEMPTS:
            timer.fire_at = clock.now() + backoff(timer.attempts)
            return
        _open_incident(session, timer, session.get(Case, timer.case_id), error)


def _open_incident(session: Session, timer: Timer, case: Case | None, error: str) -> None:
    now = clock.now()
    timer.status, timer.last_error = "failed", error
    incident = Incident(timer_id=timer.id, case_id=timer.case_id, error=error, attempts=timer.attempts,
                        status="open", created_at=now)
    session.add(incident)
    session.flush()
    journal.record_event(session, case, "incident_opened", None, data={
        "incident": incident.id, "timer": timer.name, "due_at": timer.due_at.isoformat(), "error": error,
    })


# ------------------------------------------------------------------------------ admin: incidents
def list_incidents(session: Session, principal: Principal, status: str | None) -> list[dict[str, Any]]:
    _require_admin(principal)
    if status is not None and status not in ("open", "retried"):
        raise Invalid(f"unknown status '{status}'", {"status": "open or retried"})
    query = select(Incident, Timer, Case.number).join(Timer, Timer.id == Incident.timer_id).join(
        Case, Case.id == Incident.case_id).order_by(Incident.id.desc())
    if status:
        query = query.where(Incident.status == status)
    return [
        {"id": inc.id, "case_id": inc.case_id, "case_number": number, "timer": timer.name,
         "timer_title": timer.title, "due_at": timer.due_at.isoformat(), "error": inc.error,
         "attempts": inc.attempts, "status": inc.status, "created_at": inc.created_at.isoformat(),
         "resolved_at": inc.resolved_at.isoformat() if inc.resolved_at else None, "resolved_by": inc.resolved_by}
        for inc, timer, number in session.execute(query).all()
    ]


def retry_incident(session: Session, principal: Principal, incident_id: int) -> dict[str, Any]:
    """An admin puts the failed timer back: it fires again at the next scan, with fresh attempts."""
    _require_admin(principal)
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"no incident {incident_id}")
    if incident.status != "open":
        raise Conflict(f"incident {incident_id} was already retried")
    timer = session.get(Timer, incident.timer_id)
    assert timer is not None
    now = clock.now()
    incident.status, incident.resolved_at, incident.resolved_by = "retried", now, principal.user.username
    timer.status, timer.attempts, timer.fire_at, timer.last_error = "waiting", 0, now, None
    case = session.get(Case, incident.case_id)
    journal.record_event(session, case, "incident_retried", principal.user, data={"incident": incident.id,
                                                                                  "timer": timer.name})
    return {"id": incident.id, "status": incident.status}


def next_due(session: Session) -> datetime | None:
    return session.scalar(select(func.min(Timer.fire_at)).where(Timer.status == "waiting"))


def upcoming(session: Session, until: datetime) -> list[datetime]:
    """Distinct fire times of waiting timers up to ``until`` (what the scheduler wakes up for)."""
    return list(session.scalars(
        select(Timer.fire_at).where(Timer.status == "waiting", Timer.fire_at <= until)
        .group_by(Timer.fire_at).order_by(Timer.fire_at).limit(1000)
    ))


def _require_admin(principal: Principal) -> None:
    if not principal.can("administer"):
        raise Forbidden("incidents are for process admins")
