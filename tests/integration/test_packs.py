"""The locality packs (config/localities/*) run their whistle systems end to end over HTTP.

Each pack is deployed and its organisation loaded on a database of its own, as `demo --locality`
and production do; then every scenario the pack ships (processes/scenarios/*.yaml in the pack: each
of its whistle levels, escalation up to its top level) is played through the JSON API, each task
completed by a user holding the task's role in the task's unit. The scenarios are the same files
`check-processes --locality <pack>` plays through the services: here they go through HTTP, on
SQLite and PostgreSQL. Afterwards every case replays and every chain verifies.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app import create_app
from app.cli import run_migrations
from app.definitions import configuration, packs
from app.definitions.scenarios import Scenario, escalated_from, read_scenarios
from app.definitions.versions import configuration_of, deploy
from app.models import Case, RoleAssignment, Unit, User
from app.services.audit import verify
from app.services.cases import place_code
from app.services.org import ancestors, beside_path, load_organisation
from app.services.replay import replay_all
from app.settings import Settings
from tests.conftest import ROOMY_LIMITS, Api
from tests.web.pages_client import Pages

PACKS = [name for name in packs.names() if name != packs.DEFAULT]


def test_the_four_seed_localities_are_packs() -> None:
    assert {"guandu", "dongcheng", "zaozhuang", "zhaoyuan"} <= set(PACKS)


@pytest.fixture()
def pack_app(request: pytest.FixtureRequest, empty_database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app on its own database with the pack deployed and its organisation loaded."""
    application = pack_application(request.param, empty_database_url, tmp_path)
    yield application
    application.extensions["whistle.db"].dispose()


def pack_application(name: str, database_url: str, folder: Path) -> Flask:
    """The app on a new database, migrated, with the pack deployed and its organisation loaded."""
    pack = packs.find(name)
    run_migrations(database_url)
    application = create_app(Settings(database_url=database_url, testing=True, upload_dir=folder / "up",
                                      anchor_path=folder / "anchors.jsonl", **ROOMY_LIMITS))
    db = application.extensions["whistle.db"]
    with db.unit_of_work() as session:
        version, _ = deploy(session, pack.files(), "tests")
        config = configuration_of(session, version.id)
    with configuration.activate(config), db.unit_of_work() as session:
        load_organisation(session, pack.org_file)
    return application


class HttpPlayer:
    """Plays a scenario file through the JSON API."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.api = Api(app.test_client(), {})

    def user_holding(self, role: str, unit_code: str, upwards: bool = False) -> str:
        """A user holding the role in the unit (``upwards``: or above it, or beside its path)."""
        with self.app.extensions["whistle.db"].unit_of_work() as session:
            unit = session.scalar(select(Unit).where(Unit.code == unit_code))
            assert unit is not None, unit_code
            for candidate in [*ancestors(unit), *beside_path(session, unit)] if upwards else [unit]:
                name = session.scalar(select(User.username).join(RoleAssignment).where(
                    RoleAssignment.role == role, RoleAssignment.unit_id == candidate.id).order_by(User.username))
                if name:
                    return str(name)
        raise AssertionError(f"nobody holds {role} at {unit_code}")

    def play(self, scenario: Scenario) -> dict[str, Any]:
        reporter = self.user_holding(scenario.report_by, place_code(scenario.report), upwards=True)
        answer = self.api.post(reporter, "/api/reports", json=scenario.report)
        assert answer.status_code == 201, answer.get_json()
        case_id = answer.get_json()["id"]
        for number, step in enumerate(scenario.steps, 1):
            case_id = self.step(case_id, step, f"{scenario.file} step {number}")
        return self.case(case_id)

    def case(self, case_id: int) -> dict[str, Any]:
        answer = self.api.get("auditor", f"/api/cases/{case_id}")
        assert answer.status_code == 200, answer.get_json()
        return dict(answer.get_json())

    def step(self, case_id: int, step: dict[str, Any], where: str) -> int:
        if "follow" in step:
            with self.app.extensions["whistle.db"].unit_of_work() as session:
                return escalated_from(session, case_id)
        assert "wait" not in step, "the packs' scenarios let no time pass"
        matching = [t for t in self.case(case_id)["open_tasks"] if t["task_type"] == step["task"]
                    and step.get("unit", t["unit"]) == t["unit"]]
        assert matching, f"{where}: no open {step['task']} in {self.case(case_id)['open_tasks']}"
        for task in matching if step.get("each") else matching[:1]:
            assert step.get("role", task["role"]) == task["role"], (where, task)
            user = self.user_holding(task["role"], task["unit"])
            answer = self.api.post(user, f"/api/tasks/{task['id']}/complete", json=step.get("form") or {})
            assert answer.status_code == 200, (where, user, answer.get_json())
        return case_id


@pytest.mark.parametrize("pack_app", PACKS, indirect=True)
def test_every_scenario_of_the_pack_runs_over_http(pack_app: Flask, request: pytest.FixtureRequest) -> None:
    pack = packs.find(request.node.callspec.params["pack_app"])
    scenarios = read_scenarios(pack.scenarios_dir)
    assert scenarios, f"{pack.name} ships no scenario"
    player = HttpPlayer(pack_app)
    levels_played = set()
    for scenario in scenarios:
        case = player.play(scenario)
        for key, want in scenario.end.items():
            got = sorted(t["task_type"] for t in case["open_tasks"]) if key == "open_tasks" else case[key]
            assert got == want, (scenario.file, key, got, want)
        levels_played.add(case["level"])
    db = pack_app.extensions["whistle.db"]
    with db.unit_of_work() as session:
        locality = configuration_of(session, session.scalar(select(Case.process_version_id).limit(1))).get("locality")
        tops = {code for code, level in locality.levels.items() if level.escalates_to is None}
        assert tops <= levels_played, f"{pack.name}: no scenario reaches its top level {tops}"
        case_ids = list(session.scalars(select(Case.id)))
        assert all(r.ok for r in replay_all(session, case_ids))
        assert verify(session, None, snapshots=True).first_break is None


@pytest.mark.parametrize("pack_app", ["dongcheng"], indirect=True)
def test_triage_offers_the_packs_levels_and_refuses_others(pack_app: Flask) -> None:
    player = HttpPlayer(pack_app)
    report = {"title": "占道", "grid": "dch-s1-c1-g1", "channel": "grid_patrol"}
    answer = player.api.post(player.user_holding("grid_worker", "dch-s1-c1-g1"), "/api/reports", json=report)
    case_id = answer.get_json()["id"]
    task = player.case(case_id)["open_tasks"][0]
    operator = player.user_holding("platform_operator", task["unit"])
    refused = player.api.post(operator, f"/api/tasks/{task['id']}/complete",
                              json={"grade": 3, "matter": "illegal_parking", "level": "community"})
    assert refused.status_code == 422
    assert "'community' is not one of district, street" in refused.get_json()["fields"]["level"]
    pages = Pages(pack_app.test_client())
    pages.login(operator)
    page = pages.get(f"/tasks/{task['id']}").get_data(as_text=True)
    assert "街乡哨" in page and "区级哨" in page and "社区哨" not in page


def test_check_processes_plays_a_packs_scenarios(own_app: Flask) -> None:
    result = own_app.test_cli_runner().invoke(args=["check-processes", "--locality", "zhaoyuan"])
    assert result.exit_code == 0, result.output
    assert "2 passed, 0 failed" in result.output


def test_an_unknown_locality_is_refused_with_the_known_ones(own_app: Flask) -> None:
    result = own_app.test_cli_runner().invoke(args=["deploy", "--locality", "atlantis"])
    assert result.exit_code == 2
    assert "unknown locality 'atlantis'" in result.output and "zhaoyuan" in result.output


@pytest.mark.parametrize("pack_app", ["zhaoyuan"], indirect=True)
def test_the_public_report_form_follows_the_packs_tree(pack_app: Flask) -> None:
    """招远: 街道（镇） → 社区 → 基础网格 / 专属网格; a citizen reports on a dedicated grid (a market)."""
    pages = Pages(pack_app.test_client())
    html = pages.get("/report").get_data(as_text=True)
    assert ">街道（镇）</label>" in html and ">社区</label>" in html and ">基础网格 / 专属网格</label>" in html
    assert 'value="zy-s1-c1-g2" data-parent="zy-s1-c1"' in html and "府前农贸市场专属网格" in html
    answer = pages.post("/report", {"place_1": "zy-s1", "place_2": "zy-s1-c1", "place": "zy-s1-c1-g2",
                                    "title": "市场门口垃圾堆积"})
    assert answer.status_code == 302 and "/track/" in answer.location


def test_demo_starts_a_pack_with_work_in_the_inboxes(empty_database_url: str, tmp_path: Path) -> None:
    application = create_app(Settings(database_url=empty_database_url, testing=True, upload_dir=tmp_path / "up",
                                      anchor_path=tmp_path / "anchors.jsonl", **ROOMY_LIMITS))
    try:
        result = application.test_cli_runner().invoke(args=["demo", "--locality", "dongcheng", "--no-serve"])
        assert result.exit_code == 0, result.output
        assert "locality 'dongcheng'" in result.output and "2 left half way" in result.output
        api = Api(application.test_client(), {})
        with application.extensions["whistle.db"].unit_of_work() as session:
            assert len(session.scalars(select(Case.id)).all()) >= 4
        open_tasks = [t for name in ("staff-s1", "staff-s2", "section-s1", "section-s2", "deputy-s1", "deputy-s2",
                                     "sec-s1", "sec-s2", "op-dch", "op-s1", "op-s2")
                      for t in api.get(name, "/api/inbox").get_json()["items"]]
        assert open_tasks, "the half-played scenarios leave work in someone's inbox"
    finally:
        application.extensions["whistle.db"].dispose()
