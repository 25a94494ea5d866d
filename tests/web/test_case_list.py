"""案件查询: the case list page and GET /api/cases — filters, scope, presets, phone search rights."""

from __future__ import annotations

import re
import secrets
from urllib.parse import quote

from tests.conftest import Api
from tests.integration.flow import Flow
from tests.web.pages_client import Pages, text


def _tag() -> str:
    return f"查询{secrets.token_hex(4)}"


def _numbers(api: Api, user: str, query: str) -> list[str]:
    resp = api.get(user, f"/api/cases?{query}")
    assert resp.status_code == 200, resp.get_json()
    return [item["number"] for item in resp.get_json()["items"]]


def _rows(html: str) -> list[str]:
    return re.findall(r'data-testid="case-row" data-case-id="\d+" data-case-number="([^"]+)"', html)


def test_text_search_finds_title_description_address_and_part_of_the_number(api: Api) -> None:
    tag = _tag()
    case = Flow(api).report(title=f"井盖缺失 {tag}", address="幸福路 12 号", description="夜间危险")
    assert _numbers(api, "auditor", f"q={quote(tag)}") == [case["number"]]
    assert case["number"] in _numbers(api, "auditor", f"q={quote('幸福路 12')}&per_page=100")
    assert case["number"] in _numbers(api, "auditor", f"q={case['number'][-6:]}")
    body = api.get("auditor", f"/api/cases?q={quote(tag)}").get_json()
    assert body["total"] == 1 and body["items"][0]["place"] == "dc-s1-c1-g1" and body["items"][0]["status"] == "open"


def test_a_whole_case_number_finds_that_case_within_the_scope(api: Api) -> None:
    case = Flow(api).report(title=f"编号 {_tag()}")
    body = api.get("auditor", f"/api/cases?q={case['number']}").get_json()
    assert [item["number"] for item in body["items"]] == [case["number"]] and body["total"] == 1
    assert _numbers(api, "sec-s1c1", f"q={case['number']}") == [case["number"]]
    assert _numbers(api, "sec-s2", f"q={case['number']}") == []  # it exists, but in another street


def test_sorting_by_deadline_puts_cases_without_one_last(api: Api) -> None:
    flow = Flow(api)
    tag = _tag()
    closed = flow.report(title=f"退单 {tag}")
    flow.do("op-dc", closed["id"], "triage", {"grade": 0, "reject_reason": "重复上报"})  # closed: no deadline
    later = flow.report(title=f"已派 {tag}")
    flow.do("op-dc", later["id"], "triage", {"grade": 2, "matter": "garbage_overflow"})
    sooner = flow.report(title=f"待分派 {tag}")
    items = api.get("auditor", f"/api/cases?q={quote(tag)}&sort=due").get_json()["items"]
    assert [item["due_at"] is None for item in items] == [False, False, True]
    assert [item["number"] for item in items] == [sooner["number"], later["number"], closed["number"]]


def test_a_user_lists_only_cases_within_their_scope(api: Api) -> None:
    tag = _tag()
    case = Flow(api).report(title=f"范围 {tag}")
    q = f"q={quote(tag)}"
    assert _numbers(api, "sec-s1", q) == [case["number"]]
    assert _numbers(api, "sec-s1c1", q) == [case["number"]]
    assert _numbers(api, "sec-s2", q) == []  # another street
    assert _numbers(api, "sec-s1c2", q) == []  # another community of the same street


def test_unit_filter_takes_the_subtree_and_refuses_a_unit_outside_the_scope(api: Api) -> None:
    tag = _tag()
    case = Flow(api).report(title=f"单位 {tag}")
    q = f"q={quote(tag)}"
    assert _numbers(api, "sec-s1", f"{q}&unit=dc-s1-c1") == [case["number"]]
    assert _numbers(api, "sec-s1", f"{q}&unit=dc-s1-c2") == []
    resp = api.get("sec-s1", f"/api/cases?{q}&unit=dc-s2")
    assert resp.status_code == 422 and "unit" in resp.get_json()["fields"]


def test_phone_search_needs_a_role_that_may_see_the_contact(api: Api) -> None:
    phone = f"139{secrets.randbelow(10**8):08d}"
    case = Flow(api).report(title=f"电话 {_tag()}", reporter_phone=phone)
    assert _numbers(api, "callback", f"phone={phone[-8:]}") == [case["number"]]
    resp = api.get("gw-s1c1g1", f"/api/cases?phone={phone}")
    assert resp.status_code == 403
    assert api.get("callback", "/api/cases?phone=abc").status_code == 422


def test_presets_my_reports_and_cases_my_unit_takes_part_in(api: Api) -> None:
    flow = Flow(api)
    tag = _tag()
    mine = flow.report(title=f"我的 {tag}")
    other = flow.report(user="gw-s1c1g2", title=f"别人 {tag}", grid="dc-s1-c1-g2")
    q = f"q={quote(tag)}"
    assert _numbers(api, "gw-s1c1g1", f"{q}&mine=1") == [mine["number"]]
    assert _numbers(api, "gw-s1c1g2", f"{q}&mine=1") == [other["number"]]
    assert _numbers(api, "hw-head", f"{q}&involved=1") == []
    flow.do("op-dc", mine["id"], "triage", {"grade": 2, "matter": "garbage_overflow"})  # dispatched to 环卫
    assert _numbers(api, "hw-head", f"{q}&involved=1") == [mine["number"]]


def test_status_matter_period_sort_and_paging(api: Api) -> None:
    flow = Flow(api)
    tag = _tag()
    first = flow.report(title=f"一 {tag}")
    second = flow.report(title=f"二 {tag}")
    flow.do("op-dc", second["id"], "triage", {"grade": 2, "matter": "garbage_overflow"})
    q = f"q={quote(tag)}"
    assert _numbers(api, "auditor", f"{q}&matter=garbage_overflow") == [second["number"]]
    assert _numbers(api, "auditor", f"{q}&sort=oldest") == [first["number"], second["number"]]
    assert _numbers(api, "auditor", f"{q}&sort=newest") == [second["number"], first["number"]]
    page = api.get("auditor", f"/api/cases?{q}&per_page=1&page=2").get_json()
    assert page["total"] == 2 and page["pages"] == 2 and [i["number"] for i in page["items"]] == [first["number"]]
    day = first["created_at"][:10]
    assert len(_numbers(api, "auditor", f"{q}&from=2000-01-01&to=2099-12-31")) == 2
    assert _numbers(api, "auditor", f"{q}&to=2000-01-01") == []
    assert _numbers(api, "auditor", f"{q}&status=closed") == []
    assert day  # the created_at is an ISO date


def test_bad_filters_are_422_naming_the_parameter(api: Api) -> None:
    for query, name in (("status=maybe", "status"), ("from=yesterday", "from"), ("page=0", "page"),
                        ("per_page=1000", "per_page"), ("overdue=perhaps", "overdue"), ("sort=name", "sort"),
                        ("unit=nowhere", "unit")):
        resp = api.get("auditor", f"/api/cases?{query}")
        assert resp.status_code == 422, query
        assert name in resp.get_json()["fields"], query


def test_the_list_is_in_the_openapi_document(api: Api) -> None:
    doc = api.get(None, "/api/openapi.json").get_json()
    operation = doc["paths"]["/api/cases"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"status", "unit", "q", "phone", "mine", "involved"}


# --- the pages -------------------------------------------------------------------------------------


def test_the_nav_links_to_the_case_list_and_it_lists_within_scope(pages: Pages, api: Api) -> None:
    tag = _tag()
    case = Flow(api).report(title=f"页面 {tag}")
    pages.login("sec-s1")
    html = text(pages.get("/"))
    assert 'data-testid="nav-cases"' in html and 'href="/cases"' in html
    resp = pages.get(f"/cases?q={quote(tag)}")
    assert resp.status_code == 200 and _rows(text(resp)) == [case["number"]]
    assert "案件查询" in text(resp) and 'data-testid="filter-phone"' in text(resp)
    pages.logout()
    pages.login("sec-s2")
    assert _rows(text(pages.get(f"/cases?q={quote(tag)}"))) == []


def test_the_search_box_opens_a_whole_number_and_searches_anything_else(pages: Pages, api: Api) -> None:
    tag = _tag()
    case = Flow(api).report(title=f"搜索框 {tag}")
    pages.login("auditor")
    resp = pages.get(f"/cases?number={case['number']}")
    assert resp.status_code == 302 and resp.location == f"/cases/{case['id']}"
    resp = pages.get(f"/cases?number={quote(tag)}")
    assert resp.status_code == 302 and resp.location.startswith("/cases?q=")
    listed = pages.get(resp.location)
    assert _rows(text(listed)) == [case["number"]]
    part = case["number"][-6:]
    assert case["number"] in _rows(text(pages.get(pages.get(f"/cases?number={part}").location)))
    empty = pages.get(pages.get("/cases?number=19990101-000001").location)
    assert empty.status_code == 200 and "没有符合条件的案件" in text(empty) and "Not Found" not in text(empty)


def test_a_grid_worker_has_my_reports_and_no_phone_search(pages: Pages, api: Api) -> None:
    tag = _tag()
    case = Flow(api).report(title=f"我的上报 {tag}")
    pages.login("gw-s1c1g1")
    html = text(pages.get(f"/cases?mine=1&q={quote(tag)}"))
    assert _rows(html) == [case["number"]] and 'data-testid="preset-mine"' in html
    assert 'data-testid="filter-phone"' not in html
    assert pages.get("/cases?phone=139").status_code == 403


def test_a_bad_filter_on_the_page_says_so_in_chinese(pages: Pages) -> None:
    pages.login("auditor")
    resp = pages.get("/cases?from=yesterday")
    assert resp.status_code == 422 and 'data-testid="case-list-error"' in text(resp)




def test_a_404_page_in_chinese_mode_is_chinese(pages: Pages) -> None:
    pages.login("auditor")
    for path in ("/no/such/page", "/cases/999999999"):
        resp = pages.get(path)
        html = text(resp)
        assert resp.status_code == 404 and "找不到这个页面或案件" in html, path
        assert "not found" not in html.lower(), path
    pages.get("/lang/en?next=/")
    html = text(pages.get("/no/such/page"))
    assert "找不到" not in html and 'data-testid="error-explanation"' in html
