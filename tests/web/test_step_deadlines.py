"""Every kind of task has a time limit (issue 15): the nine that had none — 研判分级, 备案, 准备吹哨材料,
现场协调, 主责部门确认, 反馈群众, 回访, 评价部门 and the 督办 task — take theirs from config/calendar.yaml's
deadlines (default_hours per stage), so the inbox and the task page show their deadline light."""

from __future__ import annotations

from typing import Any

from flask import Flask

from tests.conftest import Api
from tests.integration.flow import APPROVE, DEPT_USERS, FORMS, Flow
from tests.integration.test_deadlines import at_monday_morning as at_monday_morning  # the fixture
from tests.integration.test_supervise_task import late_cooperating_department, supervise_tasks
from tests.web.pages_client import Pages, text

DEPTS = ["dept-cgzf", "dept-hw"]


def _due(flow: Flow, case_id: int, task_type: str, unit: str | None = None) -> dict[str, Any]:
    task = flow.task(case_id, task_type, unit)
    assert task["due_at"] is not None, f"{task_type} has no deadline"
    return task


def _light(pages: Pages, user: str, task_id: int) -> None:
    pages.logout()
    pages.login(user)
    html = text(pages.get(f"/tasks/{task_id}"))
    assert 'class="light green" data-light="green"' in html, user
    # the inbox row's light is drawn from the same due_at (tests/web/test_inbox.py); in the session's
    # shared database this task may be on a later inbox page, behind older work due sooner


def test_every_step_of_a_street_whistle_has_a_deadline_and_a_light(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = flow.report(title="时限 每一步")["id"]
    _light(pages, "op-dc", _due(flow, case_id, "triage")["id"])
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"] | {"level": "street"})
    _light(pages, "staff-s1", _due(flow, case_id, "prepare_whistle")["id"])
    flow.do("staff-s1", case_id, "prepare_whistle", FORMS["prepare_whistle"])
    for user, step in (("section-s1", "review"), ("deputy-s1", "review"), ("sec-s1", "review_head")):
        flow.do(user, case_id, step, APPROVE)
    _light(pages, "op-dc", _due(flow, case_id, "file_whistle")["id"])
    flow.do("op-dc", case_id, "file_whistle", FORMS["file_whistle"])
    flow.report_in_all(case_id, DEPTS)
    _light(pages, "staff-s1", _due(flow, case_id, "coordinate")["id"])
    flow.do("staff-s1", case_id, "coordinate", FORMS["coordinate"])
    for dept in DEPTS:
        flow.do(f"{DEPT_USERS[dept]}-staff", case_id, "handle", FORMS["handle"], unit=dept)
    _light(pages, "cgzf-head", _due(flow, case_id, "lead_confirm")["id"])
    flow.do("cgzf-head", case_id, "lead_confirm", FORMS["lead_confirm"])
    flow.do("op-dc", case_id, "verify", FORMS["verify_ok"])
    _light(pages, "staff-s1", _due(flow, case_id, "feedback")["id"])
    flow.do("staff-s1", case_id, "feedback", FORMS["feedback"])
    _light(pages, "callback", _due(flow, case_id, "callback")["id"])
    flow.do("callback", case_id, "callback", FORMS["callback"])
    _light(pages, "sec-s1", _due(flow, case_id, "evaluate")["id"])


def test_the_supervision_task_has_a_deadline(app: Flask, api: Any, at_monday_morning: None) -> None:
    _db, _flow, case_id = late_cooperating_department(app, api)
    [task] = supervise_tasks(api, "hw-head", case_id)
    assert task["due_at"] is not None and task["due_at"] > task["created_at"]
