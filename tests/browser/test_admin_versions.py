"""流程版本 in a browser: a version's BPMN file drawn by the viewer, and a comparison of two
versions with the changed elements marked on both diagrams."""

from __future__ import annotations

from sqlalchemy import select

from app.definitions.versions import deploy, latest_version, retire
from app.models import ProcessVersion
from tests.browser.conftest import Browser, LiveServer


def _moved_triage(files: dict[str, str]) -> dict[str, str]:
    """The same bundle with the triage task's shape moved and its name changed: a new version
    that behaves like the first (its cases are not affected)."""
    text = files["case.bpmn"]
    shape = text.index('bpmnElement="triage"')
    start = text.index('x="', shape) + 3
    end = text.index('"', start)
    moved = text[:start] + str(int(float(text[start:end])) + 30) + text[end:]
    return {**files, "case.bpmn": moved}


def test_an_admin_sees_a_version_drawn_and_two_versions_compared(browser: Browser, live_server: LiveServer) -> None:
    db = live_server.app.extensions["whistle.db"]
    with db.unit_of_work() as s:
        first = s.scalars(select(ProcessVersion).order_by(ProcessVersion.version.desc())).first()
        assert first is not None
        old_number = first.version
        new, _ = deploy(s, _moved_triage(dict(first.files)), "browser-tests", "移动研判任务")
        new_number = new.version
    try:
        browser.login("admin")
        browser.page.click("[data-testid=nav-processes]")
        browser.page.wait_for_selector(f"[data-testid=version-row][data-version='{new_number}'][data-current=yes]")
        browser.shot("versions", "admin-versions.png")

        browser.goto(f"/admin/processes/{new_number}/files/case.bpmn")
        browser.page.wait_for_selector("[data-testid=diagram][data-state=ready]")
        assert browser.page.locator(".djs-element[data-element-id=triage]").count() == 1
        browser.shot("version-file")

        browser.goto(f"/admin/processes/compare?from={old_number}&to={new_number}")
        browser.page.wait_for_selector("[data-testid=diff-diagrams][data-state=ready]")
        assert browser.page.locator(".diff-old .djs-element.diff-moved[data-element-id=triage]").count() == 1
        assert browser.page.locator(".diff-new .djs-element.diff-moved[data-element-id=triage]").count() == 1
        browser.shot("compare", "admin-compare.png")
    finally:
        with db.unit_of_work() as s:  # the other browser tests run on the first version again
            retire(s, new_number, "browser-tests")


def test_an_admin_edits_a_diagram_in_the_modeler_and_the_draft_survives_a_reload(
    browser: Browser, live_server: LiveServer
) -> None:
    with live_server.app.extensions["whistle.db"].unit_of_work() as s:
        current = latest_version(s)
        assert current is not None
        number = current.version
    browser.login("admin")
    browser.goto(f"/admin/processes/{number}/edit/case.bpmn")
    browser.page.wait_for_selector("[data-testid=modeler][data-state=ready]")
    assert browser.page.locator(".djs-palette").count() == 1  # the modeler's tools, not the viewer
    assert browser.page.locator(".djs-palette [aria-label='创建任务']").count() == 1  # its own labels in Chinese
    browser.page.evaluate("""() => {
        const modeler = document.querySelector("[data-testid=modeler]").modeler;
        const triage = modeler.get("elementRegistry").get("triage");
        modeler.get("modeling").updateLabel(triage, "研判分级（草稿）");
    }""")
    browser.page.wait_for_selector("[data-testid=modeler][data-saved=yes]")
    browser.shot("modeler", "admin-modeler.png")

    browser.page.reload()
    browser.page.wait_for_selector("[data-testid=modeler][data-state=ready]")
    label = browser.page.evaluate("""() => document.querySelector("[data-testid=modeler]").modeler
        .get("elementRegistry").get("triage").businessObject.name""")
    assert label == "研判分级（草稿）"
    browser.goto("/admin/processes")
    assert browser.page.locator("[data-testid=draft][data-file='case.bpmn']").count() == 1
    browser.page.click("[data-testid=discard-drafts]")
    browser.page.wait_for_selector("[data-testid=flash]")
    assert browser.page.locator("[data-testid=drafts]").count() == 0
