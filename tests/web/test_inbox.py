"""The inbox page: my tasks grouped by type with counts, deadline lights, filters, claim, pages."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from app.services import clock
from app.web.labels import deadline_light
from tests.conftest import Api
from tests.integration.flow import Flow
from tests.web.pages_client import Pages, text


def _rows(html: str) -> list[dict[str, str]]:
    return [dict(re.findall(r'data-([a-z-]+)="([^"]*)"', row))
            for row in re.findall(r'<tr data-testid="task-row"([^>]*)>', html)]


def test_deadline_light_green_yellow_red() -> None:
    start = datetime(2026, 5, 1, 8, 0)
    due = start + timedelta(hours=10)
    assert deadline_light(start, due, start + timedelta(hours=7, minutes=59)) == "green"
    assert deadline_light(start, due, start + timedelta(hours=8)) == "yellow"  # 80 % of the limit used
    assert deadline_light(start, due, due - timedelta(seconds=1)) == "yellow"
    assert deadline_light(start, due, due) == "red"
    assert deadline_light(start.isoformat() + "Z", due.isoformat() + "Z", due + timedelta(days=3)) == "red"
    assert deadline_light(start, None, start) is None


def test_inbox_lists_my_tasks_grouped_by_type(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case = flow.report(title="收件箱 垃圾满溢")
    pages.login("op-dc")
    html = text(pages.get("/"))
    rows = _rows(html)
    mine = [r for r in rows if r["case-id"] == str(case["id"])] or _find(pages, case["id"])
    assert mine and mine[0]["task-type"] == "triage"
    assert 'data-testid="group-triage"' in html
    count = int(re.search(r'data-testid="group-triage"[^>]*>[^<]*<b>(\d+)</b>', html).group(1))
    assert count >= 1
    assert "研判分级" in html  # the task title in Chinese, not "Triage"


def _find(pages: Pages, case_id: int) -> list[dict[str, str]]:
    """Look through the pages of the inbox for the case's row."""
    for page in range(1, 50):
        rows = _rows(text(pages.get(f"/?page={page}")))
        if not rows:
            return []
        if hits := [r for r in rows if r["case-id"] == str(case_id)]:
            return hits
    return []


def test_a_grid_worker_has_no_triage_tasks_and_sees_an_empty_inbox(pages: Pages, api: Api) -> None:
    Flow(api).report(title="网格员 收件箱")
    pages.login("gw-s1c1g1")
    html = text(pages.get("/"))
    assert 'data-task-type="triage"' not in html


def test_filters_and_pages(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    for n in range(22):
        flow.report(title=f"分页 {n}")
    pages.login("op-dc")
    first = text(pages.get("/?task_type=triage"))
    assert len(_rows(first)) == 20 and 'data-testid="next-page"' in first
    second = _rows(text(pages.get("/?task_type=triage&page=2")))
    assert second and not {r["task-id"] for r in second} & {r["task-id"] for r in _rows(first)}
    assert all(r["task-type"] == "triage" for r in second)
    assert _rows(text(pages.get("/?task_type=no_such_type"))) == []
    overdue = _rows(text(pages.get("/?overdue=1&task_type=triage")))  # triage has a limit (calendar.yaml)
    assert all(r["light"] == "red" for r in overdue)
    assert pages.get("/?page=abc").status_code == 200
    assert pages.get("/?level=community&category=city_mgmt").status_code == 200


def test_rows_show_case_unit_category_and_a_light_that_turns_red(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = flow.report(title="路灯 不亮 灯")["id"]
    flow.do("op-dc", case_id, "triage", {"grade": 2, "matter": "streetlight_broken"})
    pages.login("cgw-staff")
    html = text(pages.get("/?task_type=handle_dispatched"))
    row = next(r for r in _rows(html) if r["case-id"] == str(case_id))
    assert row["light"] == "green" and "剩 " in html
    assert row["case-number"] in html and "交通运输与市政设施" in html and "城市管理委员会" in html
    try:
        clock.advance(timedelta(days=60))  # far past any working-hour limit
        pages.login("cgw-staff")  # (and past the session's idle limit: log in again)
        html = text(pages.get("/?task_type=handle_dispatched&overdue=1"))
        assert any(r["case-id"] == str(case_id) and r["light"] == "red" for r in _rows(html))
        assert "超期" in html
    finally:
        clock.reset()


def test_claim_and_unclaim_from_the_inbox(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = flow.report(title="签收 测试")["id"]
    task_id = flow.task(case_id, "triage")["id"]
    pages.login("op-dc")
    pages.get("/")
    resp = pages.post(f"/tasks/{task_id}/claim", {"next": "/?mine=1"})
    assert resp.status_code == 302 and resp.location == "/?mine=1"
    html = text(pages.get("/?mine=1"))
    assert f'data-task-id="{task_id}"' in html and "已签收任务" in html and 'data-testid="unclaim"' in html
    assert flow.task(case_id, "triage")["assignee"] == "op-dc"
    pages.post(f"/tasks/{task_id}/unclaim")
    assert flow.task(case_id, "triage")["assignee"] is None


def test_claiming_a_task_of_another_role_is_refused(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    task_id = flow.task(flow.report(title="越权签收")["id"], "triage")["id"]
    pages.login("gw-s1c1g1")
    pages.get("/")
    resp = pages.post(f"/tasks/{task_id}/claim")
    assert resp.status_code in (403, 404) and "data-testid=\"error-page\"" in text(resp)


def test_claiming_from_a_stale_inbox_is_said_on_the_inbox(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = flow.report(title="过期的收件箱")["id"]
    task_id = flow.task(case_id, "triage")["id"]
    pages.login("op-dc")
    pages.get("/")
    flow.do("op-dc", case_id, "triage", {"grade": 2, "matter": "garbage_overflow"})  # done elsewhere meanwhile
    resp = pages.post(f"/tasks/{task_id}/claim")
    assert resp.status_code == 302
    assert 'class="flash error"' in text(pages.get("/"))


def test_group_chips_name_task_types_not_on_the_page(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = flow.report(title="分组 名称")["id"]
    flow.do("op-dc", case_id, "triage", {"grade": 2, "matter": "streetlight_broken"})
    flow.do("cgw-staff", case_id, "handle_dispatched", {"action": "handled", "result": "已修复"})
    flow.report(title="分组 名称 研判")
    pages.login("op-dc")
    html = text(pages.get("/?task_type=triage"))  # the rows are triage only; verification is a chip
    chip = re.search(r'data-testid="group-verify_dispatched"[^>]*>([^<]*)<b>', html)
    assert chip and chip.group(1).strip() == "核查"
