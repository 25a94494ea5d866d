"""A dispatched (grade 2) case past its second limit: the department that never handles it is reminded
at 80 %, supervised at the limit (挂账督办 entry and a 督办 task for its head) and, past the second
limit, loses the case — it goes back to the platform's triage (研判分级) exactly once, to be upgraded to
a whistle or dispatched again. The ledger entry is transferred (转办), the 督办 task withdrawn, the
handling task cancelled. A department on time (or late, but before the second limit) is unaffected.
Clock-driven; every case replays with zero divergence."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.db import Database
from app.models import Case, Task, Timer
from tests.integration.flow import FORMS, TWO_DEPTS, Flow
from tests.integration.test_deadlines import at_monday_morning as at_monday_morning  # the fixture
from tests.integration.test_deadlines import beijing, events, travel, unit_id
from tests.integration.test_supervise_task import ANSWER, replays_cleanly, supervise_tasks
from tests.integration.test_supervision_ledger import ledger
from tests.web.pages_client import Pages, text

DEPT, MATTER = "dept-cgw", "streetlight_broken"  # handling within 24 working hours
HANDLED = {"action": "handled", "result": "已更换灯泡"}
LIMIT_TIMER = "handle_dispatched_limit_timer"


def dispatched(flow: Flow) -> int:
    case_id = int(flow.report(title="路灯不亮")["id"])
    flow.do("op-dc", case_id, "triage", {"grade": 2, "matter": MATTER})
    assert flow.open_types(case_id) == ["handle_dispatched"]
    return case_id


def timers(db: Database, case_id: int, status: str = "waiting") -> dict[str, datetime]:
    with db.unit_of_work() as s:
        return dict(s.execute(select(Timer.name, Timer.due_at).where(
            Timer.case_id == case_id, Timer.status == status)).all())  # type: ignore[arg-type]


def statuses(db: Database, case_id: int) -> list[tuple[str, str]]:
    with db.unit_of_work() as s:
        return sorted(s.execute(select(Task.task_type, Task.status).where(Task.case_id == case_id)).all())  # type: ignore[arg-type]


def never_handled(app: Flask, api: Any) -> tuple[Database, Flow, int]:
    """dept-cgw lets the case lie: reminded, supervised (its head answers nothing), then past the
    second limit the case is back at the platform's triage."""
    db: Database = app.extensions["whistle.db"]
    flow = Flow(api)
    case_id = dispatched(flow)
    due = timers(db, case_id)
    assert set(due) == {"handle_dispatched_remind_timer", "handle_dispatched_overdue_timer", LIMIT_TIMER}
    # the second limit is twice the limit in working time: 48 working hours after dispatch
    assert due["handle_dispatched_overdue_timer"] < due[LIMIT_TIMER] - timedelta(days=2)

    travel(db, due["handle_dispatched_remind_timer"] + timedelta(minutes=1))
    assert len(events(db, case_id, "reminder")) == 1
    travel(db, due["handle_dispatched_overdue_timer"] + timedelta(minutes=1))
    [opened] = events(db, case_id, "supervision_opened")
    assert (opened.data["unit"], opened.data["task"]) == (DEPT, "handle_dispatched")
    [entry] = ledger(api, case_id, "open")
    assert [t["task_type"] for t in supervise_tasks(api, "cgw-head", case_id)] == ["handle_dispatched_head_supervise"]

    travel(db, due[LIMIT_TIMER] - timedelta(minutes=1))
    assert events(db, case_id, "taken_back") == []
    assert flow.open_types(case_id) == ["handle_dispatched", "handle_dispatched_head_supervise"]
    travel(db, due[LIMIT_TIMER] + timedelta(minutes=1))
    assert flow.open_types(case_id) == ["triage"]
    assert [e["id"] for e in ledger(api, case_id, "transferred")] == [entry["id"]]
    return db, flow, case_id


def test_a_dispatched_case_never_handled_goes_back_to_triage_once(
    app: Flask, api: Any, client: FlaskClient, at_monday_morning: None
) -> None:
    db, flow, case_id = never_handled(app, api)
    [taken_back] = events(db, case_id, "taken_back")
    assert {k: taken_back.data[k] for k in ("stage", "task", "from_unit", "to_unit")} == {
        "stage": "handling", "task": "handle_dispatched", "from_unit": DEPT, "to_unit": "dc"}
    assert "第二时限" in taken_back.data["reason"]
    assert (taken_back.actor, taken_back.unit_id) == ("system", unit_id(db, "dc"))  # the platform has it now
    # the handling task and the unanswered 督办 task are withdrawn; the platform's triage is open
    assert statuses(db, case_id) == [("handle_dispatched", "cancelled"), ("handle_dispatched_head_supervise",
                                      "cancelled"), ("triage", "completed"), ("triage", "open")]
    view = flow.case(case_id)
    assert (view["status"], view["return_count"], view["current_step"]) == ("open", 0, "triage")  # not a 回退
    # the late department's entry leaves the open ledger as transferred, with how late it was
    [moved] = ledger(api, case_id, "transferred", user="cgw-head")
    assert (moved["unit"], moved["task_type"], moved["transferred_to"], moved["answer"]) == (
        DEPT, "handle_dispatched", None, None)
    assert ledger(api, case_id, "open") == [] and ledger(api, case_id, "cleared") == []
    [transferred] = events(db, case_id, "supervision_transferred")
    assert transferred.data == {"entry": moved["id"], "task": "handle_dispatched",
                                "late_minutes": moved["late_minutes"], "to_case": None}
    assert moved["late_minutes"] >= 24 * 60  # a working day's limit over at least one more night
    with db.unit_of_work() as s:
        head_task = s.scalar(select(Task.id).where(Task.case_id == case_id,
                                                   Task.task_type == "handle_dispatched_head_supervise"))
    assert api.post("cgw-head", f"/api/tasks/{head_task}/complete", json=ANSWER).status_code == 409
    assert timers(db, case_id) == {}  # the withdrawn stage's timers went with it
    # the late department's head is told the case was taken away (the staff are not)
    [told] = [n for n in api.get("cgw-head", "/api/notifications").get_json()["items"]
              if n["case_id"] == case_id and n["kind"] == "escalation"]
    assert "超期收回" in told["title"] and "重新研判" in told["body"]
    assert [n for n in api.get("cgw-staff", "/api/notifications").get_json()["items"]
            if n["kind"] == "escalation"] == []

    # the platform sees why the case came back on its triage task
    pages = Pages(client)
    pages.login("op-dc")
    triage = flow.task(case_id, "triage")
    page = text(pages.get(f"/tasks/{triage['id']}"))
    assert 'data-testid="escalated-reason"' in page and "部门超过第二时限仍未办理" in page
    head = Pages(client)
    head.login("cgw-head")
    assert "超期收回" in text(head.get("/notifications"))
    # the reporter reads that the platform took it back to re-judge, not that it went up a level
    assert events(db, case_id, "escalated") == []
    with db.unit_of_work() as s:
        code = s.scalar(select(Case.tracking_code).where(Case.id == case_id))
    tracking = Pages(client).get(f"/track/{code}").get_data(as_text=True)
    assert 'data-kind="taken_back"' in tracking and "超期收回，重新研判" in tracking
    assert 'data-kind="escalated"' not in tracking and "上报上级" not in tracking

    travel(db, beijing(30, 17))  # weeks later nothing fires again
    assert [len(events(db, case_id, t)) for t in ("reminder", "supervision_opened", "taken_back",
                                                  "supervision_transferred")] == [1, 1, 1, 1]
    assert flow.open_types(case_id) == ["triage"]
    replays_cleanly(db, case_id)


def test_the_platform_dispatches_it_again_and_the_case_closes(app: Flask, api: Any, at_monday_morning: None) -> None:
    db, flow, case_id = never_handled(app, api)
    flow.do("op-dc", case_id, "triage", {"grade": 2, "matter": MATTER})
    assert flow.open_types(case_id) == ["handle_dispatched"]
    assert len(events(db, case_id, "dispatched")) == 2
    # a new handling limit from the new dispatch: the second round is handled in time
    assert set(timers(db, case_id)) == {"handle_dispatched_remind_timer", "handle_dispatched_overdue_timer",
                                        LIMIT_TIMER}
    flow.do("cgw-staff", case_id, "handle_dispatched", HANDLED)
    flow.do("op-dc", case_id, "verify_dispatched", FORMS["verify_ok"])
    flow.do("op-s1", case_id, "feedback_dispatched", FORMS["feedback"])
    flow.do("callback", case_id, "callback", FORMS["callback"])
    view = flow.case(case_id)
    assert (view["status"], view["outcome"], view["grade"], view["return_count"]) == ("closed", "closed", 2, 0)
    assert len(events(db, case_id, "taken_back")) == 1
    assert [e["status"] for e in ledger(api, case_id)] == ["transferred"]  # the new round was never late
    replays_cleanly(db, case_id)


def test_the_platform_upgrades_it_to_a_whistle_and_the_case_closes(
    app: Flask, api: Any, at_monday_morning: None
) -> None:
    db, flow, case_id = never_handled(app, api)
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"] | {"matter": TWO_DEPTS})
    assert flow.open_types(case_id) == ["prepare_whistle"]
    departments = ["dept-cgzf", "dept-hw"]
    flow.review_chain(case_id, "community")
    flow.report_in_all(case_id, departments)
    flow.do("staff-s1c1", case_id, "coordinate", FORMS["coordinate"])
    flow.handle_all(case_id, departments)
    flow.close_whistle(case_id, "community", departments)
    view = flow.case(case_id)
    assert (view["status"], view["outcome"], view["grade"], view["level"]) == ("closed", "closed", 3, "community")
    assert len(events(db, case_id, "taken_back")) == 1 and len(events(db, case_id, "whistle_started")) == 1
    replays_cleanly(db, case_id)


def test_a_department_on_time_or_late_within_the_second_limit_keeps_the_case(
    app: Flask, api: Any, at_monday_morning: None
) -> None:
    db: Database = app.extensions["whistle.db"]
    flow = Flow(api)
    on_time, late = dispatched(flow), dispatched(flow)
    flow.do("cgw-staff", on_time, "handle_dispatched", HANDLED)
    due = timers(db, late)
    travel(db, due["handle_dispatched_overdue_timer"] + timedelta(hours=2))
    flow.do("cgw-staff", late, "handle_dispatched", HANDLED)  # late, but before the second limit: 销号
    travel(db, due[LIMIT_TIMER] + timedelta(days=3))  # long past the second limit
    for case_id in (on_time, late):
        assert events(db, case_id, "taken_back") == [] and events(db, case_id, "supervision_transferred") == []
        assert LIMIT_TIMER in timers(db, case_id, "cancelled") and LIMIT_TIMER not in timers(db, case_id, "fired")
        assert "triage" not in [t for t, status in statuses(db, case_id) if status == "open"]
    def handling(case_id: int) -> list[str]:
        return [e["status"] for e in ledger(api, case_id) if e["task_type"] == "handle_dispatched"]

    assert (handling(on_time), handling(late)) == ([], ["cleared"])
    for case_id in (on_time, late):  # verification was due meanwhile: its own 督办, answered, then closed
        flow.do("op-dc", case_id, "verify_dispatched", FORMS["verify_ok"])
        flow.do("op-s1", case_id, "feedback_dispatched", FORMS["feedback"])
        flow.do("callback", case_id, "callback", FORMS["callback"])
        assert flow.case(case_id)["status"] == "closed"
        replays_cleanly(db, case_id)
