"""督办 for the review chain and verification: at the deadline the secretary who answers for the late
step gets one supervision task — the reviewing or verifying unit's own secretary, or, when the late
step is the secretary's own approval, the secretary of the unit above. The step done withdraws an
unanswered task; an answer is recorded against the late unit's ledger entry. Every case replays."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from app.db import Database
from app.models import SupervisionEntry, Task, Timer
from app.services import clock
from tests.integration.flow import APPROVE, FORMS, REVIEWERS, TWO_DEPTS, Flow
from tests.integration.test_deadlines import COOP, LEAD, at_monday_morning, events, travel
from tests.integration.test_supervise_task import ANSWER, replays_cleanly, supervise_tasks

__all__ = ["at_monday_morning"]  # the fixture, used by name below

def overdue_at(db: Database, case_id: int, timer: str) -> datetime:
    """When a waiting deadline timer of the case falls due."""
    with db.unit_of_work() as s:
        due = s.scalar(select(Timer.due_at).where(Timer.case_id == case_id, Timer.name == timer,
                                                  Timer.status == "waiting"))
    assert due is not None, f"no waiting {timer}"
    return due


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
    flow.do(f"section-{REVIEWERS[level]['prefix']}", case_id, "review_section", APPROVE)
    flow.do(f"deputy-{REVIEWERS[level]['prefix']}", case_id, "review_deputy", APPROVE)
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
    task = supervised_when_late(db, api, case_id, "review_section_overdue_timer", "sec-s1")
    assert (task["task_type"], task["role"], task["unit"], task["stage"]) == (
        "review_section_head_supervise", "secretary", "dc-s1", "review")
    for other in ("section-s1", "deputy-s1", "sec-s1c1", "sec-dc"):  # the street's secretary's alone
        assert supervise_tasks(api, other, case_id) == []
    travel(db, clock.now() + timedelta(hours=1))  # nothing is due twice
    assert len(supervise_tasks(api, "sec-s1", case_id)) == 1
    assert flow.open_types(case_id) == ["review_section", "review_section_head_supervise"]

    flow.do("section-s1", case_id, "review_section", APPROVE)
    with db.unit_of_work() as s:
        row = s.get(Task, task["id"])
        assert row is not None and row.status == "cancelled"  # withdrawn with the review
    assert api.post("sec-s1", f"/api/tasks/{task['id']}/complete", json=ANSWER).status_code == 409
    [cleared] = events(db, case_id, "supervision_cleared")
    assert cleared.data["task"] == "review_section"
    # the stage's deadline has passed for the deputy too: a 督办 of its own, the section head's is gone
    assert flow.open_types(case_id) == ["review_deputy", "review_deputy_head_supervise"]
    [deputy] = supervise_tasks(api, "sec-s1", case_id)
    assert (deputy["task_type"], deputy["unit"]) == ("review_deputy_head_supervise", "dc-s1")
    flow.do("deputy-s1", case_id, "review_deputy", APPROVE)
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

    assert api.post("sec-s1c1", f"/api/tasks/{task['id']}/complete", json=ANSWER).status_code == 403
    assert api.post("sec-s1", f"/api/tasks/{task['id']}/complete", json=ANSWER).status_code == 200
    [answered] = events(db, case_id, "supervision_answered")
    # recorded against the community's ledger entry, though the street answers it
    assert answered.data == {"entry": opened.data["entry"], "task": "review_head", **ANSWER}
    assert (answered.actor, answered.role) == ("sec-s1", "secretary")
    entry = ledger_entry(db, opened.data["entry"])
    assert entry.status == "open" and entry.task_type == "review_head"
    assert flow.open_types(case_id) == ["review_head"]  # the answer does not hold the approval up

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
    assert api.post("sec-s1", f"/api/tasks/{task['id']}/complete", json=ANSWER).status_code == 200
    [opened] = events(db, case_id, "supervision_opened")
    [answered] = events(db, case_id, "supervision_answered")
    assert answered.data == {"entry": opened.data["entry"], "task": "verify", **ANSWER}
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
    assert api.post("sec-dc", f"/api/tasks/{task['id']}/complete", json=ANSWER).status_code == 200
    [opened] = events(db, case_id, "supervision_opened")
    assert events(db, case_id, "supervision_answered")[0].data["entry"] == opened.data["entry"]

    flow.do("op-dc", case_id, "verify_dispatched", FORMS["verify_rework"])  # not fixed: back to the department
    assert ledger_entry(db, opened.data["entry"]).status == "cleared"
    assert flow.open_types(case_id) == ["handle_dispatched"]
    replays_cleanly(db, case_id)
