"""Deadlines of a stage (时限): reminders at 80 %, the supervised ledger (挂账督办), notifications.

The diagrams decide *when* (timer events reading the absolute times that :func:`stage_deadlines`
puts into the process data); this module decides *who* hears of it and what is recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, aliased

from app.definitions import configuration
from app.models import Case, CaseUnit, Notification, SupervisionEntry, SupervisionRound, Task, Unit, User
from app.services import cases, journal, per_version, workflow
from app.services.auth import users_holding
from app.services.errors import Invalid, NotFound
from app.services.locality import load_locality
from app.services.worktime import add_working_hours, load_calendar


def head_role(unit: Unit) -> str:
    """Who answers for a unit's late work (一把手, 书记): its kind's head role in the locality model."""
    role = load_locality().head_role(unit.kind)
    if role is None:
        raise Invalid(f"unit '{unit.code}' of kind '{unit.kind}' has no head role in the locality model")
    return role


@dataclass(frozen=True)
class Retry:
    """Work tried again later (回访未接通): ``hours`` working hours after a failed attempt, at most
    ``attempts`` attempts in all."""

    hours: float
    attempts: int


@dataclass(frozen=True)
class DeadlineRules:
    reminder_at: float  # share of the limit after which the reminder goes out (0.8 = 80 %)
    second_limit: float  # the escalation limit, as a multiple of the limit (2.0 = twice as long)
    default_hours: dict[str, float]  # stages the catalogue has no limit for (review, verification)
    retries: dict[str, Retry] = field(default_factory=dict)  # stages tried again later, by stage


def load_rules() -> DeadlineRules:
    """The deadline rules in effect (calendar.yaml's ``deadlines``, versioned with the processes)."""
    return configuration.load("deadline_rules")  # type: ignore[no-any-return]


@configuration.loader("deadline_rules")
def _read_rules(config: configuration.Configuration) -> DeadlineRules:
    raw: dict[str, Any] = (config.yaml("calendar.yaml") or {}).get("deadlines") or {}
    rules = DeadlineRules(
        reminder_at=float(raw.get("reminder_at", 0.8)),
        second_limit=float(raw.get("second_limit", 2.0)),
        default_hours={str(k): float(v) for k, v in (raw.get("default_hours") or {}).items()},
        retries={str(k): _retry(k, v) for k, v in (raw.get("retries") or {}).items()},
    )
    if not 0 < rules.reminder_at < 1 or rules.second_limit <= 1:
        raise ValueError("calendar.yaml: deadlines: reminder_at must be between 0 and 1, second_limit above 1")
    return rules


def _retry(stage: Any, raw: Any) -> Retry:
    hours = raw.get("hours") if isinstance(raw, dict) else None
    attempts = raw.get("attempts") if isinstance(raw, dict) else None
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or hours <= 0 \
            or isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ValueError(f"calendar.yaml: deadlines: retries: {stage}: give hours > 0 and attempts >= 1")
    return Retry(float(hours), attempts)


# The moment of a retry (schedule_retry) that the diagram's timer waits for.
RETRY_MOMENTS = ("due",)


def schedule_retry(session: Session, case: Case, stage: str, retry: Retry, attempts: int, note: str,
                   actor: User | None, now: datetime) -> dict[str, Any]:
    """A failed attempt (未接通) recorded; when the next one is due, or that no attempt is left."""
    given_up = attempts >= retry.attempts
    due = None if given_up else iso(load_calendar().add_hours(now, retry.hours))
    data = {"stage": stage, "attempt": attempts, "attempts": retry.attempts, "retry_at": due, "note": note}
    journal.record_event(session, case, "attempts_exhausted" if given_up else "attempt_failed", actor, data=data)
    return {"given_up": given_up, "due": due, "attempt": attempts, "attempts": retry.attempts}


# The moments of a stage's deadlines (stage_deadlines) that the diagrams' timers wait for.
STAGE_MOMENTS = ("remind", "due", "escalate")


def stage_deadlines(start: datetime, hours: float) -> dict[str, Any]:
    """Absolute times (ISO 8601, UTC) of a stage's reminder, deadline and second limit, counted in
    working hours from ``start`` (naive UTC)."""
    rules, calendar = load_rules(), load_calendar()
    remind, due, escalate = STAGE_MOMENTS
    moments = {
        "start": start,
        remind: calendar.add_hours(start, hours * rules.reminder_at),
        due: calendar.add_hours(start, hours),
        escalate: calendar.add_hours(start, hours * rules.second_limit),
    }
    return {"hours": hours, **{key: iso(value) for key, value in moments.items()}}


def iso(moment: datetime) -> str:
    return moment.replace(tzinfo=UTC).isoformat()


def parse_iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


# ------------------------------------------------------------------------- notification channels
# In-app notifications are always written. Other channels (e-mail, SMS ...) register a sender
# here; each gets the user and the stored notification after it is written.
Sender = Callable[[User, Notification], None]
SENDERS: dict[str, Sender] = {}


def register_sender(name: str, sender: Sender) -> None:
    SENDERS[name] = sender


def notify(session: Session, users: list[User], case: Case, task: Task | None, kind: str, title: str,
           body: str, due_at: datetime | None, now: datetime) -> list[Notification]:
    sent = []
    for user in {u.id: u for u in users}.values():
        note = Notification(user_id=user.id, case_id=case.id, task_id=task.id if task else None, kind=kind,
                            title=title[:200], body=body, due_at=due_at, created_at=now)
        session.add(note)
        sent.append(note)
        for sender in SENDERS.values():
            sender(user, note)
    return sent


def open_task(session: Session, case: Case, task_type: str, unit: Unit) -> Task | None:
    return session.scalar(
        select(Task).where(Task.case_id == case.id, Task.task_type == task_type, Task.unit_id == unit.id,
                           Task.status == "open").order_by(Task.id.desc()).limit(1)
    )


def _done_now(session: Session, case: Case, task_type: str, unit: Unit, now: datetime) -> Task | None:
    return session.scalar(
        select(Task).where(Task.case_id == case.id, Task.task_type == task_type, Task.unit_id == unit.id,
                           Task.status == "completed", Task.completed_at == now).order_by(Task.id.desc()).limit(1)
    )


def _workers(session: Session, task: Task | None, unit: Unit) -> list[User]:
    """The task's assignee, or every holder of its role in its unit."""
    if task is None:
        return []
    if task.assignee is not None:
        return [task.assignee]
    return users_holding(session, task.role, unit.id)


def remind(session: Session, case: Case, stage: str, unit: Unit, task_type: str, now: datetime) -> dict[str, Any]:
    """80 %: the assignee (or every holder of the task's role) and the unit's head are reminded.
    A reminder for work already done (the task completed in the same step) reminds no one."""
    task = open_task(session, case, task_type, unit)
    users = _workers(session, task, unit) + users_holding(session, head_role(unit), unit.id)
    title = f"即将超时 Due soon: {case.number} {task.title if task else task_type}"
    due = task.due_at if task else None
    body = f"{unit.name}：{case.title}，办理时限 {_local(due)}。"
    notes = notify(session, users, case, task, "reminder", title, body, due, now)
    journal.record_event(session, case, "reminder", None, unit_id=unit.id, data={
        "stage": stage, "task": task_type, "users": sorted(u.username for u in users),
        "due_at": due.isoformat() if due else None,
    })
    return {"notified": len(notes)}


def open_supervision(session: Session, case: Case, stage: str, unit: Unit, task_type: str, due: datetime,
                     now: datetime, supervisor: Unit | None = None) -> dict[str, Any]:
    """Deadline passed: a 挂账督办 entry (who is late, since when) and a supervision notice for the
    head of ``supervisor`` (the late unit itself unless the diagram names another)."""
    head = supervisor or unit
    # the late work may be done in this very step (its deadline passed, then it was completed before
    # a scheduler fired the timer): the entry is still opened — the work was late — and struck off
    # with how late it was when the step ends (clear_supervision)
    task = open_task(session, case, task_type, unit) or _done_now(session, case, task_type, unit, now)
    entry = SupervisionEntry(case_id=case.id, task_id=task.id if task else None, unit_id=unit.id,
                             task_type=task_type, stage=stage, due_at=due, opened_at=now, status="open")
    session.add(entry)
    session.flush()
    heads = users_holding(session, head_role(head), head.id) or _workers(session, task, unit)
    title = f"挂账督办 Overdue: {case.number} {task.title if task else task_type}"
    body = f"{unit.name} 已超过时限（{_local(due)}），请督促办理。"
    notify(session, heads, case, task, "supervision", title, body, due, now)
    journal.record_event(session, case, "supervision_opened", None, unit_id=unit.id, data={
        "entry": entry.id, "stage": stage, "task": task_type, "unit": unit.code, "due_at": due.isoformat(),
        "late_minutes": late_minutes(due, now), "supervisor": head.code,
    })
    # the diagram's 督办 task goes to the head's role in the head's unit; its 督办回复 task to the
    # late task's own role in the late unit (its head's when the late task is gone)
    return {"entry": entry.id, "head_role": head_role(head), "head_unit": head.code,
            "late_unit": unit.code, "late_role": task.role if task else head_role(unit)}


def clear_supervision(session: Session, task: Task, actor: User | None, now: datetime) -> None:
    """销号: the late work is done, so its ledger entries are struck off with how late it was."""
    entries = session.scalars(
        select(SupervisionEntry).where(SupervisionEntry.task_id == task.id, SupervisionEntry.status == "open")
    ).all()
    for entry in entries:
        _close(entry, "cleared", now)
        journal.record_event(session, task.case, "supervision_cleared", actor, unit_id=entry.unit_id, data={
            "entry": entry.id, "task": entry.task_type, "late_minutes": entry.late_minutes,
        })


def transfer_supervision(session: Session, case: Case, cancelled: list[Task], actor: User | None,
                         now: datetime) -> None:
    """转办: late work taken away unfinished (its inbox row cancelled — past the second limit the
    whistle goes to the level above) leaves the open ledger with how late it was by then and, when
    the case was escalated, the whistle that took it over. Called with the rows a step cancels."""
    entries = session.scalars(select(SupervisionEntry).where(
        SupervisionEntry.task_id.in_([row.id for row in cancelled]), SupervisionEntry.status == "open")).all()
    if not entries:
        return
    target = _escalated_to(session, case)
    for entry in entries:
        _close(entry, "transferred", now)
        entry.transferred_to_id = target.id if target else None
        journal.record_event(session, case, "supervision_transferred", actor, unit_id=entry.unit_id, data={
            "entry": entry.id, "task": entry.task_type, "late_minutes": entry.late_minutes,
            "to_case": target.number if target else None,
        })


def take_back(session: Session, case: Case, stage: str, unit: Unit, task_type: str, to: Unit, reason: str,
              actor: User | None, now: datetime) -> dict[str, Any]:
    """Past the second limit: ``unit``'s late work goes up to ``to`` in the same case (超期收回: a
    dispatched case back to the platform to be re-judged). A ``taken_back`` event, under the unit
    that now has it, says from whom, which work and why (the timeline of the re-judging task and the
    reporter's tracking page show it; ``escalated`` is a whistle going up a level, a new case). The
    late unit's head hears of it: the withdrawn task and 督办 are gone from their inbox."""
    journal.record_event(session, case, "taken_back", actor, unit_id=to.id, data={
        "stage": stage, "task": task_type, "from_unit": unit.code, "to_unit": to.code, "reason": reason,
    })
    title = f"超期收回 Taken back: {case.number} {case.title}"
    body = f"{unit.name} 超过第二时限仍未办理，案件已转{to.name}重新研判。"
    notify(session, users_holding(session, head_role(unit), unit.id), case, None, "escalation", title, body, None,
           now)
    return {"stage": stage, "task": task_type, "from_unit": unit.code, "to_unit": to.code, "reason": reason,
            "at": iso(now)}


def _close(entry: SupervisionEntry, status: str, now: datetime) -> None:
    entry.status, entry.closed_at, entry.late_minutes = status, now, late_minutes(entry.due_at, now)


def _escalated_to(session: Session, case: Case) -> Case | None:
    """The whistle one level up that a case escalated to (社呼街应、街呼市应), if it was escalated."""
    if case.outcome != "escalated":
        return None
    return session.scalar(select(Case).where(Case.parent_case_id == case.id).order_by(Case.id.desc()).limit(1))


SUPERVISE_FORM = "supervise.schema.json"  # the diagrams' 督办 task: the superior issues, closes or presses again
ANSWER_FORM = "supervise_answer.schema.json"  # 督办回复: the late unit answers
SUPERVISION_FORMS = (SUPERVISE_FORM, ANSWER_FORM)
ANSWER_FIELDS = ("reason", "measures", "promised_date")
SUPERVISION_RESULT = "supervision"  # open_supervision's resultVariable in the diagrams: {"entry": id, ...}
VERDICTS = {"press": "pressed", "accept": "accepted"}  # the 督办 form's verdict -> the round's


def supervise(session: Session, task: Task, form: dict[str, Any], actor: User | None,
              task_data: dict[str, Any], now: datetime) -> None:
    """The superior's 督办 task: ``press`` issues a round (the first 督办, or 再次督办 after an answer
    that does not satisfy) with a note and a time to answer; ``accept`` closes the 督办 (督办办结) on
    the late unit's answer. Closing needs an answer to close on."""
    entry = supervised_entry(session, task, task_data)
    if entry is None:
        raise Invalid("this 督办 task names no ledger entry", {"supervision": "open_supervision's reply"})
    last = latest_round(session, entry)
    answered = last is not None and last.answered_at is not None and last.verdict is None
    verdict = form.get("verdict")
    if verdict == "accept" and not answered:
        raise Invalid("nothing to accept: the late unit has not answered a 督办 yet",
                      {"verdict": "press first: the late unit answers a 督办 before it can be closed"})
    if answered and verdict in VERDICTS:
        last.verdict, last.verdict_note, last.verdict_at = VERDICTS[verdict], form.get("note"), now  # type: ignore[union-attr]
    if verdict == "accept":
        journal.record_event(session, task.case, "supervision_accepted", actor, role=task.role, unit_id=task.unit_id,
                              data={"entry": entry.id, "round": last.number, "note": form.get("note")})  # type: ignore[union-attr]
        return
    hours = form.get("answer_hours") or load_rules().default_hours.get("supervision")
    issued = SupervisionRound(entry_id=entry.id, number=(last.number + 1) if last else 1, note=form.get("note") or "",
                              issued_at=now, issued_by_id=actor.id if actor else None,
                              answer_due_at=add_working_hours(now, float(hours)) if hours else None)
    session.add(issued)
    session.flush()
    journal.record_event(session, task.case, "supervision_issued", actor, role=task.role, unit_id=task.unit_id, data={
        "entry": entry.id, "round": issued.number, "task": entry.task_type, "note": issued.note,
        "answer_due_at": issued.answer_due_at.isoformat() if issued.answer_due_at else None,
    })


def latest_round(session: Session, entry: SupervisionEntry) -> SupervisionRound | None:
    return session.scalar(select(SupervisionRound).where(SupervisionRound.entry_id == entry.id)
                          .order_by(SupervisionRound.number.desc()).limit(1))


def answer_supervision(session: Session, task: Task, form: dict[str, Any], actor: User | None,
                       task_data: dict[str, Any], now: datetime) -> None:
    """督办回复: the late unit says why its work is late, what is done about it, by when — stored on
    the round it answers and, as the latest answer, on the ledger entry (which only the late work
    itself clears); the superior reads it in their next 督办 task."""
    entry = supervised_entry(session, task, task_data)
    promised = _promised_date(form.get("promised_date"))
    last = latest_round(session, entry) if entry is not None else None
    if entry is not None:
        entry.answer_reason, entry.answer_measures = form.get("reason"), form.get("measures")
        entry.promised_date, entry.answered_at = promised, now
        entry.answered_by_id = actor.id if actor is not None else None
    if last is not None and last.answered_at is None:
        last.answer_reason, last.answer_measures = form.get("reason"), form.get("measures")
        last.promised_date, last.answered_at = promised, now
        last.answered_by_id = actor.id if actor is not None else None
    journal.record_event(session, task.case, "supervision_answered", actor, role=task.role, unit_id=task.unit_id,
                          data={"entry": entry.id if entry else None, "task": entry.task_type if entry else None,
                                "round": last.number if last else None,
                                **{key: form.get(key) for key in ANSWER_FIELDS}})


def supervised_entry(session: Session, task: Task, task_data: dict[str, Any]) -> SupervisionEntry | None:
    """The ledger entry a 督办 task answers: the one open_supervision returned into the task's data
    (``supervision['entry']``), whichever unit the task goes to. A task whose data names none (a
    diagram that keeps the result under another name) falls back to the latest entry of the
    task's own unit and stage."""
    result = task_data.get(SUPERVISION_RESULT)
    entry_id = result.get("entry") if isinstance(result, dict) else None
    if isinstance(entry_id, int) and not isinstance(entry_id, bool):
        entry = session.get(SupervisionEntry, entry_id)
        if entry is not None and entry.case_id == task.case_id:
            return entry
    return session.scalar(
        select(SupervisionEntry).where(SupervisionEntry.case_id == task.case_id,
                                       SupervisionEntry.unit_id == task.unit_id, SupervisionEntry.stage == task.stage)
        .order_by(SupervisionEntry.id.desc()).limit(1)
    )


def supervised_work(session: Session, tasks: list[Task], now: datetime) -> dict[int, dict[str, Any]]:
    """督办事项 of each 督办 task among ``tasks`` (by task id): which unit is late with which task,
    its deadline, how late it is (until now while the entry is open, else when it was closed) and
    whether the late work is still open. Read from the ledger entry the task answers (the inbox
    row's context names it, as the engine's data does)."""
    found = {task.id: entry for task in tasks if task.form in SUPERVISION_FORMS
             and (entry := supervised_entry(session, task, task.context or {})) is not None}
    if not found:
        return {}
    entries = list(found.values())
    units = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_({e.unit_id for e in entries})))}
    late = {t.id: t for t in session.scalars(select(Task).where(
        Task.id.in_({e.task_id for e in entries if e.task_id is not None})))}
    rounds = rounds_of(session, [e.id for e in entries])
    return {task_id: _supervised(entry, units[entry.unit_id], late.get(entry.task_id or 0), now,
                                 rounds.get(entry.id, []))
            for task_id, entry in found.items()}


def _supervised(entry: SupervisionEntry, unit: Unit, task: Task | None, now: datetime,
                rounds: list[dict[str, Any]]) -> dict[str, Any]:
    return {"entry": entry.id, "unit": unit.code, "unit_name": unit.name, "task_type": entry.task_type,
            "task_title": task.title if task else entry.task_type, "task_id": entry.task_id,
            "task_status": task.status if task else None, "stage": entry.stage,
            "due_at": cases.iso(entry.due_at), "late_minutes": _late(entry, now), "status": entry.status,
            "closed_at": cases.iso(entry.closed_at), "rounds": rounds}


def rounds_of(session: Session, entry_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The 督办 rounds of ledger entries, in order: note, time to answer, answer, verdict, and who."""
    issuer, answerer = aliased(User), aliased(User)
    rows = session.execute(
        select(SupervisionRound, issuer.name, answerer.name)
        .outerjoin(issuer, issuer.id == SupervisionRound.issued_by_id)
        .outerjoin(answerer, answerer.id == SupervisionRound.answered_by_id)
        .where(SupervisionRound.entry_id.in_(entry_ids or [0])).order_by(SupervisionRound.number)).all()
    found: dict[int, list[dict[str, Any]]] = {}
    for r, issued_by, answered_by in rows:
        found.setdefault(r.entry_id, []).append({
            "number": r.number, "note": r.note, "issued_at": _iso(r.issued_at), "issued_by_name": issued_by,
            "answer_due_at": _iso(r.answer_due_at), "reason": r.answer_reason, "measures": r.answer_measures,
            "promised_date": r.promised_date.isoformat() if r.promised_date else None,
            "answered_at": _iso(r.answered_at), "answered_by_name": answered_by,
            "verdict": r.verdict, "verdict_note": r.verdict_note, "verdict_at": _iso(r.verdict_at)})
    return found


def _late(entry: SupervisionEntry, now: datetime) -> int | None:
    """How late: still growing while the entry is open, as it was when struck off or transferred."""
    return late_minutes(entry.due_at, now) if entry.status == "open" else entry.late_minutes


def _promised_date(value: Any) -> date | None:
    """The form's schema checks the shape (YYYY-MM-DD); the calendar is checked here."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise Invalid(f"promised_date '{value}' is not a calendar date",
                      {"promised_date": "a date that exists, YYYY-MM-DD"}) from None


def late_minutes(due: datetime, now: datetime) -> int:
    return max(0, int((now - due).total_seconds() // 60))


def _local(moment: datetime | None) -> str:
    return load_calendar().to_local(moment).strftime("%Y-%m-%d %H:%M") if moment else "—"


# ------------------------------------------------------------------------------ reading: API
LEDGER_STATUSES = ("open", "cleared", "transferred")  # 挂账中, 已销号, 已转办


def list_notifications(session: Session, principal: Any, unread: bool) -> dict[str, Any]:
    query = select(Notification, Case.number).outerjoin(Case, Case.id == Notification.case_id).where(
        Notification.user_id == principal.user.id)
    if unread:
        query = query.where(Notification.read_at.is_(None))
    rows = session.execute(query.order_by(Notification.id.desc()).limit(200)).all()
    return {"items": [_notification(note, number) for note, number in rows]}


def unread_count(session: Session, user_id: int) -> int:
    """How many of a user's notifications are unread (the badge in the staff navigation); read with
    the user at the start of the request unless this unit of work has written notifications since."""
    facts = per_version.facts_of(session)
    if facts is not None and facts.user_id == user_id:
        return facts.unread
    return int(session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0)


def mark_read(session: Session, principal: Any, notification_id: int, now: datetime) -> dict[str, Any]:
    note = session.get(Notification, notification_id)
    if note is None or note.user_id != principal.user.id:
        raise NotFound(f"no notification {notification_id} of yours")
    note.read_at = note.read_at or now
    number = session.scalar(select(Case.number).where(Case.id == note.case_id)) if note.case_id else None
    return _notification(note, number)


LEDGER_PAGE = 50  # entries per page of the ledger, newest first


def supervision_ledger(session: Session, principal: Any, status: Any, now: datetime,
                       before: Any = None, unit_id: int | None = None) -> dict[str, Any]:
    """挂账督办台账: entries on cases the user can see (their units and the units below them), newest
    first, a page at a time: ``before`` is the id the previous page ended at (keyset: a page of a
    district's ledger reads and renders its 50 rows, not hundreds); ``next_before`` continues.
    ``unit_id``: only the entries of that unit (a department's page), chosen before the page is cut."""
    if status is not None and status not in LEDGER_STATUSES:
        raise Invalid(f"unknown status '{status}'", {"status": " or ".join(LEDGER_STATUSES)})
    if before is not None and not (isinstance(before, str) and before.isdigit() and len(before) < 19):
        raise Invalid("'before' must be the id of a ledger entry", {"before": "an entry id"})
    visible = exists().where(CaseUnit.case_id == SupervisionEntry.case_id,
                             CaseUnit.unit_id.in_(principal.visible_units or [0]))
    target = aliased(Case)
    query = (select(SupervisionEntry, Case, Unit, target.number, User.username, User.name)
             .join(Case, Case.id == SupervisionEntry.case_id).join(Unit, Unit.id == SupervisionEntry.unit_id)
             .outerjoin(target, target.id == SupervisionEntry.transferred_to_id)
             .outerjoin(User, User.id == SupervisionEntry.answered_by_id).where(visible))
    if status:
        query = query.where(SupervisionEntry.status == status)
    if unit_id is not None:
        query = query.where(SupervisionEntry.unit_id == unit_id)
    if before is not None:
        query = query.where(SupervisionEntry.id < int(before))
    rows = session.execute(query.order_by(SupervisionEntry.id.desc()).limit(LEDGER_PAGE + 1)).all()
    more, rows = len(rows) > LEDGER_PAGE, rows[:LEDGER_PAGE]
    rounds = rounds_of(session, [row[0].id for row in rows])
    return {"items": [{**_entry(entry, case, unit, now, target_number, (username, name)),
                       "rounds": rounds.get(entry.id, [])}
                      for entry, case, unit, target_number, username, name in rows],
            "next_before": str(rows[-1][0].id) if more else None}


def _notification(note: Notification, case_number: str | None) -> dict[str, Any]:
    return {"id": note.id, "kind": note.kind, "title": note.title, "body": note.body, "case_id": note.case_id,
            "case_number": case_number, "task_id": note.task_id, "due_at": _iso(note.due_at),
            "created_at": _iso(note.created_at), "read_at": _iso(note.read_at)}


def _entry(entry: SupervisionEntry, case: Case, unit: Unit, now: datetime, target_number: str | None,
           answerer: tuple[str | None, str | None]) -> dict[str, Any]:
    late = _late(entry, now)
    transferred = ({"case_id": entry.transferred_to_id, "case_number": target_number}
                   if entry.transferred_to_id is not None else None)
    answer = None if entry.answered_at is None else {
        "reason": entry.answer_reason, "measures": entry.answer_measures,
        "promised_date": entry.promised_date.isoformat() if entry.promised_date else None,
        "answered_at": _iso(entry.answered_at), "answered_by": answerer[0], "answered_by_name": answerer[1],
    }
    return {"id": entry.id, "case_id": case.id, "case_number": case.number, "case_title": case.title,
            "unit": unit.code, "unit_name": unit.name, "task_type": entry.task_type, "stage": entry.stage,
            "task_id": entry.task_id, "due_at": _iso(entry.due_at), "opened_at": _iso(entry.opened_at),
            "status": entry.status, "closed_at": _iso(entry.closed_at),
            "cleared_at": _iso(entry.closed_at) if entry.status == "cleared" else None,
            "late_minutes": late, "transferred_to": transferred, "answer": answer}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


# The step tells, the ledger listens: the workflow step does not know about 督办.

@workflow.task_completing.connect
def _on_completing(task: Task, *, session: Session, form: dict[str, Any], actor: User | None,
                   task_data: dict[str, Any], now: datetime) -> None:
    if task.form == SUPERVISE_FORM:  # the task's data names the ledger entry it supervises
        supervise(session, task, form, actor, task_data, now)
    elif task.form == ANSWER_FORM:
        answer_supervision(session, task, form, actor, task_data, now)


@workflow.task_completed.connect
def _on_completed(task: Task, *, session: Session, actor: User | None, now: datetime) -> None:
    clear_supervision(session, task, actor, now)  # 销号: late work done strikes its 督办 entries off


@workflow.tasks_withdrawn.connect
def _on_withdrawn(case: Case, *, session: Session, tasks: list[Task], actor: User | None, now: datetime) -> None:
    transfer_supervision(session, case, tasks, actor, now)  # 转办: late work taken away leaves the ledger
