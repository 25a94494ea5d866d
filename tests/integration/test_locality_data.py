"""What a role may do and which units a tree may hold come from the locality model, not from code:
an admin's edit of config/locality.yaml changes them, and load-org refuses what the model does not
allow."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask

from app.services.errors import Invalid
from app.services.locality import LOCALITY_FILE
from app.services.org import load_organisation
from app.services.processes import read_files
from app.settings import ROOT
from tests.conftest import Api
from tests.integration.flow import Flow

SHIPPED = LOCALITY_FILE.read_text(encoding="utf-8")


def _deploy_model(api: Api, text: str) -> None:
    """Deploy the shipped processes and configuration with this locality model, as an admin does
    through the API: it takes effect on the next request."""
    files = read_files(ROOT / "processes")
    answer = api.post("admin", "/api/processes", json={"files": {**files, "config/locality.yaml": text}})
    assert answer.status_code in (200, 201), answer.get_json()


def test_who_sees_the_reporters_contact_is_a_capability_in_the_model(own_app: Flask) -> None:
    api = Api(own_app.test_client(), {})
    flow = Flow(api)
    case_id = flow.report(title="路灯不亮", reporter_name="王女士", reporter_phone="13800000001")["id"]
    assert "reporter" in api.get("callback", f"/api/cases/{case_id}").get_json()
    old = "    label: {zh: 回访员, en: Call-back agent}\n    capabilities: [see_contact]\n"
    assert old in SHIPPED
    _deploy_model(api, SHIPPED.replace(old, "    label: {zh: 回访员, en: Call-back agent}\n"))
    body = api.get("callback", f"/api/cases/{case_id}").get_json()
    assert "reporter" not in body and "13800000001" not in str(body)


def test_who_may_assign_is_a_capability_in_the_model(own_app: Flask) -> None:
    api = Api(own_app.test_client(), {})
    flow = Flow(api)
    case_id = flow.report(title="路灯不亮")["id"]
    flow.do("op-dc", case_id, "triage", {"grade": 2, "matter": "streetlight_broken"})
    task = flow.task(case_id, "handle_dispatched")
    dept = task["unit"].removeprefix("dept-")  # the demo's users of a department: <d>-head, <d>-staff
    head, staff = f"{dept}-head", f"{dept}-staff"
    path = f"/api/tasks/{task['id']}/assign"
    label = "  dept_head:\n    label: {zh: 部门一把手, en: Department head}\n"
    assert label + "    capabilities: [assign]\n" in SHIPPED
    _deploy_model(api, SHIPPED.replace(label + "    capabilities: [assign]\n", label))
    assert api.post(head, path, json={"username": staff}).status_code == 403
    _deploy_model(api, SHIPPED)  # deployed again as it was: the capability is back
    answer = api.post(head, path, json={"username": staff})
    assert answer.get_json() == {"task": task["id"], "assignee": staff}


@pytest.mark.parametrize(
    ("unit", "message"),
    [
        ("{code: x-estate, name: 小区, kind: estate, parent: dc-s1-c1}", "unit 'x-estate' has unknown kind 'estate'"),
        ("{code: x-grid, name: 网格, kind: grid, parent: dc-s1}",
         "unit 'x-grid' of kind 'grid' cannot sit under street (allowed parents: community)"),
        ("{code: x-top, name: 顶, kind: street, parent: null}",
         "unit 'x-top' of kind 'street' cannot sit under nothing (allowed parents: district)"),
    ],
)
def test_load_org_refuses_units_the_model_does_not_allow(app: Flask, tmp_path: Path, unit: str, message: str) -> None:
    org = tmp_path / "org.yaml"
    org.write_text(f"units:\n  - {unit}\nusers: []\n", encoding="utf-8")
    with pytest.raises(Invalid, match=re.escape(message)), app.extensions["whistle.db"].unit_of_work() as session:
        load_organisation(session, org)
