"""Quick browser checks: log in and out, a wrong password, the live diagram on a case page."""

from __future__ import annotations

from tests.browser.conftest import Browser, LiveServer
from tests.conftest import PASSWORD


def test_login_inbox_logout_and_a_wrong_password(browser: Browser) -> None:
    browser.login("op-dc")
    assert browser.page.locator("[data-testid=inbox-total]").is_visible()
    browser.shot("op-dc-inbox")
    browser.logout()
    browser.goto("/login")
    browser.page.fill("input[name=username]", "op-dc")
    browser.page.fill("input[name=password]", "wrong")
    browser.page.click("[data-testid=login-submit]")
    assert browser.page.locator("[data-testid=login-error]").is_visible()
    browser.goto("/")
    assert "/login" in browser.page.url  # still logged out


def test_case_page_draws_the_diagram_with_state_markers(browser: Browser, live_server: LiveServer) -> None:
    client = live_server.app.test_client()
    logged_in = client.post("/api/login", json={"username": "gw-s1c1g1", "password": PASSWORD})
    assert logged_in.status_code == 200
    resp = client.post("/api/reports", json={"title": "井盖缺失", "grid": "dc-s1-c1-g1", "channel": "grid_patrol"},
                       headers={"X-CSRFToken": logged_in.get_json()["csrf_token"]})
    assert resp.status_code == 201, resp.get_json()
    case_id = resp.get_json()["id"]
    browser.login("op-dc")
    browser.goto(f"/cases/{case_id}")
    diagram = browser.page.locator("[data-testid=diagram]")
    browser.page.wait_for_selector("[data-testid=diagram][data-state=ready]")
    assert diagram.get_attribute("data-process") == "case"
    assert browser.page.locator(".djs-element.state-active[data-element-id=triage]").count() == 1
    assert browser.page.locator(".djs-element.state-completed[data-element-id=start_case]").count() == 1
    assert browser.page.locator(".bjs-powered-by").is_visible()  # the bpmn.io watermark (licence)
    browser.shot("case-diagram")
