"""What a role may do and which units a tree may hold come from the locality model, not from code:
an admin's edit of config/locality.yaml changes them, and load-org refuses what the model does not
allow."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from app.definitions.scenarios import play_step, report_case
from app.definitions.versions import deploy, read_files
from app.models import Case, ReportIn, Unit
from app.services import clock
from app.services.errors import Invalid
from app.services.locality import LOCALITY_FILE
from app.services.org import load_organisation
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
        ("{code: x-grid, name: 网格, kind: grid, parent: nowhere}",
         "unit 'x-grid' names parent 'nowhere', which is no unit"),
    ],
)
def test_load_org_refuses_units_the_model_does_not_allow(app: Flask, tmp_path: Path, unit: str, message: str) -> None:
    org = tmp_path / "org.yaml"
    org.write_text(f"units:\n  - {unit}\nusers: []\n", encoding="utf-8")
    with pytest.raises(Invalid, match=re.escape(message)), app.extensions["whistle.db"].unit_of_work() as session:
        load_organisation(session, org)


def _renamed_report_in(files: dict[str, str]) -> dict[str, str]:
    """The stock bundle with the report-in task called `check_in` (its id, its flows, its timers and
    the task names its 督办 handlers are given)."""
    text = files["whistle.bpmn"]
    for old, new in (('id="report_in"', 'id="check_in"'), ('Ref="report_in"', 'Ref="check_in"'),
                     ('bpmnElement="report_in"', 'bpmnElement="check_in"'),
                     ('id="task" type="any" value="\'report_in\'"', 'id="task" type="any" value="\'check_in\'"')):
        assert old in text, old
        text = text.replace(old, new)
    return {**files, "whistle.bpmn": text}


def test_a_late_report_in_is_late_whatever_the_diagram_calls_its_task(own_app: Flask) -> None:
    """The report-in record takes the deadline of the task that was completed to report in: it
    looked the task up by the id `report_in`, so with the task renamed every report-in was on time."""
    db = own_app.extensions["whistle.db"]
    with db.unit_of_work() as session:
        version, created = deploy(session, _renamed_report_in(read_files(ROOT / "processes")), "tests")
        assert created
    case_id, _ = report_case(db, "grid_worker", {"title": "违规广告", "grid": "dc-s1-c1-g1", "channel": "grid_patrol"})
    approve = {"decision": "approve"}
    start = clock.now()
    steps = ({"task": "triage", "form": {"grade": 3, "matter": "illegal_advertising", "level": "community"}},
                 {"task": "prepare_whistle", "form": {"summary": "违规广告", "situation": "enforcement"}},
                 {"task": "review", "role": "section_head", "form": approve},
                 {"task": "review", "role": "deputy_leader", "form": approve},
                 {"task": "review_head", "form": approve},
                 {"task": "check_in", "unit": "dept-cgzf", "form": {"on_site": True}},
                 {"wait": "3d"},
                 {"task": "check_in", "unit": "dept-hw", "form": {"on_site": True}})
    try:
        for step in steps:
            play_step(db, case_id, step)
    finally:
        clock.advance(start - clock.now())  # the clock is the session's: give the time back
    with db.unit_of_work() as session:
        rows = session.scalars(select(ReportIn).where(ReportIn.case_id == case_id)).all()
        on_time = {session.get(Unit, r.department_id).code: r.on_time for r in rows}
        assert session.get(Case, case_id).process_version_id == version.id
    assert on_time == {"dept-cgzf": True, "dept-hw": False}
