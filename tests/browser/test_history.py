"""The history page in a browser: the auditor moves the step slider and sees the case as it was."""

from __future__ import annotations

from tests.browser.conftest import Browser, LiveServer
from tests.conftest import Api
from tests.integration.flow import FORMS, Flow


def test_the_auditor_moves_the_step_slider(browser: Browser, live_server: LiveServer) -> None:
    flow = Flow(Api(live_server.app.test_client(), {}))
    case_id = int(flow.report(title="违规广告 历史回放")["id"])
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"])

    b = browser
    b.login("auditor")
    b.goto(f"/cases/{case_id}")
    b.page.click("[data-testid=history-link]")
    b.page.wait_for_selector("[data-testid=diagram][data-state=ready]")
    assert b.page.get_attribute("[data-testid=chain-badge]", "data-ok") == "true"
    assert b.page.get_attribute("[data-testid=state]", "data-step") == "2"
    assert b.page.get_attribute("[data-testid=diagram]", "data-process") == "whistle"  # the token is there
    b.shot("history-latest-step")

    b.page.evaluate("window.notReloaded = true")  # gone if a step reloads the page
    b.page.locator("[data-testid=step-slider]").fill("1")  # input + change: step 1 is swapped in
    b.page.wait_for_selector("[data-testid=state][data-step='1']")
    b.page.wait_for_selector("[data-testid=diagram][data-state=ready][data-process=case]")
    assert b.page.url.endswith(f"/cases/{case_id}/history?step=1")
    assert b.page.get_attribute("[data-testid=state]", "data-step") == "1"
    assert b.page.get_attribute("[data-testid=diagram]", "data-process") == "case"
    assert b.page.locator(".djs-element.state-active[data-element-id=triage]").count() == 1
    assert b.page.locator("[data-testid=state-tasks] tr[data-task-type=triage]").count() == 1
    b.shot("history-step-1", "history.png")

    b.page.click("[data-testid=step-next]")
    b.page.wait_for_selector("[data-testid=state][data-step='2']")
    b.page.wait_for_selector("[data-testid=diagram][data-state=ready][data-process=whistle]")
    assert b.page.url.endswith(f"/cases/{case_id}/history?step=2")

    b.page.go_back()  # the back button walks the steps, still without a reload
    b.page.wait_for_selector("[data-testid=state][data-step='1']")
    assert b.page.locator("[data-testid=state-tasks] tr[data-task-type=triage]").count() == 1
    assert b.page.evaluate("window.notReloaded") is True
