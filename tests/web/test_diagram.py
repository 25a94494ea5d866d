"""The case diagram: where a case stands per process (Instance.element_states), the access-checked
diagram data of the case's own process version, and the bpmn-js viewer served without a CDN."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.engine import ElementStates
from app.models import Case, ProcessVersion
from app.services import workflow
from app.settings import ROOT
from tests.conftest import PASSWORD, Api, cookie_logout
from tests.integration.flow import FORMS, Flow

DEPTS = ["dept-cgzf", "dept-hw"]


@pytest.fixture()
def flow(api: Api) -> Flow:
    return Flow(api)


def states(app: Flask, case_id: int) -> dict[str, ElementStates]:
    with app.extensions["whistle.db"].unit_of_work() as s:
        return workflow.load(s, s.get(Case, case_id)).element_states()


def whistle_case(flow: Flow) -> int:
    case_id = int(flow.report(title="违规广告 流程图")["id"])
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"])
    flow.review_chain(case_id, "community")
    return case_id


def test_a_new_report_waits_at_triage(app: Flask, flow: Flow) -> None:
    case_id = int(flow.report(title="路灯不亮 流程图")["id"])
    found = states(app, case_id)
    assert list(found) == ["case"]
    assert found["case"].active == ("triage",)
    assert {"start_case", "init_case"} <= set(found["case"].completed)
    assert "triage" not in found["case"].completed


def test_whistle_tokens_sit_in_the_called_process_and_its_embedded_subprocess(app: Flask, flow: Flow) -> None:
    case_id = whistle_case(flow)
    flow.do("cgzf-staff", case_id, "report_in", FORMS["report_in"], unit="dept-cgzf")
    found = states(app, case_id)
    assert list(found) == ["case", "whistle"]  # the embedded report_in_all is drawn in whistle's diagram
    assert found["case"].active == ("call_whistle",)
    assert "triage" in found["case"].completed
    whistle = found["whistle"]
    assert {"prepare_whistle", "review", "next_reviewer", "review_head"} <= set(whistle.completed)
    # one department reported in, the other still has to: report_in is both done and waiting
    assert {"report_in", "report_in_all"} <= set(whistle.active)
    assert {"report_in", "report_in_record"} <= set(whistle.completed)
    assert "coordinate" not in whistle.completed + whistle.active


def test_a_closed_whistle_holds_no_token(app: Flask, flow: Flow) -> None:
    case_id = whistle_case(flow)
    flow.report_in_all(case_id, DEPTS)
    flow.do("staff-s1c1", case_id, "coordinate", FORMS["coordinate"])
    flow.handle_all(case_id, DEPTS)
    flow.close_whistle(case_id, "community", DEPTS)
    found = states(app, case_id)
    assert set(found) == {"case", "whistle", "callback_process"}
    assert all(not state.active for state in found.values())
    assert "callback" in found["callback_process"].completed
    assert {"evaluate", "verify", "feedback"} <= set(found["whistle"].completed)
    assert found["whistle"].to_dict()["completed"] == list(found["whistle"].completed)


# --- the route -----------------------------------------------------------------------------------


def login(client: FlaskClient, username: str) -> None:
    assert client.post("/api/login", json={"username": username, "password": PASSWORD}).status_code == 200


def test_diagram_data_is_the_cases_own_version_for_those_who_see_it(
    app: Flask, client: FlaskClient, flow: Flow
) -> None:
    case_id = whistle_case(flow)
    login(client, "sec-s1c1")
    resp = client.get(f"/cases/{case_id}/diagram.json")
    assert resp.status_code == 200, resp.data
    data: dict[str, Any] = resp.get_json()
    with app.extensions["whistle.db"].unit_of_work() as s:
        case = s.get(Case, case_id)
        version = s.get(ProcessVersion, case.process_version_id)
        files = version.files
        assert data["process_version"] == version.version
    assert [p["id"] for p in data["processes"]] == ["case", "whistle"]
    main, called = data["processes"]
    assert (main["file"], main["xml"]) == ("case.bpmn", files["case.bpmn"])
    assert (called["file"], called["xml"]) == ("whistle.bpmn", files["whistle.bpmn"])
    assert main["name"].startswith("案件办理") and called["name"].startswith("吹哨报到")
    assert main["active"] == ["call_whistle"] and "report_in" in called["active"]
    for process in data["processes"]:  # every id named is an element of that diagram
        for element in process["completed"] + process["active"]:
            assert f'id="{element}"' in process["xml"], element

    login(client, "gw-s2c1g1")  # another street: 404, existence does not leak
    assert client.get(f"/cases/{case_id}/diagram.json").status_code == 404
    assert client.get("/cases/999999999/diagram.json").status_code == 404
    cookie_logout(client)
    resp = client.get(f"/cases/{case_id}/diagram.json")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_viewer_is_served_from_node_modules_and_nothing_else_is(client: FlaskClient) -> None:
    dist = ROOT / "node_modules" / "bpmn-js" / "dist"
    assert dist.is_dir(), "bpmn-js is missing: run `npm ci` (the README's set-up does)"
    js = client.get("/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js")
    assert js.status_code == 200 and js.data == (dist / "bpmn-navigated-viewer.production.min.js").read_bytes()
    assert client.get("/vendor/bpmn-js/assets/bpmn-js.css").status_code == 200
    assert client.get("/vendor/bpmn-js/assets/diagram-js.css").status_code == 200
    assert client.get("/vendor/bpmn-js/bpmn-modeler.production.min.js").status_code == 404
    assert client.get("/vendor/bpmn-js/assets/../../package.json").status_code == 404
    assert client.get("/vendor/bpmn-js/assets/%2e%2e/%2e%2e/package.json").status_code == 404


def test_viewer_version_is_pinned() -> None:
    import json

    package = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    pinned = package["dependencies"]["bpmn-js"]
    assert pinned[0].isdigit(), "pin bpmn-js to an exact version"
    assert lock["packages"]["node_modules/bpmn-js"]["version"] == pinned


def test_an_escalated_whistle_draws_its_own_main_process(app: Flask, client: FlaskClient, flow: Flow) -> None:
    """社呼街应: the new street whistle runs the whistle process alone; its diagram starts there."""
    case_id = whistle_case(flow)
    flow.report_in_all(case_id, DEPTS)
    flow.do("staff-s1c1", case_id, "coordinate",
            FORMS["coordinate"] | {"decision": "escalate", "escalate_reason": "社区协调不了"})
    found = states(app, case_id)
    assert {"escalate", "close_escalated"} <= set(found["whistle"].completed)
    assert all(not state.active for state in found.values())
    [street_number] = flow.case(case_id)["escalated_to"]
    with app.extensions["whistle.db"].unit_of_work() as s:
        street_id = s.scalar(select(Case.id).where(Case.number == street_number))
    login(client, "sec-s1")
    data = client.get(f"/cases/{street_id}/diagram.json").get_json()
    assert [p["id"] for p in data["processes"]] == ["whistle"]
    assert data["processes"][0]["active"] == ["prepare_whistle"]
