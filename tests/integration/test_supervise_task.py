"""督办 as a task: at the deadline the late department's head gets one supervision task in the inbox;
it does not hold the work up, the head's answer is recorded against the ledger entry, and the late
work's completion withdraws an unanswered one. The case still replays with zero divergence."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.db import Database
from app.definitions.versions import bundle_of
from app.models import Case, ProcessVersion, Task, Unit
from app.services import replay
from app.services.audit import verify
from app.services.deadlines import ANSWER_FORM, SUPERVISE_FORM, parse_iso
from app.services.simulate import Simulator
from app.services.validation import validate
from app.services.worktime import load_calendar
from tests.integration.flow import FORMS, Flow
from tests.integration.test_deadlines import (
    COOP,
    LEAD,
    at_monday_morning,
    beijing,
    events,
    travel,
    whistle_at_report_in,
)
from tests.integration.test_openapi import Checker
from tests.integration.test_openapi import doc as doc  # the fixture

__all__ = ["at_monday_morning"]  # the fixture, used by name below

SUPERVISE = "report_in_head_supervise"
ISSUE = {"verdict": "press", "note": "请立即安排人员到场并说明超时原因"}
PRESS = {"verdict": "press", "note": "措施不具体，请今日到场", "answer_hours": 2}
ACCEPT = {"verdict": "accept", "note": "认可，督办办结"}
ANSWER = {"reason": "人员在外执法，未能及时到场", "measures": "已增派两名队员赶赴现场", "promised_date": "2026-06-08"}


def supervise_tasks(api: Any, user: str, case_id: int) -> list[dict[str, Any]]:
    items = api.get(user, "/api/inbox", query_string={"per_page": 100}).get_json()["items"]
    return [t for t in items if t["case_id"] == case_id and t["task_type"].endswith("_head_supervise")]


def answer_tasks(api: Any, user: str, case_id: int) -> list[dict[str, Any]]:
    items = api.get(user, "/api/inbox", query_string={"per_page": 100}).get_json()["items"]
    return [t for t in items if t["case_id"] == case_id and t["task_type"].endswith("_supervise_answer")]


def late_cooperating_department(app: Flask, api: Any) -> tuple[Database, Flow, int]:
    """The lead department reports in on time, the cooperating one is past its deadline (15:00)."""
    db: Database = app.extensions["whistle.db"]
    flow = Flow(api)
    case_id = whistle_at_report_in(flow)
    flow.do("cgzf-staff", case_id, "report_in", FORMS["report_in"], unit=LEAD)
    travel(db, beijing(8, 14, 13))  # the 80 % reminder: no supervision task yet
    assert supervise_tasks(api, "hw-head", case_id) == []
    travel(db, beijing(8, 15, 2))
    return db, flow, case_id


def replays_cleanly(db: Database, case_id: int) -> None:
    with db.unit_of_work() as s:
        assert verify(s, [case_id], snapshots=True).first_break is None
        result = replay.replay_case(s, case_id)
        assert result.ok, result.line()


def test_the_head_issues_the_late_unit_answers_and_the_head_closes_or_presses_again(
    app: Flask, api: Any, at_monday_morning: None
) -> None:
    """督办 the right way round (12345 / grid platforms): the superior issues it with a note and a
    time to answer, the late unit answers (原因, 整改措施, 承诺完成时间), the answer goes back to the
    superior, who presses again (再次督办) or closes it (督办办结); the ledger keeps every round."""
    db, flow, case_id = late_cooperating_department(app, api)
    [task] = supervise_tasks(api, "hw-head", case_id)
    assert (task["task_type"], task["role"], task["unit"], task["stage"]) == (SUPERVISE, "dept_head", COOP, "report_in")
    assert supervise_tasks(api, "cgzf-head", case_id) == []  # the on-time department's head gets none
    detail = api.get("hw-head", f"/api/tasks/{task['id']}").get_json()
    assert detail["can_complete"] and detail["form_schema"]["title"] == "督办"
    assert sorted(detail["form_schema"]["required"]) == ["note", "verdict"]

    travel(db, beijing(8, 15, 30))  # nothing is due twice: still one task
    assert len(supervise_tasks(api, "hw-head", case_id)) == 1
    assert api.post("hw-staff", f"/api/tasks/{task['id']}/complete", json=ISSUE).status_code == 403
    early = api.post("hw-head", f"/api/tasks/{task['id']}/complete", json=ACCEPT)  # nothing answered yet
    assert early.status_code == 422 and "verdict" in early.get_json()["fields"]
    assert events(db, case_id, "supervision_issued") == [] and events(db, case_id, "supervision_accepted") == []

    assert api.post("hw-head", f"/api/tasks/{task['id']}/complete", json=ISSUE).status_code == 200
    [opened] = events(db, case_id, "supervision_opened")
    [issued] = events(db, case_id, "supervision_issued")
    assert {k: issued.data[k] for k in ("entry", "round", "task", "note")} == {
        "entry": opened.data["entry"], "round": 1, "task": "report_in", "note": ISSUE["note"]}
    assert (issued.actor, issued.role) == ("hw-head", "dept_head")
    # the late unit answers: the late task's own role in the late department, not the head
    assert supervise_tasks(api, "hw-head", case_id) == []
    [answer] = answer_tasks(api, "hw-staff", case_id)
    assert (answer["task_type"], answer["role"], answer["unit"]) == ("report_in_supervise_answer", "dept_staff", COOP)
    assert api.get("hw-staff", f"/api/tasks/{answer['id']}").get_json()["form_schema"]["title"] == "督办回复"
    bad = api.post("hw-staff", f"/api/tasks/{answer['id']}/complete", json={**ANSWER, "promised_date": "明天"})
    assert bad.status_code == 422 and "promised_date" in bad.get_json()["fields"]
    assert api.post("hw-staff", f"/api/tasks/{answer['id']}/complete", json=ANSWER).status_code == 200
    [answered] = events(db, case_id, "supervision_answered")
    assert answered.data == {"entry": opened.data["entry"], "task": "report_in", "round": 1, **ANSWER}
    assert (answered.actor, answered.role) == ("hw-staff", "dept_staff")

    # the answer goes back up: 再次督办 with a time of its own, answered again, then 督办办结
    flow.do("hw-head", case_id, SUPERVISE, PRESS, unit=COOP)
    again = flow.task(case_id, "report_in_supervise_answer", COOP)
    # 2 working hours, not the default 8 (compared as working time: the API's whole seconds may put a due
    # at the end of a working day as the next day's start, the same working moment)
    assert load_calendar().hours_between(parse_iso(again["created_at"]), parse_iso(again["due_at"])) == \
        pytest.approx(2, abs=0.01)
    flow.do("hw-staff", case_id, "report_in_supervise_answer", {**ANSWER, "measures": "队员已到场"}, unit=COOP)
    flow.do("hw-head", case_id, SUPERVISE, ACCEPT, unit=COOP)
    [accepted] = events(db, case_id, "supervision_accepted")
    assert accepted.data == {"entry": opened.data["entry"], "round": 2, "note": ACCEPT["note"]}
    # none of it strikes the entry off or holds the work up
    assert flow.open_types(case_id) == ["report_in"]
    [entry] = [e for e in api.get("hw-head", "/api/supervision", query_string={"status": "open"}).get_json()["items"]
               if e["case_id"] == case_id]
    assert entry["id"] == opened.data["entry"]
    assert [(r["number"], r["note"], r["measures"], r["verdict"], r["verdict_note"]) for r in entry["rounds"]] == [
        (1, ISSUE["note"], ANSWER["measures"], "pressed", PRESS["note"]),
        (2, PRESS["note"], "队员已到场", "accepted", ACCEPT["note"])]
    assert entry["answer"]["measures"] == "队员已到场"  # the latest answer

    flow.do("hw-staff", case_id, "report_in", FORMS["report_in"], unit=COOP)  # 销号
    assert len(events(db, case_id, "supervision_cleared")) == 1
    assert flow.open_types(case_id) == ["coordinate"]
    replays_cleanly(db, case_id)


def test_the_late_work_done_withdraws_an_unanswered_supervision_task(
    app: Flask, api: Any, at_monday_morning: None
) -> None:
    db, flow, case_id = late_cooperating_department(app, api)
    [task] = supervise_tasks(api, "hw-head", case_id)
    flow.do("hw-staff", case_id, "report_in", FORMS["report_in"], unit=COOP)
    assert supervise_tasks(api, "hw-head", case_id) == []
    with db.unit_of_work() as s:
        row = s.get(Task, task["id"])
        assert row is not None and row.status == "cancelled"
        assert s.scalars(select(Task.task_type).where(Task.case_id == case_id, Task.status == "open")).all() == [
            "coordinate"]
    assert api.post("hw-head", f"/api/tasks/{task['id']}/complete", json=ISSUE).status_code == 409
    assert len(events(db, case_id, "supervision_cleared")) == 1 and events(db, case_id, "supervision_answered") == []
    replays_cleanly(db, case_id)


def test_the_supervision_task_says_what_is_late(app: Flask, api: Any, at_monday_morning: None) -> None:
    """督办事项 in the task's JSON (and its inbox row): the late unit and task, the deadline, minutes
    late (growing while open, fixed once struck off), whether the late work is still open."""
    db, flow, case_id = late_cooperating_department(app, api)
    [task] = supervise_tasks(api, "hw-head", case_id)
    late = flow.task(case_id, "report_in", COOP)
    [opened] = events(db, case_id, "supervision_opened")
    with db.unit_of_work() as s:
        unit_name = s.scalars(select(Unit.name).where(Unit.code == COOP)).one()
    travel(db, parse_iso(late["due_at"]) + timedelta(minutes=90, seconds=30))
    expected = {"entry": opened.data["entry"], "unit": COOP, "unit_name": unit_name, "task_type": "report_in",
                "task_title": late["title"], "task_id": late["id"], "task_status": "open", "stage": "report_in",
                "due_at": late["due_at"], "late_minutes": 90, "status": "open", "closed_at": None, "rounds": []}
    assert api.get("hw-head", f"/api/tasks/{task['id']}").get_json()["supervision"] == expected
    assert [row["supervision"] for row in supervise_tasks(api, "hw-head", case_id)] == [expected]
    assert api.get("hw-staff", f"/api/tasks/{late['id']}").get_json()["supervision"] is None  # not a 督办 task
    assert api.get("cgw-head", f"/api/tasks/{task['id']}").status_code == 404  # not summoned: sees nothing

    flow.do("hw-staff", case_id, "report_in", FORMS["report_in"], unit=COOP)  # 销号 at 90 minutes late
    travel(db, parse_iso(late["due_at"]) + timedelta(hours=3))
    after = api.get("hw-head", f"/api/tasks/{task['id']}").get_json()  # withdrawn, still readable
    assert after["status"] == "cancelled"
    assert {k: after["supervision"][k] for k in ("task_status", "late_minutes", "status")} == {
        "task_status": "completed", "late_minutes": 90, "status": "cleared"}
    assert after["supervision"]["closed_at"] is not None
    replays_cleanly(db, case_id)


def test_the_supervision_object_is_as_documented(app: Flask, api: Any, doc: dict[str, Any],
                                                 at_monday_morning: None) -> None:
    """The task detail and the inbox row of a 督办 task validate against the OpenAPI document (closed)."""
    _db, _flow, case_id = late_cooperating_department(app, api)
    check = Checker(api, doc)
    [task] = supervise_tasks(api, "hw-head", case_id)
    assert check("hw-head", "get", "/api/tasks/{task_id}", 200, task_id=task["id"])["supervision"]["unit"] == COOP
    page = check("hw-head", "get", "/api/inbox", 200, query_string={"per_page": 100})
    assert [item["supervision"]["unit"] for item in page["items"] if item["case_id"] == case_id] == [COOP]


def test_departments_on_time_get_no_supervision_task(app: Flask, api: Any, at_monday_morning: None) -> None:
    db: Database = app.extensions["whistle.db"]
    flow = Flow(api)
    case_id = whistle_at_report_in(flow)
    flow.report_in_all(case_id, [LEAD, COOP])
    travel(db, beijing(8, 16))
    for head in ("cgzf-head", "hw-head"):
        assert supervise_tasks(api, head, case_id) == []
    assert events(db, case_id, "supervision_opened") == []


def test_a_late_dispatched_case_gets_its_departments_head_a_supervision_task(
    app: Flask, api: Any, at_monday_morning: None
) -> None:
    db: Database = app.extensions["whistle.db"]
    flow = Flow(api)
    case_id = flow.report(title="路灯不亮")["id"]
    flow.do("op-dc", case_id, "triage", {"grade": 2, "matter": "streetlight_broken"})
    due = parse_iso(flow.task(case_id, "handle_dispatched")["due_at"])
    travel(db, due - timedelta(minutes=1))
    assert supervise_tasks(api, "cgw-head", case_id) == []
    travel(db, due + timedelta(minutes=1))
    [task] = supervise_tasks(api, "cgw-head", case_id)
    assert (task["task_type"], task["role"], task["unit"]) == (
        "handle_dispatched_head_supervise", "dept_head", "dept-cgw")
    assert sorted(flow.open_types(case_id)) == ["handle_dispatched", "handle_dispatched_head_supervise"]
    flow.do("cgw-staff", case_id, "handle_dispatched", {"action": "handled", "result": "已更换灯泡"})
    assert supervise_tasks(api, "cgw-head", case_id) == [] and flow.open_types(case_id) == ["verify_dispatched"]
    assert len(events(db, case_id, "supervision_cleared")) == 1
    replays_cleanly(db, case_id)


def test_the_simulator_answers_any_supervision_task(app: Flask) -> None:
    db: Database = app.extensions["whistle.db"]
    simulator = Simulator(db, seed=1)
    with db.unit_of_work() as s:
        bundle = bundle_of(s, s.scalars(select(ProcessVersion.id)).first())
    for task_type, form_name in (("report_in_head_supervise", SUPERVISE_FORM),
                                 ("handle_dispatched_supervise_answer", ANSWER_FORM)):
        form = simulator.form(Task(task_type=task_type, form=form_name), simulator.plan.scenarios[0], 1, Case())
        assert validate(bundle.validator(form_name), form) == form
    # the simulator issues the 督办 first and closes it the next time round
    late = Task(task_type="verify_head_supervise", form=SUPERVISE_FORM)
    issued, closed = (simulator.form(late, simulator.plan.scenarios[0], nth, Case()) for nth in (1, 2))
    assert (issued["verdict"], closed["verdict"]) == ("press", "accept")
