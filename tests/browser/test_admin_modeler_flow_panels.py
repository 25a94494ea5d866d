"""The properties panel on a gateway, its flows and a timer event, in a browser: a gateway's default
flow and each other flow's condition (offered from the forms' choice fields), a timer's kind and
expression (offered from the deadlines the diagram's service tasks store), written as the shipped
diagrams spell them and checked as deploy checks them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lxml import etree
from sqlalchemy import select

from app.definitions import drafts
from app.definitions.versions import latest_version
from app.models import User
from tests.browser.conftest import Browser, LiveServer
from tests.browser.test_admin_modeler_panels import MODELER, saved_and_checked, select_element, xml

BPMN = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


@pytest.fixture()
def number(live_server: LiveServer) -> Iterator[int]:
    db = live_server.app.extensions["whistle.db"]
    with db.unit_of_work() as s:
        current = latest_version(s)
        assert current is not None
        version = current.version
    yield version
    with db.unit_of_work() as s:  # the other browser tests find no drafts of this admin
        admin = s.scalar(select(User).where(User.username == "admin"))
        assert admin is not None
        drafts.discard(s, admin.id)


def element(text: str, element_id: str) -> etree._Element:
    [found] = etree.fromstring(text.encode()).xpath(f"//*[@id='{element_id}']")
    return found


def condition(text: str, flow_id: str) -> str | None:
    found = element(text, flow_id).find("bpmn:conditionExpression", BPMN)
    if found is None:
        return None
    assert found.get(XSI_TYPE) == "bpmn:tFormalExpression"
    return found.text


def options(browser: Browser, datalist: str) -> list[str]:
    return list(browser.page.eval_on_selector_all(f"#{datalist} option", "items => items.map(o => o.value)"))


def change(browser: Browser, selector: str, value: str) -> None:
    browser.page.fill(selector, value)
    browser.page.locator(selector).blur()
    saved_and_checked(browser)


def test_gateway_conditions_default_flow_and_a_timer(browser: Browser, number: int) -> None:
    browser.login("admin")
    browser.goto(f"/admin/processes/{number}/edit/case.bpmn")
    browser.page.wait_for_selector(f"{MODELER}[data-state=ready]")
    browser.page.wait_for_selector("[data-testid=check-panel][data-state=done][data-ok=yes]")
    browser.page.wait_for_selector("[data-testid=properties-panel][data-state=ready]")

    select_element(browser, "grade_gateway")  # 分级?: grade 3 whistles, grade 2 (the default) dispatches
    assert browser.page.input_value("#prop-default") == "flow_grade_2"
    assert browser.page.input_value("#prop-condition-flow_grade_3") == "grade == 3"
    assert browser.page.locator("#prop-condition-flow_grade_2").count() == 0  # the default flow has none
    assert {"grade == 2", "urgent", "not fixed"} <= set(options(browser, "list-condition-flow_grade_3"))

    change(browser, "#prop-condition-flow_grade_3", "grade ==")  # deploy refuses it: marked on the flow
    browser.page.wait_for_selector("[data-testid=check-panel][data-ok=no]")
    assert browser.page.locator("[data-testid=check-problems] li[data-element=flow_grade_3]").count() >= 1
    change(browser, "#prop-condition-flow_grade_3", "grade == 3 and urgent")
    browser.page.wait_for_selector("[data-testid=check-panel][data-ok=yes]")
    assert condition(xml(browser), "flow_grade_3") == "grade == 3 and urgent"

    browser.page.select_option("#prop-default", "flow_grade_3")  # now the other way round
    saved_and_checked(browser)
    browser.page.wait_for_selector("#prop-condition-flow_grade_2")
    change(browser, "#prop-condition-flow_grade_2", "grade == 2")
    browser.page.wait_for_selector("[data-testid=check-panel][data-ok=yes]")
    saved = xml(browser)
    assert element(saved, "grade_gateway").get("default") == "flow_grade_3"
    assert condition(saved, "flow_grade_3") is None  # the default flow's condition went with the change
    assert condition(saved, "flow_grade_2") == "grade == 2"
    browser.doc_shot("admin-modeler-gateway.png")

    select_element(browser, "flow_grade_2")  # a flow selected alone: its condition
    assert browser.page.input_value("#prop-condition-flow_grade_2") == "grade == 2"

    select_element(browser, "handle_dispatched_remind_timer")  # a timer: at the stage's 80 % moment
    assert browser.page.input_value("#prop-timerKind") == "timeDate"
    assert browser.page.input_value("#prop-timer") == "handle_deadline['remind']"
    hints = options(browser, "list-timer")
    assert {"handle_deadline['due']", "verify_deadline['escalate']", '"PT24H"'} <= set(hints)
    assert not any(h.startswith("catalogue[") for h in hints)  # a result with no moments offers none
    browser.page.select_option("#prop-timerKind", "timeDuration")
    saved_and_checked(browser)
    change(browser, "#prop-timer", '"PT24H"')
    browser.page.wait_for_selector("[data-testid=check-panel][data-ok=yes]")
    timer = element(xml(browser), "handle_dispatched_remind_timer_def")
    assert [(child.tag.split("}")[1], child.text) for child in timer] == [("timeDuration", '"PT24H"')]
