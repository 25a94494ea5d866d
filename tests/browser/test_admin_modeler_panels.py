"""The modeler's panels in a browser: the check marks a failing element and its list item selects
it; the properties panel reads and writes the product's extension properties (stage, form, unit,
dueHours, a service task's handler and parameters, a lane's role) as processes/*.bpmn spells them;
the DMN editor opens a decision table; the form editor previews a schema and names its error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lxml import etree
from sqlalchemy import select

from app.definitions import drafts
from app.definitions.versions import latest_version
from app.models import User
from tests.browser.conftest import Browser, LiveServer

MODELER = "[data-testid=modeler]"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"


@pytest.fixture()
def number(live_server: LiveServer) -> Iterator[int]:
    db = live_server.app.extensions["whistle.db"]
    with db.unit_of_work() as s:
        current = latest_version(s)
        assert current is not None
        version = current.version
        original = current.files["case.bpmn"]
    yield version
    with db.unit_of_work() as s:  # the other browser tests find no drafts of this admin
        admin = s.scalar(select(User).where(User.username == "admin"))
        assert admin is not None
        drafts.discard(s, admin.id)
    assert original  # the version itself is never changed


def xml(browser: Browser) -> str:
    return str(browser.page.evaluate(f"""() => document.querySelector("{MODELER}").modeler
        .saveXML({{format: false}}).then(r => r.xml)"""))


def spiff(text: str, element_id: str, tag: str, key: str) -> dict[str, str]:
    """The element's <spiffworkflow:property> (by name) or <spiffworkflow:parameter> (by id) values."""
    root = etree.fromstring(text.encode())
    [element] = root.xpath(f"//*[@id='{element_id}']")
    return {e.get(key): e.get("value") for e in element.iter(f"{{{SPIFF}}}{tag}")}


def select_element(browser: Browser, element_id: str) -> None:
    browser.page.evaluate(f"""() => {{
        const m = document.querySelector("{MODELER}").modeler;
        m.get("selection").select(m.get("elementRegistry").get("{element_id}"));
    }}""")
    browser.page.wait_for_selector(f"[data-testid=properties-panel][data-element='{element_id}']")


def saved_and_checked(browser: Browser) -> None:
    browser.page.wait_for_selector(f"{MODELER}[data-saved=yes]")
    browser.page.wait_for_function("""() => {
        const p = document.querySelector("[data-testid=check-panel]");
        return p.dataset.state === "done";
    }""")


def test_the_properties_panel_and_the_check_markers(browser: Browser, number: int) -> None:
    browser.login("admin")
    browser.goto(f"/admin/processes/{number}/edit/case.bpmn")
    browser.page.wait_for_selector(f"{MODELER}[data-state=ready]")
    browser.page.wait_for_selector("[data-testid=check-panel][data-state=done][data-ok=yes]")
    browser.page.wait_for_selector("[data-testid=properties-panel][data-state=ready]")
    before = xml(browser)
    assert before.count("<spiffworkflow:parameter ") == browser.page.evaluate(
        "() => document.querySelector('.draft-source').value.split('<spiffworkflow:parameter ').length - 1")

    select_element(browser, "triage")  # a user task: its properties as the diagram has them
    assert browser.page.input_value("#prop-stage") == "triage"
    assert browser.page.input_value("#prop-formJsonSchemaFilename") == "triage.schema.json"
    assert browser.page.input_value("#prop-unit") == "top"
    assert browser.page.input_value("#prop-dueHours") == "limits['triage']"
    browser.page.select_option("#prop-formJsonSchemaFilename", "")  # no form: deploy refuses this
    saved_and_checked(browser)
    assert "formJsonSchemaFilename" not in spiff(xml(browser), "triage", "property", "name")
    browser.page.wait_for_selector(".djs-element.check-error[data-element-id=triage]")
    problem = browser.page.locator("[data-testid=check-problems] li[data-element=triage] button").first
    select_element(browser, "start_case")
    problem.click()
    browser.page.wait_for_selector("[data-testid=properties-panel][data-element=triage]")
    browser.shot("modeler-check", "admin-modeler-check.png")

    browser.page.select_option("#prop-formJsonSchemaFilename", "verify.schema.json")
    browser.page.fill("#prop-dueHours", "limits['verification']")
    browser.page.press("#prop-dueHours", "Enter")
    browser.page.locator("#prop-dueHours").blur()
    saved_and_checked(browser)
    browser.page.wait_for_selector("[data-testid=check-panel][data-ok=yes]")
    assert browser.page.locator(".djs-element.check-error").count() == 0
    assert spiff(xml(browser), "triage", "property", "name") == {
        "unit": "top", "stage": "triage", "dueHours": "limits['verification']",
        "formJsonSchemaFilename": "verify.schema.json", "contextKeys": "matter, urgent"}  # the rest untouched

    select_element(browser, "catalogue_lookup")  # a service task: handler and parameters
    assert browser.page.input_value("#prop-handler") == "lookup_catalogue"
    assert browser.page.input_value("#prop-param-matter") == "matter"
    browser.page.fill("#prop-param-urgent", "False")
    browser.page.locator("#prop-param-urgent").blur()
    saved_and_checked(browser)
    assert spiff(xml(browser), "catalogue_lookup", "parameter", "id") == {"matter": "matter", "urgent": "False"}
    browser.doc_shot("admin-modeler-properties.png")

    select_element(browser, "lane_grid_worker")  # a lane: its role
    assert browser.page.input_value("#prop-role") == "grid_worker"

    browser.page.evaluate(f"""() => {{  // a new user task in the grid worker's lane: no properties yet
        const m = document.querySelector("{MODELER}").modeler;
        const registry = m.get("elementRegistry");
        const lane = registry.get("lane_grid_worker");
        m.get("modeling").createShape({{type: "bpmn:UserTask"}}, {{x: lane.x + 900, y: lane.y + 40}}, lane);
    }}""")
    new_id = browser.page.evaluate(f"""() => document.querySelector("{MODELER}").modeler.get("elementRegistry")
        .filter(e => e.type === "bpmn:UserTask" && !e.businessObject.extensionElements)[0].id""")
    select_element(browser, new_id)
    browser.page.select_option("#prop-stage", "verification")
    browser.page.select_option("#prop-formJsonSchemaFilename", "verify.schema.json")
    browser.page.fill("#prop-unit", "community")
    browser.page.locator("#prop-unit").blur()
    saved_and_checked(browser)
    assert spiff(xml(browser), new_id, "property", "name") == {
        "stage": "verification", "formJsonSchemaFilename": "verify.schema.json", "unit": "community"}
    rules = browser.page.eval_on_selector_all(f"[data-testid=check-problems] li[data-element='{new_id}']",
                                              "items => items.map(i => i.dataset.rule)")
    assert {"no-implicit-start", "label-required"} <= set(rules)  # not connected, no name yet


def test_the_dmn_editor_opens_the_decision_table(browser: Browser, number: int) -> None:
    browser.login("admin")
    browser.goto(f"/admin/processes/{number}/edit/whistle_levels.dmn")
    browser.page.wait_for_selector("[data-testid=dmn-editor][data-state=ready]")
    assert browser.page.locator(".tjs-table").count() == 1
    assert browser.page.locator("text=吹哨层级").count() >= 1
    browser.shot("dmn-editor")
    result = browser.page.evaluate("""() => document.querySelector("[data-testid=dmn-editor]").editor
        .saveXML({format: true}).then(saved => {
            const body = new FormData();
            body.append("csrf_token", document.querySelector('meta[name="csrf-token"]').content);
            body.append("version", document.querySelector("[data-testid=dmn-editor]").dataset.version);
            body.append("file", "whistle_levels.dmn");
            body.append("text", saved.xml);
            return fetch("/admin/modeling/check", {method: "POST", body}).then(r => r.json());
        })""")
    assert result["ok"] is True, result  # what dmn-js writes back passes the deploy check


def test_the_form_editor_previews_and_names_the_error(browser: Browser, number: int) -> None:
    browser.login("admin")
    browser.goto(f"/admin/processes/{number}/edit/forms/triage.schema.json")
    browser.page.wait_for_selector("[data-testid=form-editor][data-state=ready]")
    assert browser.page.locator("[data-testid=form-preview] [data-field=grade]").count() == 1
    browser.shot("form-editor")
    browser.page.fill("[data-testid=form-schema]", '{"type": "objekt"}')
    browser.page.wait_for_selector("[data-testid=form-editor][data-state=invalid]")
    assert "type" in browser.page.inner_text("[data-testid=form-error]")
