"""`check-processes`: an admin validates a bundle and plays its scenario files (no pytest, no Python),
in a throwaway database — their own database is not touched."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.definitions.versions import read_files
from app.models import Case, ProcessVersion
from app.services import clock
from app.settings import ROOT
from tests.conftest import Api


def _run(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["check-processes", *args])
    return result.exit_code, result.output


@pytest.fixture()
def bundle(tmp_path: Path) -> Path:
    copy = tmp_path / "processes"
    shutil.copytree(ROOT / "processes", copy)
    return copy


def _cases(app: Flask) -> int:
    with app.extensions["whistle.db"].unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(Case)) or 0)


def test_the_shipped_scenarios_pass_without_touching_the_database(app: Flask) -> None:
    before, moment = _cases(app), clock.now()
    code, out = _run(app)
    assert code == 0, out
    scenarios = sorted(p.name for p in (ROOT / "processes" / "scenarios").glob("*.yaml"))
    assert len(scenarios) >= 6
    for name in scenarios:
        assert f"PASS scenarios/{name}" in out
    assert f"{len(scenarios)} passed, 0 failed" in out
    assert _cases(app) == before  # a throwaway database
    assert abs((clock.now() - moment).total_seconds()) < 60  # the time scenarios let pass is given back


def test_a_scenario_that_does_not_match_fails_naming_step_and_what_differs(app: Flask, bundle: Path) -> None:
    scenario = bundle / "scenarios" / "dispatched_sent_back.yaml"
    scenario.write_text(scenario.read_text(encoding="utf-8").replace("unit: dept-cgw", "unit: dept-hw"),
                        encoding="utf-8")
    code, out = _run(app, str(bundle))
    assert code == 1
    assert ("FAIL scenarios/dispatched_sent_back.yaml — 派单回退后改派办结 Dispatched, sent back, re-dispatched, "
            "closed: step 2 (handle_dispatched @dept-hw): expected an open task 'handle_dispatched @dept-hw'; "
            "open tasks: handle_dispatched@dept-cgw") in out
    assert "1 failed" in out


def test_a_wrong_deadline_or_end_state_fails(app: Flask, bundle: Path) -> None:
    scenario = bundle / "scenarios" / "community_whistle.yaml"
    text = scenario.read_text(encoding="utf-8")
    scenario.write_text(text.replace("due_hours: 4, form: {on_site: true, attendees: 张三",
                                     "due_hours: 3, form: {on_site: true, attendees: 张三"), encoding="utf-8")
    ends = bundle / "scenarios" / "self_handled.yaml"
    ends.write_text(ends.read_text(encoding="utf-8").replace("outcome: self_handled", "outcome: closed"),
                    encoding="utf-8")
    code, out = _run(app, str(bundle))
    assert code == 1
    assert "step 6 (report_in @dept-cgzf): task 'report_in' is due" in out and "expected" in out
    assert "the case ends with outcome='self_handled' (expected 'closed')" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name: x\nreport: {by: grid_worker, body: {}}\nsteps: [{task: triage, wait: 1h}]\nend: {}\n",
         "step 1: a step is one of {task: …}, {wait: …}, {follow: escalated}"),
        ("name: x\nreport: {by: grid_worker, body: {}}\nsteps: [{wait: soon}]\nend: {}\n",
         "wait 'soon': expected a positive number with m, h or d"),
        ("name: x\nreport: {by: grid_worker, body: {}}\nsteps: [{task: triage, colour: red}]\nend: {}\n",
         "unknown key(s) ['colour']"),
        ("name: x\nsteps: []\n", "needs `name`, `report: {by, body}`"),
    ],
)
def test_a_bad_scenario_file_is_refused_naming_it(app: Flask, bundle: Path, content: str, message: str) -> None:
    (bundle / "scenarios" / "zz_bad.yaml").write_text(content, encoding="utf-8")
    code, out = _run(app, str(bundle))
    assert code == 2 and "scenarios/zz_bad.yaml" in out and message in out, out


def test_a_bundle_that_would_not_deploy_is_refused(app: Flask, bundle: Path) -> None:
    (bundle / "case.bpmn").write_text("<not-bpmn/>", encoding="utf-8")
    code, out = _run(app, str(bundle))
    assert code == 2 and "case.bpmn" in out, out


def test_an_admin_checks_a_bundle_through_the_api_with_this_deployments_people(own_app: Flask) -> None:
    """POST /api/processes/check: the same check as the command, on uploaded files, with the
    organisation of the deployment; a failing scenario is reported, nothing is stored."""
    api = Api(own_app.test_client(), {})
    files = read_files(ROOT / "processes")
    shipped = sorted((ROOT / "processes" / "scenarios").glob("*.yaml"))
    files |= {f"scenarios/{p.name}": p.read_text(encoding="utf-8") for p in shipped}
    wrong = files["scenarios/community_whistle.yaml"].replace("level: community, grade: 3", "level: street, grade: 3")
    answer = api.post("admin", "/api/processes/check", json={"files": {**files, "scenarios/zz_wrong.yaml": wrong}})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["ok"] is False and body["passed"] == len(shipped) and body["failed"] == 1
    assert "level='community' (expected 'street')" in body["results"][-1]["message"]
    assert api.post("op-dc", "/api/processes/check", json={"files": files}).status_code == 403
    broken = api.post("admin", "/api/processes/check", json={"files": {**files, "scenarios/bad.yaml": "steps: ["}})
    assert broken.status_code == 422 and "scenarios/bad.yaml" in broken.get_json()["message"]
    with own_app.extensions["whistle.db"].unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(ProcessVersion)) == 1
