"""docs/processes.md's worked example, followed literally: its blocks are applied to a copy of the
shipped processes/ and config/, the admin's check passes with the new scenario, and the new level
runs end to end over HTTP after a deploy and load-org (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from app.definitions.scenarios import Scenario, check_processes, read_scenarios
from app.definitions.versions import read_files
from app.models import Case, ReportIn, Unit
from app.services import clock
from app.services.audit import verify
from app.services.org import load_organisation
from app.services.replay import replay_all
from app.services.simulate import advance_time
from app.settings import ROOT
from tests.conftest import Api
from tests.integration.test_packs import HttpPlayer

GUIDE = ROOT / "docs" / "processes.md"
STEP = re.compile(r'<!-- guide: (?:(insert (?:after|before)) the line "(.+?)" in|(new file)) (\S+) -->\n'
                  r"```\w*\n(.*?)```", re.S)


def apply_guide(root: Path) -> list[str]:
    """Copy processes/ and config/ under ``root`` and make the guide's edits there; the files touched."""
    shutil.copytree(ROOT / "processes", root / "processes")
    shutil.copytree(ROOT / "config", root / "config", ignore=shutil.ignore_patterns("localities"))
    touched = []
    for how, anchor, new, name, block in STEP.findall(GUIDE.read_text(encoding="utf-8")):
        path = root / name
        if new:
            path.write_text(block, encoding="utf-8")
        else:
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            at = next(i for i, line in enumerate(lines) if line.rstrip("\n") == anchor)
            at += 1 if how == "insert after" else 0
            path.write_text("".join([*lines[:at], block, *lines[at:]]), encoding="utf-8")
        touched.append(name)
    return touched


def test_the_guide_edits_five_files_of_data(tmp_path: Path) -> None:
    assert set(apply_guide(tmp_path)) == {"config/locality.yaml", "processes/whistle_levels.dmn",
                                          "config/catalogue.yaml", "config/demo_org.yaml",
                                          "processes/scenarios/owner_whistle.yaml"}


def test_the_admins_check_passes_with_the_guides_level(tmp_path: Path) -> None:
    apply_guide(tmp_path)
    files = read_files(tmp_path / "processes", tmp_path / "config")
    report = check_processes(tmp_path / "processes", tmp_path / "config" / "demo_org.yaml", files)
    assert report.bundle_error is None, report.bundle_error
    assert [r.line() for r in report.results if not r.ok] == []
    assert "scenarios/owner_whistle.yaml" in {r.file for r in report.results}


def test_the_guides_level_runs_over_http_after_deploy_and_load_org(own_app: Flask, tmp_path: Path) -> None:
    apply_guide(tmp_path)
    api = Api(own_app.test_client(), {})
    files = read_files(tmp_path / "processes", tmp_path / "config")
    answer = api.post("admin", "/api/processes", json={"files": files})
    assert answer.status_code == 201, answer.get_json()
    db = own_app.extensions["whistle.db"]
    with own_app.app_context(), db.unit_of_work() as session:  # as `load-org` does: the latest version's model
        load_organisation(session, tmp_path / "config" / "demo_org.yaml")
    scenario = next(s for s in read_scenarios(tmp_path / "processes") if s.file.endswith("owner_whistle.yaml"))
    case = HttpPlayer(own_app).play(scenario)
    assert (case["status"], case["outcome"], case["level"]) == ("closed", "closed", "owner")
    with db.unit_of_work() as session:
        rows = session.scalars(select(ReportIn).where(ReportIn.case_id == case["id"])).all()
        assert [session.get(Unit, r.department_id).code for r in rows] == ["dc-s1-c1-wy"]


@pytest.mark.parametrize("name", ["owners_committee", "owners_chair", "owner"])
def test_the_code_does_not_name_what_the_guide_adds(name: str) -> None:
    for path in [*ROOT.joinpath("app").rglob("*.py"), *ROOT.joinpath("handlers").rglob("*.py")]:
        assert f'"{name}"' not in path.read_text(encoding="utf-8"), path


def test_the_guides_level_has_deadlines_supervision_replay_and_verify(own_app: Flask, tmp_path: Path) -> None:
    """A late report-in by the property company opens a 督办 for its manager (the kind's head role);
    the cases replay and their chains verify."""
    apply_guide(tmp_path)
    api = Api(own_app.test_client(), {})
    assert api.post("admin", "/api/processes", json={"files": read_files(tmp_path / "processes", tmp_path / "config")}
                    ).status_code == 201
    db = own_app.extensions["whistle.db"]
    with own_app.app_context(), db.unit_of_work() as session:
        load_organisation(session, tmp_path / "config" / "demo_org.yaml")
    scenario = next(s for s in read_scenarios(tmp_path / "processes") if s.file.endswith("owner_whistle.yaml"))
    player = HttpPlayer(own_app)
    late = Scenario(scenario.file, scenario.name, scenario.report_by, scenario.report, scenario.steps[:2], {})
    case_id = player.play(late)["id"]
    start = clock.now()
    try:
        advance_time(db, timedelta(days=3))
        supervising = [t for t in player.case(case_id)["open_tasks"] if t["task_type"] == "report_in_head_supervise"]
        assert [(t["role"], t["unit"]) for t in supervising] == [("property_manager", "dc-s1-c1-wy")]
    finally:
        clock.advance(start - clock.now())
    with db.unit_of_work() as session:
        ids = list(session.scalars(select(Case.id)))
        assert all(r.ok for r in replay_all(session, ids))
        assert verify(session, ids, snapshots=True, system=False).first_break is None


def test_the_guides_level_escalates_to_a_community_whistle(own_app: Flask, tmp_path: Path) -> None:
    """业主哨 the committee cannot solve goes up as a community whistle (its escalates_to)."""
    apply_guide(tmp_path)
    api = Api(own_app.test_client(), {})
    assert api.post("admin", "/api/processes", json={"files": read_files(tmp_path / "processes", tmp_path / "config")}
                    ).status_code == 201
    with own_app.app_context(), own_app.extensions["whistle.db"].unit_of_work() as session:
        load_organisation(session, tmp_path / "config" / "demo_org.yaml")
    scenario = next(s for s in read_scenarios(tmp_path / "processes") if s.file.endswith("owner_whistle.yaml"))
    escalate = {"task": "coordinate", "unit": "dc-s1-c1-ywh",
                "form": {"meeting_held": True, "attendees": ["业委会", "物业"], "decisions": "小区层面无法解决",
                         "decision": "escalate", "escalate_reason": "物业无力整改"}}
    steps = [*scenario.steps[:3], escalate, {"follow": "escalated"}]
    player = HttpPlayer(own_app)
    case = player.play(Scenario(scenario.file, scenario.name, scenario.report_by, scenario.report, steps, {}))
    assert case["level"] == "community"
    assert [(t["task_type"], t["unit"]) for t in case["open_tasks"]] == [("prepare_whistle", "dc-s1-c1")]
