"""Issue 15, the whistle's own work: report-in with proof of presence (现场照片, 现场位置); the
coordination meeting's division of work (分工), each department with its own deadline."""

from __future__ import annotations

import io

from flask import Flask
from PIL import Image

from app.db import Database
from tests.conftest import Api
from tests.integration.flow import FORMS, Flow
from tests.integration.test_bad_input import TRIAGE, assert_error, view
from tests.integration.test_deadlines import COOP, LEAD, beijing, events, travel, whistle_at_report_in
from tests.integration.test_deadlines import at_monday_morning as at_monday_morning  # the fixture


def _png() -> io.BytesIO:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (9, 8, 7)).save(out, "PNG")
    out.seek(0)
    return out


def upload(api: Api, user: str, case_id: int, name: str = "到场.png") -> str:
    resp = api.post(user, f"/api/cases/{case_id}/attachments", data={"files": (_png(), name)},
                    content_type="multipart/form-data")
    assert resp.status_code == 201, resp.get_json()
    return str(resp.get_json()["attachments"][0]["id"])


def at_report_in(api: Api, title: str) -> tuple[Flow, int]:
    flow = Flow(api)
    case_id = int(flow.report(title=title)["id"])
    flow.do("op-dc", case_id, "triage", TRIAGE)
    flow.review_chain(case_id, "community")
    return flow, case_id


def test_a_report_in_keeps_its_photo_and_location_as_the_departments_proof(api: Api) -> None:
    flow, case_id = at_report_in(api, "报到凭证")
    photo = upload(api, "cgzf-staff", case_id)
    form = {**FORMS["report_in"], "photos": [photo], "location": " 39.9289,116.4160 "}
    flow.do("cgzf-staff", case_id, "report_in", form, unit="dept-cgzf")
    flow.do("hw-staff", case_id, "report_in", FORMS["report_in"], unit="dept-hw")  # no proof: still fine

    case = flow.case(case_id)
    proof = {r["department"]: (r.get("photos"), r.get("location")) for r in case["report_ins"]}
    assert proof == {"dept-cgzf": ([photo], "39.9289,116.4160"), "dept-hw": (None, None)}
    [event] = [e for e in case["timeline"] if e["type"] == "reported_in" and e["data"]["department"] == "dept-cgzf"]
    assert event["data"]["photos"] == [photo] and event["data"]["location"] == "39.9289,116.4160"
    [other] = [e for e in case["timeline"] if e["type"] == "reported_in" and e["data"]["department"] == "dept-hw"]
    assert "photos" not in other["data"] and "location" not in other["data"]


def test_a_report_in_photo_must_be_a_file_of_the_case_and_nothing_is_stored_otherwise(api: Api) -> None:
    flow, case_id = at_report_in(api, "报到凭证 越界")
    other_case = int(flow.report(title="别的案件")["id"])
    foreign = upload(api, "gw-s1c1g1", other_case)
    task = flow.task(case_id, "report_in", "dept-cgzf")
    before = view(api, case_id)
    body = assert_error(api.post("cgzf-staff", f"/api/tasks/{task['id']}/complete",
                                 json={**FORMS["report_in"], "photos": [foreign]}), 422, "invalid")
    assert list(body["fields"]) == ["photos.0"]
    body = assert_error(api.post("cgzf-staff", f"/api/tasks/{task['id']}/complete",
                                 json={**FORMS["report_in"], "location": "x" * 301}), 422, "invalid")
    assert list(body["fields"]) == ["location"]
    assert view(api, case_id) == before


# --- 分工: the coordination meeting's division of work, each department with its own deadline ----------


def at_coordinate(api: Api) -> tuple[Flow, int]:
    flow = Flow(api)
    case_id = whistle_at_report_in(flow)
    flow.report_in_all(case_id, [LEAD, COOP])
    return flow, case_id


def test_a_departments_division_of_work_sets_its_own_earlier_deadline(
    app: Flask, api: Api, at_monday_morning: None
) -> None:
    db: Database = app.extensions["whistle.db"]
    flow, case_id = at_coordinate(api)
    division = [{"department": COOP, "task": "清除小广告", "due": "2026-06-09"},  # Tuesday: before the limit
                {"department": LEAD, "task": "查处发布者", "due": "2026-06-30"}]  # after the limit: the limit stands
    flow.do("staff-s1c1", case_id, "coordinate", {**FORMS["coordinate"], "division": division})

    hw, cgzf = flow.task(case_id, "handle", COOP), flow.task(case_id, "handle", LEAD)
    # 24 working hours from Monday 09:00 (08:30-12:00, 14:00-17:30): Thursday noon, i.e. 14:00; 环卫: Tuesday 17:30
    assert cgzf["due_at"].startswith(beijing(11, 14).isoformat()[:16])
    assert hw["due_at"].startswith(beijing(9, 17, 30).isoformat()[:16])
    assert hw["context"]["dept_work"]["task"] == "清除小广告" and hw["context"]["dept_work"]["due_date"] == "2026-06-09"
    assert cgzf["context"]["dept_work"]["task"] == "查处发布者"
    [done] = [e for e in flow.case(case_id)["timeline"] if e["type"] == "task_completed"
              and e["data"].get("task") == "coordinate"]
    assert done["data"]["form"]["division"] == division

    travel(db, beijing(10, 9))  # Wednesday: 环卫 is late on its own date, 城管 is not
    supervised = [(e.data["unit"], e.data["task"]) for e in events(db, case_id, "supervision_opened")]
    assert supervised == [(COOP, "handle")], supervised


def test_a_division_of_work_must_name_summoned_departments_and_dates_ahead(
    api: Api, at_monday_morning: None
) -> None:
    flow, case_id = at_coordinate(api)
    task = flow.task(case_id, "coordinate")
    before = view(api, case_id)
    bad = (([{"department": "dept-gaj", "task": "巡查"}], "division.0.department"),
           ([{"department": COOP, "task": "清除", "due": "2026-06-05"}], "division.0.due"),
           ([{"department": COOP, "task": "清除", "due": "2026-13-45"}], "division.0.due"),
           ([{"department": COOP, "task": "清除"}, {"department": COOP, "task": "再清"}], "division.1.department"),
           ([{"department": COOP, "due": "2026-06-09"}], "division.0.task"))
    for division, field in bad:
        body = assert_error(api.post("staff-s1c1", f"/api/tasks/{task['id']}/complete",
                                     json={**FORMS["coordinate"], "division": division}), 422)
        assert field in body["fields"], (division, body)
    assert view(api, case_id) == before


# --- 退回某部门重办: the lead department sends one department's result back --------------------------


def at_lead_confirm(api: Api, title: str) -> tuple[Flow, int]:
    flow, case_id = at_report_in(api, title)
    flow.report_in_all(case_id, ["dept-cgzf", "dept-hw"])
    flow.do("staff-s1c1", case_id, "coordinate", FORMS["coordinate"])
    for dept, user in (("dept-cgzf", "cgzf-staff"), ("dept-hw", "hw-staff")):
        flow.do(user, case_id, "handle", {"actions": f"{dept} 清理"}, unit=dept)
    return flow, case_id


def test_the_lead_department_sends_one_departments_result_back_and_only_it_handles_again(api: Api) -> None:
    flow, case_id = at_lead_confirm(api, "退回某部门")
    back = {**FORMS["lead_confirm"], "lead_verdict": "return", "return_department": "dept-hw",
            "return_reason": "垃圾未清运干净"}
    flow.do("cgzf-head", case_id, "lead_confirm", back)
    assert [(t["task_type"], t["unit"]) for t in flow.case(case_id)["open_tasks"]] == [("handle", "dept-hw")]
    [event] = [e for e in flow.case(case_id)["timeline"] if e["type"] == "department_returned"]
    assert event["data"] == {"department": "dept-hw", "reason": "垃圾未清运干净"} and event["actor"] == "cgzf-head"

    flow.do("hw-staff", case_id, "handle", {"actions": "二次清运"}, unit="dept-hw")
    flow.do("cgzf-head", case_id, "lead_confirm", FORMS["lead_confirm"])
    assert flow.open_types(case_id) == ["verify"]
    handled = [e["data"]["form"]["actions"] for e in flow.case(case_id)["timeline"]
               if e["type"] == "task_completed" and e["data"].get("task") == "handle"]
    assert handled == ["dept-cgzf 清理", "dept-hw 清理", "二次清运"]  # 城管's result stands, 环卫's redone


def test_sending_back_needs_a_summoned_department_and_a_reason(api: Api) -> None:
    flow, case_id = at_lead_confirm(api, "退回某部门 越界")
    task = flow.task(case_id, "lead_confirm")
    before = view(api, case_id)
    for form, field in (({"lead_verdict": "return", "return_reason": "不合格"}, "return_department"),
                        ({"lead_verdict": "return", "return_department": "dept-hw"}, "return_reason"),
                        ({"lead_verdict": "return", "return_department": "dept-gaj", "return_reason": "x"},
                         "return_department"),
                        ({"lead_verdict": "return", "return_department": "dept-hw", "return_reason": " \u200b"},
                         "return_reason")):
        body = assert_error(api.post("cgzf-head", f"/api/tasks/{task['id']}/complete",
                                     json={**FORMS["lead_confirm"], **form}), 422)
        assert field in body["fields"], (form, body)
    assert view(api, case_id) == before
