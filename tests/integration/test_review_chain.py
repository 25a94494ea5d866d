"""The review chain (审核链) is data: each whistle level's ``review_chain`` in config/locality.yaml
names the reviewers' roles in order, and the diagram's one supervised ``review`` task walks them
before the secretary's approval (``review_head``). Every case here replays (tests/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from app.db import Database
from app.definitions.versions import read_files
from app.services.locality import LOCALITY_FILE
from app.settings import ROOT
from tests.conftest import Api
from tests.integration.flow import APPROVE, FORMS, Flow
from tests.integration.test_deadlines import at_monday_morning, events
from tests.integration.test_supervise_review import supervised_when_late, whistle_under_review
from tests.integration.test_supervise_task import ANSWER, ISSUE, answer_tasks, replays_cleanly, supervise_tasks

__all__ = ["at_monday_morning"]  # the fixture, used by name below

RETURN = {"decision": "return", "reason": "材料需补充"}
SHIPPED = LOCALITY_FILE.read_text(encoding="utf-8")


@pytest.fixture()
def flow(api: Any) -> Flow:
    return Flow(api)


def open_review(flow: Flow, case_id: int) -> tuple[str, str]:
    """The open review step's role and title."""
    [task] = [t for t in flow.case(case_id)["open_tasks"] if t["task_type"] == "review"]
    return task["role"], task["title"]


def test_the_chain_walks_each_reviewer_in_order_each_titled_by_role(flow: Flow) -> None:
    case_id = whistle_under_review(flow, "community")
    assert open_review(flow, case_id) == ("section_head", "专项负责人审核 Section head review")
    # the deputy's step has not come: the section head's task is not theirs
    task = flow.task(case_id, "review")
    assert flow.api.post("deputy-s1c1", f"/api/tasks/{task['id']}/complete", json=APPROVE).status_code == 403
    flow.do("section-s1c1", case_id, "review", APPROVE)
    assert open_review(flow, case_id) == ("deputy_leader", "分管领导审核 Deputy in charge review")
    flow.do("deputy-s1c1", case_id, "review", APPROVE)
    assert flow.open_types(case_id) == ["review_head"]
    flow.do("sec-s1c1", case_id, "review_head", APPROVE)
    assert flow.open_types(case_id) == ["report_in", "report_in"]
    ready = [e["data"]["title"] for e in flow.case(case_id)["timeline"] if e["type"] == "task_ready"]
    assert ready[2:5] == ["专项负责人审核 Section head review", "分管领导审核 Deputy in charge review",
                          "主要领导审定并吹哨 Head approves and blows the whistle"]


def test_a_return_at_the_second_reviewer_goes_back_to_prepare_and_the_chain_restarts(flow: Flow) -> None:
    case_id = whistle_under_review(flow, "street")
    flow.do("section-s1", case_id, "review", APPROVE)
    flow.do("deputy-s1", case_id, "review", RETURN)
    assert flow.open_types(case_id) == ["prepare_whistle"]
    flow.do("staff-s1", case_id, "prepare_whistle", FORMS["prepare_whistle"])
    assert open_review(flow, case_id)[0] == "section_head"  # from the first step again
    flow.do("section-s1", case_id, "review", APPROVE)
    assert open_review(flow, case_id)[0] == "deputy_leader"
    flow.do("deputy-s1", case_id, "review", APPROVE)
    flow.do("sec-s1", case_id, "review_head", APPROVE)
    assert flow.open_types(case_id) == ["file_whistle"]


def test_a_late_second_reviewer_is_supervised_by_the_whistling_units_secretary(
    app: Flask, api: Any, flow: Flow, at_monday_morning: None
) -> None:
    db: Database = app.extensions["whistle.db"]
    case_id = whistle_under_review(flow, "street")
    flow.do("section-s1", case_id, "review", APPROVE)  # on time
    task = supervised_when_late(db, api, case_id, "review_overdue_timer", "sec-s1")
    assert (task["task_type"], task["role"], task["unit"]) == ("review_head_supervise", "secretary", "dc-s1")
    [opened] = events(db, case_id, "supervision_opened")
    assert (opened.data["task"], opened.data["unit"], opened.data["supervisor"]) == ("review", "dc-s1", "dc-s1")
    assert supervise_tasks(api, "deputy-s1", case_id) == [] and supervise_tasks(api, "sec-dc", case_id) == []
    assert api.post("sec-s1", f"/api/tasks/{task['id']}/complete", json=ISSUE).status_code == 200
    # the late reviewer answers the secretary's 督办
    assert [t["task_type"] for t in answer_tasks(api, "deputy-s1", case_id)] == ["review_supervise_answer"]
    flow.do("deputy-s1", case_id, "review_supervise_answer", ANSWER)
    flow.do("deputy-s1", case_id, "review", APPROVE)  # 销号, and the 督办 waiting on the answer is withdrawn
    [cleared] = events(db, case_id, "supervision_cleared")
    assert cleared.data["entry"] == opened.data["entry"]
    assert flow.open_types(case_id) == ["review_head"]
    replays_cleanly(db, case_id)


def test_an_empty_chain_goes_from_prepare_straight_to_the_secretarys_approval(own_app: Flask) -> None:
    """An admin empties the community level's chain in config/locality.yaml and deploys: a new
    whistle goes from the staff straight to the secretary; a whistle already under review keeps the
    chain it started with (its version's)."""
    api = Api(own_app.test_client(), {})
    flow = Flow(api)
    before = whistle_under_review(flow, "community")
    level = SHIPPED.index("    label: {zh: 社区哨")
    old = "    review_chain: [section_head, deputy_leader]\n"
    at = SHIPPED.index(old, level)  # the community level's own chain, the first after its label
    files = read_files(ROOT / "processes")
    edited = SHIPPED[:at] + "    review_chain: []\n" + SHIPPED[at + len(old):]
    answer = api.post("admin", "/api/processes", json={"files": {**files, "config/locality.yaml": edited}})
    assert answer.status_code in (200, 201), answer.get_json()

    case_id = whistle_under_review(flow, "community")
    assert flow.open_types(case_id) == ["review_head"]
    flow.do("sec-s1c1", case_id, "review_head", RETURN)
    assert flow.open_types(case_id) == ["prepare_whistle"]
    flow.do("staff-s1c1", case_id, "prepare_whistle", FORMS["prepare_whistle"])
    flow.do("sec-s1c1", case_id, "review_head", APPROVE)
    assert flow.open_types(case_id) == ["report_in", "report_in"]

    assert open_review(flow, before)[0] == "section_head"  # started on the four-step chain
    flow.do("section-s1c1", before, "review", APPROVE)
    flow.do("deputy-s1c1", before, "review", APPROVE)
    flow.do("sec-s1c1", before, "review_head", APPROVE)
    db: Database = own_app.extensions["whistle.db"]
    for case in (before, case_id):
        replays_cleanly(db, case)
