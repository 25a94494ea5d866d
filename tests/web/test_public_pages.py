"""Public pages (no login): report a problem, track it by code, rate the result into the process."""

from __future__ import annotations

import io
import re

from flask.testing import FlaskClient
from PIL import Image

from tests.conftest import Api
from tests.integration.flow import FORMS, Flow
from tests.web.pages_client import Pages, field_errors, text

PLACE = {"place_1": "dc-s1", "place_2": "dc-s1-c1", "place": "dc-s1-c1-g1"}  # 街道 → 社区 → 网格
XSS = "<script>alert(1)</script>"


def _photo() -> io.BytesIO:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(out, "PNG")
    out.seek(0)
    return out


def _report(pages: Pages, **fields: object) -> str:
    pages.get("/report")
    resp = pages.post("/report", {**PLACE, "title": "楼道堆物", "description": "三楼楼道", **fields},
                      content_type="multipart/form-data")
    assert resp.status_code == 302, field_errors(resp)
    code = re.match(r"/track/([0-9A-F]+)\?new=1$", resp.location)
    assert code, resp.location
    return code.group(1)


def _case_id(api: Api, code: str) -> int:
    number = api.get(None, f"/api/public/track/{code}").get_json()["number"]
    return int(number.split("-")[1])


def test_report_page_works_without_login_and_offers_the_pickers(pages: Pages) -> None:
    resp = pages.get("/report")
    html = text(resp)
    assert resp.status_code == 200 and 'name="viewport"' in html
    for name in ("matter", "place_1", "place_2", "place", "address", "title", "description", "photo",
                 "reporter_name", "reporter_phone"):
        assert f'name="{name}"' in html, name
    assert 'value="dc-s1-c1-g1" data-parent="dc-s1-c1"' in html and "和平里社区" in html
    # one picker per level of the tree, labelled with the locality model's unit kinds
    assert [label for label in ("街道", "社区", "网格") if f'">{label}</label>' in html] == ["街道", "社区", "网格"]


def test_a_citizen_reports_with_a_photo_and_gets_a_tracking_code(pages: Pages, api: Api) -> None:
    code = _report(pages, photo=(_photo(), "楼道.png"), reporter_name="张阿姨", reporter_phone="13800000000",
                   matter="garbage_overflow", address="3 号楼")
    html = text(pages.get(f"/track/{code}?new=1"))
    assert f'data-testid="tracking-code">{code}<' in html and "楼道堆物" in html and "办理中" in html
    assert 'data-testid="attachment-thumb"' in html  # the photo, served back by tracking code
    case = Flow(api).case(_case_id(api, code))
    assert (case["channel"], case["matter"], case["address"]) == ("web", "garbage_overflow", "3 号楼")
    assert case["reporter"] == {"name": "张阿姨", "phone": "13800000000"}
    assert [t["task_type"] for t in case["open_tasks"]] == ["triage"]


def test_report_errors_are_shown_and_nothing_is_stored(pages: Pages, api: Api) -> None:
    pages.get("/report")
    resp = pages.post("/report", {**PLACE, "title": "", "reporter_phone": "call me"})
    assert resp.status_code == 422 and sorted(field_errors(resp)) == ["reporter_phone", "title"]
    resp = pages.post("/report", {"place_1": "dc-s2", "place_2": "dc-s1-c1", "place": "dc-s1-c1-g1", "title": "错位"})
    assert resp.status_code == 422 and field_errors(resp) == ["place"]
    resp = pages.post("/report", {"place_1": "dc-s1", "place_2": "dc-s1-c1", "title": "无网格"})
    assert resp.status_code == 422 and field_errors(resp) == ["place"]
    resp = pages.post("/report", {**PLACE, "title": "假照片"} | {"photo": (io.BytesIO(b"MZ not a photo"), "a.png")},
                      content_type="multipart/form-data")
    assert resp.status_code == 422 and field_errors(resp) == ["photo"]
    assert 'value="假照片"' in text(resp)  # what was typed stays
    assert api.get("auditor", "/api/inbox").status_code == 200
    assert "假照片" not in str(api.get("op-dc", "/api/inbox?per_page=100").get_json())


def test_report_without_csrf_token_is_refused(client: FlaskClient) -> None:
    resp = client.post("/report", data={**PLACE, "title": "无令牌"})
    assert resp.status_code == 400


def test_unknown_tracking_code_is_404(pages: Pages) -> None:
    assert pages.get("/track/NOPE0000").status_code == 404
    assert pages.get("/track?code=abc").location == "/track/ABC"
    assert pages.get("/track").status_code == 200


def test_tracking_shows_public_updates_only_and_the_rating_flows_into_the_process(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    code = _report(pages, title=f"公开 {XSS}", reporter_name="李先生", reporter_phone="13900000000")
    case_id = _case_id(api, code)
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"])
    flow.review_chain(case_id, "community")
    flow.report_in_all(case_id, ["dept-cgzf", "dept-hw"])
    flow.do("staff-s1c1", case_id, "coordinate", FORMS["coordinate"])
    flow.handle_all(case_id, ["dept-cgzf", "dept-hw"])
    flow.do("op-s1", case_id, "verify", FORMS["verify_ok"])
    staff = Pages(pages.client.application.test_client())
    staff.login("sec-s1c1")
    staff.get(f"/cases/{case_id}")
    staff.post(f"/cases/{case_id}/comments", {"body": "城管已到场清理", "public": "1"})
    staff.post(f"/cases/{case_id}/comments", {"body": "内部：催办城管", "public": ""})
    flow.do("staff-s1c1", case_id, "feedback", {"feedback": "广告已全部清除，感谢反映", "contacted": True})

    html = text(pages.get(f"/track/{code}"))
    assert 'data-status="rating"' in html and 'id="rate-form"' in html
    assert "城管已到场清理" in html and "广告已全部清除，感谢反映" in html and "内部：催办城管" not in html
    assert "城市管理综合执法局" in html and "部门报到" in html  # units and milestones
    for private in ("sec-s1c1", "staff-s1c1", "op-s1", "cgzf-staff", "13900000000", "李先生", "陈文博"):
        assert private not in html, private
    assert XSS not in html and "&lt;script&gt;" in html

    resp = pages.post(f"/track/{code}/rate", {"comment": "还行"})
    assert resp.status_code == 422 and field_errors(resp) == ["satisfaction"]
    resp = pages.post(f"/track/{code}/rate", {"satisfaction": "basically_satisfied", "comment": "清理及时"})
    assert resp.status_code == 302
    html = text(pages.get(f"/track/{code}"))
    assert "感谢您的评价" in html and 'id="rate-form"' not in html and "基本满意" in html
    view = flow.case(case_id)
    assert view["satisfaction"] == "basically_satisfied"
    assert flow.open_types(case_id) == ["evaluate", "evaluate"]  # the process went on: rate each department
    assert pages.post(f"/track/{code}/rate", {"satisfaction": "satisfied"}).status_code == 409
    flow.do("sec-s1c1", case_id, "evaluate", FORMS["evaluate"])
    flow.do("sec-s1c1", case_id, "evaluate", FORMS["evaluate"])
    assert "已办结" in text(pages.get(f"/track/{code}"))


def test_a_grid_worker_reports_as_themself_and_may_record_a_self_handled_problem(pages: Pages, api: Api) -> None:
    pages.login("gw-s1c1g1")
    html = text(pages.get("/report"))
    assert "随手拍上报" in html and 'name="self_handled"' in html
    form = {**PLACE, "title": "井盖松动 已处置", "self_handled": "1", "photo": (_photo(), "井盖.png")}
    resp = pages.post("/report", form, content_type="multipart/form-data")
    assert resp.status_code == 302 and resp.location.startswith("/cases/")
    case = Flow(api).case(int(resp.location.split("/")[2]))
    assert (case["channel"], case["status"], case["outcome"]) == ("app_photo", "closed", "self_handled")
    assert "井盖.png" in text(pages.get(resp.location))
    other = {"place_1": "dc-s2", "place_2": "dc-s2-c1", "place": "dc-s2-c1-g1"}
    resp = pages.post("/report", {**other, "title": "别的网格", "self_handled": "1"})
    assert resp.status_code == 403  # only the grid's own worker records a self-handled problem


def test_the_reporter_follows_their_problem_into_the_whistle_it_was_escalated_to(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    code = _report(pages, title="社区协调不了的问题")
    case_id = _case_id(api, code)
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"])
    flow.review_chain(case_id, "community")
    flow.report_in_all(case_id, ["dept-cgzf", "dept-hw"])
    flow.do("staff-s1c1", case_id, "coordinate",
            FORMS["coordinate"] | {"decision": "escalate", "escalate_reason": "社区协调不了"})
    [street_number] = flow.case(case_id)["escalated_to"]
    html = text(pages.get(f"/track/{code}"))
    # the street's whistle is under review: it has not blown yet
    assert 'data-status="whistle_review"' in html and f'data-testid="escalated-number">{street_number}<' in html
    assert 'data-kind="escalated"' in html  # the escalation is one of the updates
    assert html.count('data-kind="whistle_started"') == 1  # the community whistle only
    street_id = int(street_number.split("-")[1])
    flow.review_chain(street_id, "street")
    html = text(pages.get(f"/track/{code}"))
    assert 'data-status="open"' in html
    assert html.count('data-kind="whistle_started"') == 2  # the community whistle, then the street's
