"""The auditor's pages read like a dossier: navigation, zoomable diagrams, the replay as a page."""

from __future__ import annotations

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
