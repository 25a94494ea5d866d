"""The auditor's pages read like a dossier: navigation, zoomable diagrams, the replay as a page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from tests.conftest import Api
from tests.web.pages_client import Pages, text
from tests.web.test_history_page import triaged


def test_every_diagram_has_zoom_and_fit_buttons(pages: Pages, api: Api) -> None:
    case_id = triaged(api, "缩放 流程图")
    pages.login("auditor")
    for path in (f"/cases/{case_id}", f"/cases/{case_id}/history"):
        html = text(pages.get(path))
        for button in ("zoom-in", "zoom-out", "zoom-fit", "zoom-current"):
            assert f'data-testid="{button}"' in html, (path, button)


def test_the_history_page_has_the_top_navigation(pages: Pages, api: Api) -> None:
    case_id = triaged(api, "导航 历史页")
    pages.login("auditor")
    html = text(pages.get(f"/cases/{case_id}/history"))
    assert 'data-testid="nav-inbox"' in html and 'data-testid="nav-cases"' in html and "赵国庆" in html


def test_the_replay_result_is_a_page_with_the_verdict_and_steps(pages: Pages, api: Api) -> None:
    case_id = triaged(api, "重放 页面")
    pages.login("auditor")
    resp = pages.get(f"/cases/{case_id}/replay")
    html = text(resp)
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    assert 'data-verdict="ok"' in html and "重放一致" in html
    assert '<dd data-testid="replay-steps">3</dd>' in html and 'data-testid="nav-inbox"' in html
    assert f'href="/api/cases/{case_id}/replay"' in html  # the raw result stays one click away
    pages.logout()
    pages.login("sec-s2")  # another street: not found, as for the case itself
    assert pages.get(f"/cases/{case_id}/replay").status_code == 404


def test_the_dossier_reads_as_a_paper_file_in_local_time_with_hashes_in_an_appendix(
        pages: Pages, api: Api) -> None:
    case_id = triaged(api, "案卷 纸质")
    body = api.get("auditor", f"/api/cases/{case_id}/dossier.json").get_json()
    page = api.get("auditor", f"/api/cases/{case_id}/dossier.html").get_data(as_text=True)
    account, appendix = page.split('<div class="appendix">')
    assert "办理过程" in account and "研判分级" in account and "陈文博" in account  # names, not codes
    assert "task_completed · triage" not in page and "平台操作员" in account
    assert "社区哨" in account and "illegal_advertising" not in account
    assert "状态快照" not in account and "state_saved" in appendix  # bookkeeping in the appendix
    assert body["chain"]["head"] in appendix and re.search(r"案卷哈希</dt><dd class=\"hash\">[0-9a-f]{64}", appendix)
    assert body["chain"]["head"] not in account
    created = body["events"][0]["at"]  # UTC in the JSON, Beijing time on paper
    local = datetime.fromisoformat(created.removesuffix("Z")) + timedelta(hours=8)
    assert local.strftime("%Y-%m-%d %H:%M:%S") in account and "北京时间" in account
