"""The call-back agent's page: 未接通 sends the call-back away until the retry is due (the page says
when), 解决情况 is asked apart from 满意度, and the case page's timeline says what happened."""

from __future__ import annotations

from typing import Any

from tests.integration.flow import Flow
from tests.integration.test_callback_retry import at_callback
from tests.web.pages_client import Pages, text


def _submit(pages: Pages, flow: Flow, case_id: int, form: dict[str, str]) -> str:
    task = flow.task(case_id, "callback")
    page = text(pages.get(f"/tasks/{task['id']}"))
    assert 'name="contact" value="not_reached"' in page and 'name="resolution" value="partly_resolved"' in page
    resp = pages.post(f"/tasks/{task['id']}", form)
    assert resp.status_code == 302, text(resp)[:500]
    return text(pages.get(resp.location))


def test_not_reached_waits_for_the_retry_and_the_timeline_says_so(pages: Pages, api: Any) -> None:
    flow = Flow(api)
    case_id = at_callback(flow)
    pages.login("callback")
    html = _submit(pages, flow, case_id, {"contact": "not_reached", "comment": "无人接听"})
    number = flow.case(case_id)["number"]
    assert f"案件 {number} 等待中：稍后再打" in html
    case_html = text(pages.get(f"/cases/{case_id}"))
    assert "未接通，稍后再试" in case_html and "1 / 3" in case_html and "无人接听" in case_html


def test_a_reached_call_back_records_resolution_apart_from_satisfaction(pages: Pages, api: Any) -> None:
    flow = Flow(api)
    case_id = at_callback(flow)
    pages.login("callback")
    html = _submit(pages, flow, case_id, {"contact": "reached", "resolution": "partly_resolved",
                                          "satisfaction": "basically_satisfied"})
    assert "已结案：已解决" in html
    case_html = text(pages.get(f"/cases/{case_id}"))
    assert "<dt>解决情况</dt>" in case_html and "部分解决" in case_html and "基本满意" in case_html
