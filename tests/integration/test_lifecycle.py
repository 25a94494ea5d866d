"""The whole lifecycle end to end through HTTP: every grade, every whistle level, every loop."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.flow import APPROVE, FORMS, TWO_DEPTS, Flow

DEPTS = ["dept-cgzf", "dept-hw"]


@pytest.fixture()
def flow(api: Any) -> Flow:
    return Flow(api)


def _triaged_whistle(flow: Flow, level: str = "community") -> int:
    case = flow.report(title=f"{level} 违规广告")
    flow.do("op-dc", case["id"], "triage", FORMS["triage_whistle"] | {"level": level})
    return case["id"]


def test_grade_1_self_handled_is_recorded_and_closed(flow: Flow) -> None:
    case = flow.report(title="井盖松动已自行处置", self_handled=True)
    view = flow.case(case["id"])
    assert (view["status"], view["outcome"], view["grade"]) == ("closed", "self_handled", 1)
    assert view["open_tasks"] == []
    assert [e["type"] for e in view["timeline"]][:1] == ["case_created"]
    assert "case_closed" in [e["type"] for e in view["timeline"]]


def test_grade_2_dispatched_handled_verified_closed(flow: Flow) -> None:
    case_id = flow.report(title="路灯不亮")["id"]
    assert flow.open_types(case_id) == ["triage"]
    flow.do("op-dc", case_id, "triage", {"grade": 2, "matter": "streetlight_broken"})
    task = flow.task(case_id, "handle_dispatched")
    assert (task["unit"], task["role"]) == ("dept-cgw", "dept_staff")
    flow.do("cgw-staff", case_id, "handle_dispatched", {"action": "handled", "result": "已更换灯泡"})
    # completed, not cancelled: the step after it runs no handler that writes (nothing flushed before the sync)
    done = flow.api.get("auditor", f"/api/tasks/{task['id']}").get_json()
    assert done["status"] == "completed"
    flow.do("op-dc", case_id, "verify_dispatched", FORMS["verify_ok"])
    flow.do("op-s1", case_id, "feedback_dispatched", FORMS["feedback"])
    flow.do("callback", case_id, "callback", FORMS["callback"] | {"satisfaction": "basically_satisfied"})
    view = flow.case(case_id)
    assert (view["status"], view["outcome"], view["grade"]) == ("closed", "closed", 2)
    assert view["satisfaction"] == "basically_satisfied"
    assert view["category"] == "transport_municipal"


def test_grade_2_sent_back_then_rejudged_as_whistle(flow: Flow) -> None:
    case_id = flow.report(title="占道经营")["id"]
    flow.do("op-dc", case_id, "triage", {"grade": 2, "matter": "food_safety_complaint"})
    flow.do("scjg-staff", case_id, "handle_dispatched", {"action": "returned", "reason": "不属于本部门职责"})
    assert flow.open_types(case_id) == ["triage"]
    assert flow.case(case_id)["return_count"] == 1
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"])
    assert flow.open_types(case_id) == ["prepare_whistle"]


def test_grade_2_rework_loop_counts_rework(flow: Flow) -> None:
    case_id = flow.report(title="公厕故障")["id"]
    flow.do("op-dc", case_id, "triage", {"grade": 2, "matter": "public_toilet_fault"})
    flow.do("hw-staff", case_id, "handle_dispatched", {"action": "handled", "result": "修好"})
    flow.do("op-dc", case_id, "verify_dispatched", FORMS["verify_rework"])
    assert flow.open_types(case_id) == ["handle_dispatched"]
    assert flow.case(case_id)["rework_count"] == 1


def test_community_whistle_full_lifecycle_with_evaluation_per_department(flow: Flow) -> None:
    case_id = _triaged_whistle(flow)
    flow.review_chain(case_id, "community")
    assert flow.open_types(case_id) == ["report_in", "report_in"]
    assert {t["unit"] for t in flow.case(case_id)["open_tasks"]} == set(DEPTS)
    flow.report_in_all(case_id, DEPTS)
    flow.do("staff-s1c1", case_id, "coordinate", FORMS["coordinate"])
    flow.handle_all(case_id, DEPTS)
    flow.close_whistle(case_id, "community", DEPTS)
    view = flow.case(case_id)
    assert (view["status"], view["outcome"], view["level"], view["grade"]) == ("closed", "closed", "community", 3)
    assert view["units"]["whistle"] == "dc-s1-c1"
    assert {r["department"]: r["duty"] for r in view["report_ins"]} == {"dept-cgzf": "lead", "dept-hw": "cooperating"}
    assert all(r["on_time"] for r in view["report_ins"])
    assert sorted(e["department"] for e in view["evaluations"]) == DEPTS
    assert all(e["score"] == 4.5 for e in view["evaluations"])
    assert view["satisfaction"] == "satisfied"


def test_street_whistle_is_filed_with_the_district(flow: Flow) -> None:
    case_id = _triaged_whistle(flow, "street")
    flow.review_chain(case_id, "street")  # includes file_whistle by op-dc
    assert flow.open_types(case_id) == ["report_in", "report_in"]
    assert "task_completed" in [e["type"] for e in flow.case(case_id)["timeline"]]


def test_district_whistle_runs_to_closure(flow: Flow) -> None:
    case_id = _triaged_whistle(flow, "district")
    flow.review_chain(case_id, "district")
    flow.report_in_all(case_id, DEPTS)
    flow.do("staff-dc", case_id, "coordinate", FORMS["coordinate"])
    flow.handle_all(case_id, DEPTS)
    flow.close_whistle(case_id, "district", DEPTS)
    assert flow.case(case_id)["status"] == "closed"


def test_secretary_blows_a_whistle_directly(flow: Flow) -> None:
    case = flow.report("sec-s1c1", title="消防通道堵塞", whistle_level="community", matter=TWO_DEPTS)
    assert flow.open_types(case["id"]) == ["prepare_whistle"]


# The demo's review chain (config/locality.yaml): section head, then deputy, then the secretary's approval.
CHAIN = [("review", "section-s1c1"), ("review", "deputy-s1c1"), ("review_head", "sec-s1c1")]


@pytest.mark.parametrize("returned_at", [0, 1, 2], ids=["section_head", "deputy_leader", "head"])
def test_review_chain_return_and_resubmit(flow: Flow, returned_at: int) -> None:
    case_id = _triaged_whistle(flow)
    flow.do("staff-s1c1", case_id, "prepare_whistle", FORMS["prepare_whistle"])
    for step, (task, user) in enumerate(CHAIN):
        if step == returned_at:
            flow.do(user, case_id, task, {"decision": "return", "reason": "材料不全"})
            break
        flow.do(user, case_id, task, APPROVE)
    assert flow.open_types(case_id) == ["prepare_whistle"]
    flow.review_chain(case_id, "community")
    assert flow.open_types(case_id) == ["report_in", "report_in"]


def test_review_return_needs_a_reason(flow: Flow) -> None:
    case_id = _triaged_whistle(flow)
    flow.do("staff-s1c1", case_id, "prepare_whistle", FORMS["prepare_whistle"])
    body = flow.do("section-s1c1", case_id, "review", {"decision": "return"}, expect=422)
    assert "reason" in body["fields"]
    assert flow.open_types(case_id) == ["review"]


def test_whistle_rework_loop(flow: Flow) -> None:
    case_id = _triaged_whistle(flow)
    flow.review_chain(case_id, "community")
    flow.report_in_all(case_id, DEPTS)
    flow.do("staff-s1c1", case_id, "coordinate", FORMS["coordinate"])
    flow.handle_all(case_id, DEPTS)
    flow.do("op-s1", case_id, "verify", FORMS["verify_rework"])
    assert flow.open_types(case_id) == ["handle", "handle"]
    assert flow.case(case_id)["rework_count"] == 1
    flow.handle_all(case_id, DEPTS)
    flow.close_whistle(case_id, "community", DEPTS)
    assert flow.case(case_id)["status"] == "closed"


def test_escalation_community_to_street_to_district(flow: Flow) -> None:
    case_id = _triaged_whistle(flow)
    flow.review_chain(case_id, "community")
    flow.report_in_all(case_id, DEPTS)
    escalate = FORMS["coordinate"] | {"decision": "escalate", "escalate_reason": "社区协调不了"}
    flow.do("staff-s1c1", case_id, "coordinate", escalate)
    first = flow.case(case_id)
    assert (first["status"], first["outcome"]) == ("closed", "escalated")
    [street_number] = first["escalated_to"]

    street = _child(flow, case_id)
    created = street["timeline"][0]  # the new whistle is the escalating user's doing, not the reporter's
    assert (created["type"], created["actor"]) == ("case_created", "staff-s1c1")
    assert street["level"] == "street" and street["parent_case"] == first["number"] == street["parent_case"]
    assert street["number"] == street_number
    flow.review_chain(street["id"], "street")
    flow.report_in_all(street["id"], DEPTS)
    flow.do("staff-s1", street["id"], "coordinate", escalate | {"escalate_reason": "街道协调不了"})

    district = _child(flow, street["id"])
    assert district["level"] == "district"
    flow.review_chain(district["id"], "district")
    flow.report_in_all(district["id"], DEPTS)
    # the district is the top level here: escalation is not possible, the whistle proceeds
    flow.do("staff-dc", district["id"], "coordinate", escalate)
    assert flow.open_types(district["id"]) == ["handle", "handle"]


def _child(flow: Flow, case_id: int) -> dict[str, Any]:
    number = flow.case(case_id)["escalated_to"][0]
    resp = flow.api.get("auditor", f"/api/cases/{int(number.split('-')[1])}")
    assert resp.status_code == 200
    return resp.get_json()


def test_each_step_is_one_new_version_named_by_its_events(flow: Flow, app: Any) -> None:
    from app.models import Case

    case_id = flow.report(title="版本")["id"]

    def version() -> int:
        with app.extensions["whistle.db"].sessions() as s:
            return s.get(Case, case_id).version

    first = version()
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"])
    assert version() == first + 1
    timeline = flow.case(case_id)["timeline"]
    start = next(i for i, e in enumerate(timeline) if e["type"] == "task_completed")
    assert {e["state_version"] for e in timeline[:start]} == {first}
    assert {e["state_version"] for e in timeline[start:]} == {first + 1}
