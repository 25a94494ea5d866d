"""Issue 15, the whistle's own work: report-in with proof of presence (现场照片, 现场位置)."""

from __future__ import annotations

import io

from PIL import Image

from tests.conftest import Api
from tests.integration.flow import FORMS, Flow
from tests.integration.test_bad_input import TRIAGE, assert_error, view


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
