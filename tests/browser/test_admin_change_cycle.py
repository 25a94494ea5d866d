"""The process admin's whole change cycle in a browser, then the case that moved.

The admin opens the current version's case diagram in the modeler, changes the triage task (its
time limit through the properties panel, its name by editing the label on the canvas), sees the
check mark a bad limit and clear once it is fixed, checks the drafts with the bundle's scenario
tests uploaded (every scenario passes, the comparison with the running version names the task),
deploys with a comment, dry-runs the migration of the running cases at triage and migrates one.
The platform operator then finds the changed task under its new name in the inbox and completes it
on the migrated case; the case's history verifies and its replay passes across the migration.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from app.definitions import drafts
from app.definitions.versions import latest_version, retire
from app.models import User
from app.settings import ROOT
from tests.browser.conftest import Browser, LiveServer
from tests.conftest import Api
from tests.integration.flow import Flow

MODELER = "[data-testid=modeler]"
NEW_NAME = "研判分级（加急）"
BAD_LIMIT = "limits['triage'] +"
NEW_LIMIT = "limits['triage'] * 2"
COMMENT = "研判时限加倍，任务改名"


@pytest.fixture()
def current(live_server: LiveServer) -> Iterator[int]:
    """The number of the version the cases run on; afterwards the version deployed here is
    retired and the admin's drafts discarded, so the other browser tests run as before."""
    db = live_server.app.extensions["whistle.db"]
    with db.unit_of_work() as s:
        version = latest_version(s)
        assert version is not None
        number = version.version
    yield number
    with db.unit_of_work() as s:
        latest = latest_version(s)
        if latest is not None and latest.version != number:
            retire(s, latest.version, "browser-tests")
        admin = s.scalar(select(User).where(User.username == "admin"))
        assert admin is not None
        drafts.discard(s, admin.id)


def saved_and_checked(b: Browser) -> None:
    b.page.wait_for_selector(f"{MODELER}[data-saved=yes]")
    b.page.wait_for_selector("[data-testid=check-panel][data-state=done]")


def set_due_hours(b: Browser, value: str) -> None:
    b.page.fill("#prop-dueHours", value)
    b.page.locator("#prop-dueHours").blur()  # the panel writes on change, the modeler saves, the check runs
    saved_and_checked(b)


def edit_the_triage_task(b: Browser, number: int) -> None:
    """In the modeler: a bad time limit is marked, a good one clears it; the task is renamed."""
    b.goto(f"/admin/processes/{number}")
    b.page.click("[data-testid=edit][href$='/edit/case.bpmn']")
    b.page.wait_for_selector(f"{MODELER}[data-state=ready]")
    b.page.wait_for_selector("[data-testid=check-panel][data-state=done][data-ok=yes]")
    b.page.wait_for_selector("[data-testid=properties-panel][data-state=ready]")

    b.page.click(".djs-element[data-element-id=triage]")
    b.page.wait_for_selector("[data-testid=properties-panel][data-element=triage]")
    assert b.page.input_value("#prop-dueHours") == "limits['triage']"
    set_due_hours(b, BAD_LIMIT)
    b.page.wait_for_selector("[data-testid=check-panel][data-ok=no]")
    b.page.wait_for_selector(".djs-element.check-error[data-element-id=triage]")
    problem = b.page.locator("[data-testid=check-problems] li[data-element=triage][data-rule=deploy-check]")
    assert "dueHours" in problem.first.inner_text()
    b.shot("modeler-bad-limit")

    set_due_hours(b, NEW_LIMIT)
    b.page.wait_for_selector("[data-testid=check-panel][data-ok=yes]")
    assert b.page.locator(".djs-element.check-error").count() == 0

    b.page.dblclick(".djs-element[data-element-id=triage]")  # bpmn-js's own label editing
    label = b.page.locator(".djs-direct-editing-content")
    label.wait_for(state="visible")
    label.fill(NEW_NAME)
    canvas = b.page.locator(".modeler-canvas")
    box = canvas.bounding_box()
    assert box is not None
    canvas.click(position={"x": box["width"] - 15, "y": box["height"] - 15})  # a click elsewhere ends it
    saved_and_checked(b)
    b.page.wait_for_selector("[data-testid=check-panel][data-ok=yes]")
    name = b.page.evaluate(f"""() => document.querySelector("{MODELER}").modeler
        .get("elementRegistry").get("triage").businessObject.name""")
    assert name == NEW_NAME
    b.shot("modeler-edited")


def check_and_deploy_the_drafts(b: Browser, number: int) -> int:
    """On the versions page: the drafts checked with the scenarios, compared, deployed."""
    b.goto("/admin/processes")
    assert b.page.locator("[data-testid=draft][data-file='case.bpmn']").count() == 1
    scenarios = sorted((ROOT / "processes" / "scenarios").glob("*.yaml"))
    assert scenarios
    b.page.set_input_files("[data-testid=drafts] input[name=bundle]", [str(p) for p in scenarios])
    b.page.click("[data-testid=check-drafts]")
    b.page.wait_for_selector("[data-testid=check-result]")
    assert b.page.get_attribute("[data-testid=check-result]", "data-ok") == "yes", b.page.inner_text("main")
    rows = b.page.locator("[data-testid=scenario-row]")
    assert rows.count() == len(scenarios)
    assert b.page.locator("[data-testid=scenario-row][data-ok=no]").count() == 0
    change = b.page.locator("[data-testid=file-change][data-file='case.bpmn'][data-status=changed]")
    assert change.locator("[data-testid=elements-changed] .element[data-id=triage]").count() == 1
    assert [c.get_attribute("data-file") for c in b.page.locator("[data-testid=file-change]").all()] == ["case.bpmn"]
    diff = change.locator("[data-testid=diff]").text_content() or ""
    added = [line for line in diff.splitlines() if line.startswith("+ ")]
    assert any('name="dueHours"' in line and "] * 2" in line for line in added), added  # bpmn-js writes ' as &#39;
    assert NEW_NAME in diff
    change.locator("[data-testid=diff-diagrams][data-state=ready]").wait_for()  # drawn beside the running one
    for side in ("diff-old", "diff-new"):
        assert change.locator(f".{side} .djs-element.diff-changed[data-element-id=triage]").count() == 1
    b.shot("drafts-checked")

    b.page.fill("[data-testid=deploy-comment]", COMMENT)
    b.page.click("[data-testid=deploy]")
    b.page.wait_for_selector("[data-testid=flash]")
    match = re.search(r"/admin/processes/(\d+)$", b.page.url)
    assert match, b.page.url
    new = int(match.group(1))
    assert new > number
    assert b.page.inner_text("[data-testid=comment]") == COMMENT
    assert b.page.locator("[data-testid=current]").count() == 1
    return new


def migrate_the_case(b: Browser, number: int, new: int, case_id: int) -> None:
    """Choose the cases at triage on the old version, dry-run, keep only ours ticked, migrate."""
    b.goto("/admin/processes")
    b.page.click("[data-testid=migrations-link]")
    form = b.page.locator("[data-testid=migration-select]")
    form.locator("select[name=from]").select_option(str(number))
    form.locator("select[name=to]").select_option(str(new))
    form.locator("input[name=step]").fill("triage")
    b.page.click("[data-testid=dry-run]")
    b.page.wait_for_selector("[data-testid=migration-report]")
    ours = f"[data-testid=migration-row][data-case='{case_id}']"
    assert b.page.get_attribute(ours, "data-ok") == "yes", b.page.inner_text("[data-testid=migration-report]")
    assert b.page.get_attribute(ours, "data-migrated") == "no"
    for box in b.page.locator(f"[data-testid=migration-row]:not({ours}) input[name=case]:not([disabled])").all():
        box.uncheck()
    b.shot("migration-dry-run", "admin-migration.png")

    b.page.click("[data-testid=migrate]")
    b.page.wait_for_selector(f"{ours}[data-migrated=yes]")
    assert b.page.locator("[data-testid=migration-row]").count() == 1  # only the ticked case moved
    b.shot("migration-report")


def test_an_admin_changes_a_task_deploys_and_migrates_a_running_case(
    browser: Browser, live_server: LiveServer, current: int
) -> None:
    flow = Flow(Api(live_server.app.test_client(), {}))
    case_id = int(flow.report(title="流程变更 迁移中的案件")["id"])  # waits at triage on the current version

    b = browser
    b.login("admin")
    edit_the_triage_task(b, current)
    new = check_and_deploy_the_drafts(b, current)
    migrate_the_case(b, current, new, case_id)
    b.logout()

    b.login("op-dc")
    row = b.inbox_row("triage", case_id=case_id)
    assert NEW_NAME in row.inner_text()  # the open task took the new diagram's name
    b.logout()
    b.do_task("op-dc", case_id, "triage", {"grade": 2, "matter": "street_vending"})

    b.login("auditor")
    b.goto(f"/cases/{case_id}")
    b.page.click("[data-testid=history-link]")
    b.page.wait_for_selector("[data-testid=chain-badge]")
    assert b.page.get_attribute("[data-testid=chain-badge]", "data-ok") == "true"
    assert f"v{new}" in b.page.inner_text(".summary")
    b.page.wait_for_selector("[data-testid=diagram][data-state=ready]")
    b.shot("history-after-migration")
    b.page.click("[data-testid=replay-link]")
    b.page.wait_for_selector("[data-testid=replay-verdict]")
    assert b.page.get_attribute("[data-testid=replay-verdict]", "data-verdict") == "ok", b.page.inner_text("main")
    b.shot("replay-after-migration")
