"""Triage on its page: the matter picker starts at the reporter's matter, 退单/无效件 closes the case
with a reason the reporter sees, and the page says where the case went."""

from __future__ import annotations

import re

from flask import Flask

from app.models import Case
from tests.conftest import Api
from tests.integration.flow import Flow
from tests.web.pages_client import Pages, field_errors, text


def _selected(html: str, name: str) -> list[str]:
    select = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert select, f"no picker {name}"
    return re.findall(r'<option[^>]*value="([^"]*)"[^>]*selected', select.group(1))


def test_the_matter_picker_starts_at_the_reported_matter(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = flow.report(title="占道经营", matter="street_vending")["id"]
    task = flow.task(case_id, "triage")
    pages.login("op-dc")
    html = text(pages.get(f"/tasks/{task['id']}"))
    assert _selected(html, "matter") == ["street_vending"]


def _triage(pages: Pages, flow: Flow, case_id: int, form: dict[str, str]) -> str:
    """Submit the triage on its page as the platform operator; the inbox page it lands on."""
    task = flow.task(case_id, "triage")
    pages.login("op-dc")
    pages.get(f"/tasks/{task['id']}")
    resp = pages.post(f"/tasks/{task['id']}", form)
    assert resp.status_code == 302, text(resp)[:500]
    return text(pages.get(resp.location))


def test_a_dispatch_says_which_department_got_the_case(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = flow.report(title="路灯不亮")["id"]
    html = _triage(pages, flow, case_id, {"grade": "2", "matter": "streetlight_broken"})
    number = flow.case(case_id)["number"]
    assert f"案件 {number} 已转到：城市管理委员会 · 部门办理" in html


def test_a_whistle_says_at_which_unit_its_review_starts(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = flow.report(title="违规广告")["id"]
    html = _triage(pages, flow, case_id, {"grade": "3", "matter": "illegal_advertising", "level": "community"})
    assert "已转到：和平里社区 · 准备吹哨材料" in html


def test_an_invalid_report_is_closed_with_its_reason_and_the_reporter_is_told(app: Flask, pages: Pages,
                                                                              api: Api) -> None:
    flow = Flow(api)
    case_id = flow.report(title="测试 乱码")["id"]
    html = _triage(pages, flow, case_id, {"grade": "0", "reject_reason": "内容与本区无关，已告知拨打 12345"})
    view = flow.case(case_id)
    assert (view["status"], view["outcome"], view["open_tasks"]) == ("closed", "invalid", [])
    assert f"案件 {view['number']} 已结案：退单（无效件）" in html
    closed = [e for e in view["timeline"] if e["type"] == "case_closed"]
    assert closed[-1]["data"] == {"outcome": "invalid", "reason": "内容与本区无关，已告知拨打 12345"}
    case_html = text(pages.get(f"/cases/{case_id}"))
    assert "退单（无效件）：内容与本区无关，已告知拨打 12345" in case_html  # the staff timeline
    with app.extensions["whistle.db"].unit_of_work() as s:
        code = s.get(Case, case_id).tracking_code
    track = text(pages.get(f"/track/{code}"))
    assert "退单（无效件）" in track and "内容与本区无关，已告知拨打 12345" in track


def test_an_invalid_report_needs_a_reason(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = flow.report(title="无理由退单")["id"]
    task = flow.task(case_id, "triage")
    pages.login("op-dc")
    pages.get(f"/tasks/{task['id']}")
    resp = pages.post(f"/tasks/{task['id']}", {"grade": "0", "reject_reason": ""})
    assert resp.status_code == 422 and "reject_reason" in field_errors(resp)
    assert flow.case(case_id)["status"] == "open" and flow.open_types(case_id) == ["triage"]
