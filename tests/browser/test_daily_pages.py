"""Role users' daily pages in a browser, as the README shows them: a returned whistle reworked from
the inbox, the case list with a filter, and a monthly bulletin generated and opened."""

from __future__ import annotations

from tests.browser.conftest import Browser, LiveServer
from tests.conftest import Api
from tests.integration.flow import FORMS, Flow


def test_a_returned_whistle_comes_back_marked_with_its_reason_and_filled_in(
        browser: Browser, live_server: LiveServer) -> None:
    flow = Flow(Api(live_server.app.test_client(), {}))
    case_id = int(flow.report(title="楼道堆物 退回重报")["id"])
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"])
    flow.do("staff-s1c1", case_id, "prepare_whistle", FORMS["prepare_whistle"])
    flow.do("section-s1c1", case_id, "review", {"decision": "return", "reason": "请补充现场照片"})

    b = browser
    b.login("staff-s1c1")
    row = b.page.locator("[data-testid=task-row][data-task-type=prepare_whistle]:has([data-testid=returned])").first
    assert row.locator("[data-testid=returned]").is_visible()
    assert "请补充现场照片" in row.locator("[data-testid=returned-reason]").inner_text()
    b.goto(f"/tasks/{flow.task(case_id, 'prepare_whistle')['id']}")
    assert "请补充现场照片" in b.page.inner_text("main")
    summary = b.page.locator("textarea[name=summary], input[name=summary]").first
    assert summary.input_value() == FORMS["prepare_whistle"]["summary"]  # the last submission, not empty
    b.shot("returned-whistle-task", "task-returned.png")


def test_the_case_list_finds_a_case_by_part_of_its_title(browser: Browser, live_server: LiveServer) -> None:
    flow = Flow(Api(live_server.app.test_client(), {}))
    number = flow.report(title="共享单车堆积 查询")["number"]
    b = browser
    b.login("op-dc")
    b.goto("/cases")
    b.page.fill("[data-testid=filter-q]", "单车堆积")
    b.page.press("[data-testid=filter-q]", "Enter")
    b.page.wait_for_selector(f"[data-testid=case-row][data-case-number='{number}']")
    assert b.page.locator("[data-testid=case-row]").count() == 1
    b.goto("/cases")
    b.page.wait_for_selector("[data-testid=case-row]")
    b.shot("case-list", "case-list.png")


def test_a_leader_generates_the_monthly_bulletin(browser: Browser) -> None:
    b = browser
    b.login("sec-dc")
    b.goto("/assessment/bulletins")
    b.page.click("[data-testid=publish-form] button[type=submit]")
    b.page.wait_for_selector("[data-testid=bulletin-sha256]")
    assert "通报已生成并记入审计链" in b.page.inner_text("body")
    b.shot("bulletin", "bulletin.png")
