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
