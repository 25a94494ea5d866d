"""督办 for the review chain and verification: at the deadline the secretary who answers for the late
step gets one supervision task — the reviewing or verifying unit's own secretary, or, when the late
step is the secretary's own approval, the secretary of the unit above. The step done withdraws an
unanswered task; an answer is recorded against the late unit's ledger entry. Every case replays."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.db import Database
from app.models import SupervisionEntry, Task, Timer
from app.services import clock
from app.services.deadlines import load_rules
from app.services.worktime import add_working_hours
from tests.integration.flow import APPROVE, FORMS, REVIEWERS, TWO_DEPTS, Flow
from tests.integration.test_deadlines import COOP, LEAD, at_monday_morning, events, travel
from tests.integration.test_supervise_task import (
    ACCEPT,
    ANSWER,
    ISSUE,
    answer_tasks,
    replays_cleanly,
    supervise_tasks,
)

__all__ = ["at_monday_morning"]  # the fixture, used by name below

def waiting_timer(db: Database, case_id: int, timer: str) -> Timer:
    """A waiting deadline timer of the case; created_at is the step its task became ready in."""
    with db.unit_of_work() as s:
        row = s.scalar(select(Timer).where(Timer.case_id == case_id, Timer.name == timer, Timer.status == "waiting"))
        assert row is not None, f"no waiting {timer}"
        s.expunge(row)
        return row


def overdue_at(db: Database, case_id: int, timer: str) -> datetime:
    """When a waiting deadline timer of the case falls due."""
    return waiting_timer(db, case_id, timer).due_at


def own_limit_from_arrival(db: Database, case_id: int, task_type: str) -> datetime:
    """The overdue time of the open ``task_type``: the review limit (config/calendar.yaml, 8 working
    hours) from the step the whistle reached it in."""
    timer = waiting_timer(db, case_id, f"{task_type}_overdue_timer")
    assert timer.due_at == add_working_hours(timer.created_at, load_rules().default_hours["review"])
    return timer.due_at


def whistle_under_review(flow: Flow, level: str) -> int:
    """A whistle whose materials are prepared: the section head's review is open."""
    case = flow.report(title="违规广告", matter=TWO_DEPTS)
    flow.do("op-dc", case["id"], "triage", {**FORMS["triage_whistle"], "level": level})
    flow.do(f"staff-{REVIEWERS[level]['prefix']}", case["id"], "prepare_whistle", FORMS["prepare_whistle"])
    return int(case["id"])


def supervised_when_late(db: Database, api: Any, case_id: int, timer: str, head: str) -> dict[str, Any]:
    """Just before ``timer``'s deadline ``head`` has no 督办 task on the case; just after, exactly one."""
    due = overdue_at(db, case_id, timer)
    travel(db, due - timedelta(minutes=1))
    assert supervise_tasks(api, head, case_id) == []
    travel(db, due + timedelta(minutes=1))
    [task] = supervise_tasks(api, head, case_id)
    return task


def late_head_approval(db: Database, api: Any, flow: Flow, level: str, head: str) -> tuple[int, dict[str, Any]]:
    """A whistle whose section head and deputy approved in time; the secretary's approval is late."""
    case_id = whistle_under_review(flow, level)
    flow.do(f"section-{REVIEWERS[level]['prefix']}", case_id, "review", APPROVE)
    flow.do(f"deputy-{REVIEWERS[level]['prefix']}", case_id, "review", APPROVE)
    return case_id, supervised_when_late(db, api, case_id, "review_head_overdue_timer", head)


def ledger_entry(db: Database, entry_id: int) -> SupervisionEntry:
    with db.unit_of_work() as s:
        entry = s.get(SupervisionEntry, entry_id)
        assert entry is not None
        s.expunge(entry)
        return entry


def test_a_late_section_head_review_gets_the_street_secretary_one_task_the_review_withdraws(
    app: Flask, api: Any, at_monday_morning: None
) -> None:
    db: Database = app.extensions["whistle.db"]
    flow = Flow(api)
    case_id = whistle_under_review(flow, "street")
    task = supervised_when_late(db, api, case_id, "review_overdue_timer", "sec-s1")
    assert (task["task_type"], task["role"], task["unit"], task["stage"]) == (
        "review_head_supervise", "secretary", "dc-s1", "review")
    for other in ("section-s1", "deputy-s1", "sec-s1c1", "sec-dc"):  # the street's secretary's alone
        assert supervise_tasks(api, other, case_id) == []
    travel(db, clock.now() + timedelta(hours=1))  # nothing is due twice
    assert len(supervise_tasks(api, "sec-s1", case_id)) == 1
    assert flow.open_types(case_id) == ["review", "review_head_supervise"]

    flow.do("section-s1", case_id, "review", APPROVE)
    with db.unit_of_work() as s:
        row = s.get(Task, task["id"])
        assert row is not None and row.status == "cancelled"  # withdrawn with the review
    assert api.post("sec-s1", f"/api/tasks/{task['id']}/complete", json=ISSUE).status_code == 409
    [cleared] = events(db, case_id, "supervision_cleared")
    assert cleared.data["task"] == "review"
    # the section head's 督办 is gone, and the deputy's own limit starts now: not late on arrival
    assert [(t["task_type"], t["role"]) for t in flow.case(case_id)["open_tasks"]] == [("review", "deputy_leader")]
    assert supervise_tasks(api, "sec-s1", case_id) == []
    flow.do("deputy-s1", case_id, "review", APPROVE)
    assert events(db, case_id, "supervision_answered") == []
    replays_cleanly(db, case_id)


def test_a_late_head_approval_is_supervised_by_the_secretary_of_the_unit_above(
    app: Flask, api: Any, at_monday_morning: None
) -> None:
    db: Database = app.extensions["whistle.db"]
    flow = Flow(api)
    case_id, task = late_head_approval(db, api, flow, "community", "sec-s1")
    assert supervise_tasks(api, "sec-s1c1", case_id) == []  # the late secretary does not supervise themselves
    assert (task["task_type"], task["role"], task["unit"], task["stage"]) == (
        "review_head_head_supervise", "secretary", "dc-s1", "review")
    [opened] = events(db, case_id, "supervision_opened")
    assert (opened.data["unit"], opened.data["supervisor"], opened.data["task"]) == ("dc-s1-c1", "dc-s1", "review_head")
    notes = api.get("sec-s1", "/api/notifications").get_json()["items"]
    assert [n["kind"] for n in notes if n["case_id"] == case_id] == ["supervision"]
    late_notes = api.get("sec-s1c1", "/api/notifications").get_json()["items"]
    assert "supervision" not in [n["kind"] for n in late_notes if n["case_id"] == case_id]

    # the street's secretary issues the 督办; the late community's secretary answers it (issue 15:
    # the superior is no longer asked to explain the community's lateness)
    assert api.post("sec-s1c1", f"/api/tasks/{task['id']}/complete", json=ISSUE).status_code == 403
    assert api.post("sec-s1", f"/api/tasks/{task['id']}/complete", json=ISSUE).status_code == 200
    [answer] = answer_tasks(api, "sec-s1c1", case_id)
    assert (answer["task_type"], answer["role"], answer["unit"]) == (
        "review_head_supervise_answer", "secretary", "dc-s1-c1")
    assert answer_tasks(api, "sec-s1", case_id) == []
    assert api.post("sec-s1c1", f"/api/tasks/{answer['id']}/complete", json=ANSWER).status_code == 200
    [answered] = events(db, case_id, "supervision_answered")
    assert answered.data == {"entry": opened.data["entry"], "task": "review_head", "round": 1, **ANSWER}
    assert (answered.actor, answered.role) == ("sec-s1c1", "secretary")
    flow.do("sec-s1", case_id, "review_head_head_supervise", ACCEPT)  # 督办办结
    assert events(db, case_id, "supervision_accepted")[0].actor == "sec-s1"
    entry = ledger_entry(db, opened.data["entry"])
    assert entry.status == "open" and entry.task_type == "review_head"
    assert flow.open_types(case_id) == ["review_head"]  # the 督办 does not hold the approval up

    flow.do("sec-s1c1", case_id, "review_head", APPROVE)  # 销号
    assert ledger_entry(db, opened.data["entry"]).status == "cleared"
    assert flow.open_types(case_id) == ["report_in", "report_in"]
    replays_cleanly(db, case_id)


def test_a_late_district_approval_falls_back_to_the_districts_own_secretary(
    app: Flask, api: Any, at_monday_morning: None
) -> None:
    db: Database = app.extensions["whistle.db"]
    flow = Flow(api)
    case_id, task = late_head_approval(db, api, flow, "district", "sec-dc")  # no unit above the district
    assert (task["task_type"], task["unit"]) == ("review_head_head_supervise", "dc")
    flow.do("sec-dc", case_id, "review_head", {"decision": "return", "reason": "材料需补充"})
    assert supervise_tasks(api, "sec-dc", case_id) == []
    assert flow.open_types(case_id) == ["prepare_whistle"]  # the returned decision still steers the chain
    replays_cleanly(db, case_id)


def test_a_late_verification_is_supervised_answered_then_cleared(
    app: Flask, api: Any, at_monday_morning: None
) -> None:
    db: Database = app.extensions["whistle.db"]
    flow = Flow(api)
    case = flow.report(title="违规广告", matter=TWO_DEPTS)
    case_id = int(case["id"])
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"])
    flow.review_chain(case_id, "community")
    flow.report_in_all(case_id, [LEAD, COOP])
    flow.do("staff-s1c1", case_id, "coordinate", FORMS["coordinate"])
    flow.handle_all(case_id, [LEAD, COOP])
    task = supervised_when_late(db, api, case_id, "verify_overdue_timer", "sec-s1")  # the street verifies
    assert (task["task_type"], task["role"], task["unit"], task["stage"]) == (
        "verify_head_supervise", "secretary", "dc-s1", "verification")
    assert supervise_tasks(api, "sec-s1c1", case_id) == []
    assert api.post("sec-s1", f"/api/tasks/{task['id']}/complete", json=ISSUE).status_code == 200
    flow.do("op-s1", case_id, "verify_supervise_answer", ANSWER)  # the late platform answers
    flow.do("sec-s1", case_id, "verify_head_supervise", ACCEPT)
    [opened] = events(db, case_id, "supervision_opened")
    [answered] = events(db, case_id, "supervision_answered")
    assert answered.data == {"entry": opened.data["entry"], "task": "verify", "round": 1, **ANSWER}
    assert answered.actor == "op-s1"
    assert flow.open_types(case_id) == ["verify"]

    flow.do("op-s1", case_id, "verify", FORMS["verify_ok"])  # 销号
    entry = ledger_entry(db, opened.data["entry"])
    assert (entry.status, entry.task_type) == ("cleared", "verify") and entry.late_minutes
    assert flow.open_types(case_id) == ["feedback"]  # the verdict (fixed) left the subprocess
    replays_cleanly(db, case_id)


def test_a_late_grade_2_verification_is_supervised_by_the_district_secretary(
    app: Flask, api: Any, at_monday_morning: None
) -> None:
    db: Database = app.extensions["whistle.db"]
    flow = Flow(api)
    case_id = int(flow.report(title="路灯不亮")["id"])
    flow.do("op-dc", case_id, "triage", {"grade": 2, "matter": "streetlight_broken"})
    flow.do("cgw-staff", case_id, "handle_dispatched", {"action": "handled", "result": "已更换灯泡"})
    task = supervised_when_late(db, api, case_id, "verify_dispatched_overdue_timer", "sec-dc")
    assert (task["task_type"], task["role"], task["unit"], task["stage"]) == (
        "verify_dispatched_head_supervise", "secretary", "dc", "verification")
    assert api.post("sec-dc", f"/api/tasks/{task['id']}/complete", json=ISSUE).status_code == 200
    flow.do("op-dc", case_id, "verify_dispatched_supervise_answer", ANSWER)
    [opened] = events(db, case_id, "supervision_opened")
    assert events(db, case_id, "supervision_answered")[0].data["entry"] == opened.data["entry"]

    flow.do("op-dc", case_id, "verify_dispatched", FORMS["verify_rework"])  # not fixed: back to the department
    assert ledger_entry(db, opened.data["entry"]).status == "cleared"
    assert flow.open_types(case_id) == ["handle_dispatched"]
    replays_cleanly(db, case_id)


# --------------------------------------------------------------------------- each step its own clock
def review_ledger(db: Database, case_id: int, task_type: str) -> list[SupervisionEntry]:
    with db.unit_of_work() as s:
        entries = list(s.scalars(select(SupervisionEntry).where(
            SupervisionEntry.case_id == case_id, SupervisionEntry.task_type == task_type)))
        s.expunge_all()
        return entries


def ledger_of(db: Database, task_id: int) -> list[SupervisionEntry]:
    """The 督办 ledger entries of one inbox task (one step of the chain)."""
    with db.unit_of_work() as s:
        entries = list(s.scalars(select(SupervisionEntry).where(SupervisionEntry.task_id == task_id)))
        s.expunge_all()
        return entries


@pytest.mark.parametrize(("late_user", "late_head", "reached", "reached_user", "reached_head"), [
    ("section-s1", "sec-s1", "review", "deputy-s1", "sec-s1"),  # the street's secretary supervises both
    ("deputy-s1", "sec-s1", "review_head", "sec-s1", "sec-dc"),  # the street secretary's approval: the district's
], ids=["deputy_after_late_section_head", "secretary_after_late_deputy"])
def test_a_reviewer_reached_after_the_previous_steps_deadline_is_not_late_on_arrival(
    app: Flask, api: Any, at_monday_morning: None, late_user: str, late_head: str, reached: str,
    reached_user: str, reached_head: str
) -> None:
    """Each review step has its own 8 working hours from when the whistle reaches it: the earlier
    step's delay is not the next reviewer's (no 督办, no ledger entry until its own limit)."""
    db: Database = app.extensions["whistle.db"]
    flow = Flow(api)
    case_id = whistle_under_review(flow, "street")
    if late_user == "deputy-s1":
        flow.do("section-s1", case_id, "review", APPROVE)  # on time
    supervised_when_late(db, api, case_id, "review_overdue_timer", late_head)
    travel(db, clock.now() + timedelta(hours=2))  # later still
    flow.do(late_user, case_id, "review", APPROVE)

    assert flow.open_types(case_id) == [reached]  # late work's 督办 withdrawn, none for the next step
    assert supervise_tasks(api, reached_head, case_id) == []
    [task] = [t for t in api.get(reached_user, "/api/inbox").get_json()["items"] if t["case_id"] == case_id]
    assert task["task_type"] == reached and not task["overdue"]
    assert ledger_of(db, task["id"]) == []
    due = own_limit_from_arrival(db, case_id, reached)

    supervising = supervised_when_late(db, api, case_id, f"{reached}_overdue_timer", reached_head)
    assert supervising["task_type"] == f"{reached}_head_supervise"
    [entry] = ledger_of(db, task["id"])
    assert (entry.status, entry.due_at) == ("open", due)
    travel(db, clock.now() + timedelta(hours=4))  # nothing is due twice
    assert len(supervise_tasks(api, reached_head, case_id)) == 1
    assert len(ledger_of(db, task["id"])) == 1
    flow.do(reached_user, case_id, reached, APPROVE)  # 销号
    assert [e.status for e in ledger_of(db, task["id"])] == ["cleared"]
    replays_cleanly(db, case_id)


def test_a_return_restarts_the_section_heads_clock(app: Flask, api: Any, at_monday_morning: None) -> None:
    """退回: the resubmitted materials give the section head a new 8 working hours, from the new
    preparation; the first round's deadline no longer counts."""
    db: Database = app.extensions["whistle.db"]
    flow = Flow(api)
    case_id = whistle_under_review(flow, "street")
    first_due = overdue_at(db, case_id, "review_overdue_timer")
    travel(db, first_due - timedelta(hours=1))  # seven of the eight hours used
    flow.do("section-s1", case_id, "review", {"decision": "return", "reason": "材料需补充"})
    travel(db, clock.now() + timedelta(minutes=30))
    flow.do("staff-s1", case_id, "prepare_whistle", FORMS["prepare_whistle"])

    due = own_limit_from_arrival(db, case_id, "review")
    assert due > first_due
    travel(db, first_due + timedelta(minutes=1))  # the first round's deadline: not late
    assert supervise_tasks(api, "sec-s1", case_id) == [] and review_ledger(db, case_id, "review") == []
    supervised_when_late(db, api, case_id, "review_overdue_timer", "sec-s1")
    assert len(review_ledger(db, case_id, "review")) == 1
    flow.do("section-s1", case_id, "review", APPROVE)
    assert [(t["task_type"], t["role"]) for t in flow.case(case_id)["open_tasks"]] == [("review", "deputy_leader")]
    replays_cleanly(db, case_id)


# --------------------------------------------------------------------------- the inbox's deadline
def inbox_deadlines_are_the_overdue_timers(db: Database, case_id: int) -> list[str]:
    """Each open task with a deadline: its inbox row's due_at is its overdue timer's due time. Says
    which task types it compared."""
    with db.unit_of_work() as s:
        rows = list(s.execute(select(Task.task_type, Task.due_at).where(Task.case_id == case_id,
                                                                         Task.status == "open")))
        timers = list(s.execute(select(Timer.name, Timer.due_at).where(Timer.case_id == case_id,
                                                                        Timer.status == "waiting")))
    checked = []
    for task_type in sorted({t for t, _ in rows}):
        overdue = sorted(due for name, due in timers if name == f"{task_type}_overdue_timer")
        if overdue:
            assert sorted(due for t, due in rows if t == task_type) == overdue, task_type
            checked.append(task_type)
    return checked


def test_the_inbox_shows_each_tasks_deadline_as_its_overdue_timer(
    app: Flask, api: Any, at_monday_morning: None
) -> None:
    """Review, report-in, handling and verification rows in the inbox carry the due_at their
    overdue timer (挂账督办) fires at: the same limit, counted from the same step."""
    db: Database = app.extensions["whistle.db"]
    flow = Flow(api)
    checked: list[str] = []

    def step(user: str, case_id: int, task_type: str, form: dict[str, Any], unit: str | None = None) -> None:
        travel(db, clock.now() + timedelta(hours=1, minutes=7))  # every step at its own time
        flow.do(user, case_id, task_type, form, unit=unit)
        checked.extend(inbox_deadlines_are_the_overdue_timers(db, case_id))

    whistle = int(flow.report(title="违规广告", matter=TWO_DEPTS)["id"])
    step("op-dc", whistle, "triage", FORMS["triage_whistle"])
    step("staff-s1c1", whistle, "prepare_whistle", FORMS["prepare_whistle"])
    step("section-s1c1", whistle, "review", APPROVE)
    step("deputy-s1c1", whistle, "review", APPROVE)
    step("sec-s1c1", whistle, "review_head", APPROVE)
    step("cgzf-staff", whistle, "report_in", FORMS["report_in"], unit=LEAD)
    step("hw-staff", whistle, "report_in", FORMS["report_in"], unit=COOP)
    step("staff-s1c1", whistle, "coordinate", FORMS["coordinate"])
    step("cgzf-staff", whistle, "handle", FORMS["handle"], unit=LEAD)
    step("hw-staff", whistle, "handle", FORMS["handle"], unit=COOP)
    step("cgzf-head", whistle, "lead_confirm", FORMS["lead_confirm"])
    [verify] = [t for t in api.get("op-s1", "/api/inbox").get_json()["items"] if t["case_id"] == whistle]
    assert verify["task_type"] == "verify" and verify["due_at"]  # the page and the API show it
    step("op-s1", whistle, "verify", FORMS["verify_ok"])
    replays_cleanly(db, whistle)

    dispatched = int(flow.report(title="路灯不亮")["id"])
    step("op-dc", dispatched, "triage", {"grade": 2, "matter": "streetlight_broken"})
    step("cgw-staff", dispatched, "handle_dispatched", {"action": "handled", "result": "已更换灯泡"})
    replays_cleanly(db, dispatched)
    assert set(checked) == {"review", "review_head", "report_in", "handle", "verify",
                            "handle_dispatched", "verify_dispatched"}
