"""The commands a user runs: upgrade, load the organisation, deploy, simulate — and their errors."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from unittest.mock import patch

import pytest
from flask import Flask
from sqlalchemy import func, select

from app import create_app
from app.definitions import configuration
from app.models import Case, ProcessVersion, Task, Unit
from app.services.auth import principal_for, users_holding
from app.services.cases import file_report
from app.services.org import unit_by_code
from app.services.simulate import load_simulation
from app.services.tasks import complete
from app.settings import ROOT, Settings


@pytest.fixture()
def fresh_app(empty_database_url: str) -> Iterator[Flask]:
    application = create_app(Settings(database_url=empty_database_url, testing=True))
    yield application
    application.extensions["whistle.db"].dispose()


def _run(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=list(args))
    return result.exit_code, result.output


def _edited_bundle(tmp_path: Path, triage_title: str) -> Path:
    """A copy of processes/ whose triage task has another name: a new process version."""
    edited = tmp_path / "processes"
    shutil.copytree(ROOT / "processes", edited)
    bpmn = edited / "case.bpmn"
    bpmn.write_text(bpmn.read_text(encoding="utf-8").replace("研判分级 Triage", triage_title), encoding="utf-8")
    return edited


def _ready(app: Flask) -> None:
    assert _run(app, "upgrade-db")[0] == 0
    code, out = _run(app, "load-org")
    assert code == 0, out


def test_deploy_creates_a_version_only_when_files_change(fresh_app: Flask, tmp_path: Path) -> None:
    _ready(fresh_app)
    assert _first_line(_run(fresh_app, "deploy")) == (0, "process version 1 deployed")
    assert _first_line(_run(fresh_app, "deploy")) == (0, "process version 1 unchanged")
    edited = _edited_bundle(tmp_path, "研判分级 Triage (v2)")
    assert _first_line(_run(fresh_app, "deploy", str(edited))) == (0, "process version 2 deployed")


def _first_line(result: tuple[int, str]) -> tuple[int, str]:
    """The exit code and the deploy's line (warnings may follow it: a year without a holiday table)."""
    return result[0], result[1].splitlines()[0]


def test_deploy_warns_of_years_without_a_holiday_table(fresh_app: Flask, tmp_path: Path) -> None:
    _ready(fresh_app)
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    missing = [year for year in (date.today().year, date.today().year + 1) if year > 2026]  # chinesecalendar: ≤ 2026
    code, out = _run(fresh_app, "deploy")
    assert code == 0 and all("warning: " in out and str(year) in out for year in missing)
    tables = "".join(f"  {year}:\n    holidays: [{year}-01-01]\n    workdays: []\n" for year in missing)
    calendar = config / "calendar.yaml"
    calendar.write_text(calendar.read_text(encoding="utf-8").replace("years: {}\n", "years:\n" + tables if tables
                                                                     else "years: {}\n"), encoding="utf-8")
    with patch.object(configuration, "CONFIG_DIR", config):  # the stock pack's configuration folder
        code, out = _run(fresh_app, "deploy")
    assert code == 0 and "warning:" not in out, out


def test_running_cases_stay_on_their_version(fresh_app: Flask, tmp_path: Path) -> None:
    _ready(fresh_app)
    _run(fresh_app, "deploy")
    db = fresh_app.extensions["whistle.db"]
    report = {"title": "路灯不亮", "grid": "dc-s1-c1-g1", "channel": "web"}
    with db.unit_of_work() as s:
        old_id = file_report(s, None, report).id
    edited = _edited_bundle(tmp_path, "研判分级 (v2)")
    assert _first_line(_run(fresh_app, "deploy", str(edited))) == (0, "process version 2 deployed")
    with db.unit_of_work() as s:
        new_id = file_report(s, None, report).id
        operator = principal_for(s, users_holding(s, "platform_operator", unit_by_code(s, "dc").id)[0])
        old_triage = s.scalar(select(Task).where(Task.case_id == old_id))
        complete(s, operator, old_triage.id, {"grade": 2, "matter": "streetlight_broken"})
    with db.unit_of_work() as s:
        old, new = s.get(Case, old_id), s.get(Case, new_id)
        assert (old.process_version.version, new.process_version.version) == (1, 2)
        assert old.current_step == "handle_dispatched"
        titles = dict(s.execute(select(Task.case_id, Task.title).where(Task.task_type == "triage")).all())
    assert (titles[old_id], titles[new_id]) == ("研判分级 Triage", "研判分级 (v2)")


def test_deploy_of_a_broken_bundle_fails_with_a_line_and_exit_code(fresh_app: Flask, tmp_path: Path) -> None:
    _ready(fresh_app)
    broken = tmp_path / "processes"
    shutil.copytree(ROOT / "processes", broken)
    (broken / "case.bpmn").write_text("<not-xml", encoding="utf-8")
    code, out = _run(fresh_app, "deploy", str(broken))
    assert code == 2
    assert "case.bpmn" in out and "error:" in out
    with fresh_app.extensions["whistle.db"].unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(ProcessVersion)) == 0


def _line_of(path: Path, element_id: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if f'id="{element_id}"' in line)


def test_deploy_refuses_every_problem_at_once_naming_file_element_and_line(fresh_app: Flask, tmp_path: Path) -> None:
    _ready(fresh_app)
    broken = tmp_path / "processes"
    shutil.copytree(ROOT / "processes", broken)
    case, dmn = broken / "case.bpmn", broken / "whistle_levels.dmn"
    case.write_text(case.read_text(encoding="utf-8")
                    .replace("<bpmn:script>grade = 1</bpmn:script>", "<bpmn:script>import os</bpmn:script>")
                    .replace(">grade == 3<", ">().__class__.__base__.__subclasses__()<")
                    .replace("handle_deadline['remind']</bpmn:timeDate>", "'P99999999Y'</bpmn:timeDate>"),
                    encoding="utf-8")
    before, after = dmn.read_text(encoding="utf-8").split('id="rule_street_level"', 1)
    after = after.replace('"street"', "level.__class__", 1)
    dmn.write_text(f'{before}id="rule_street_level"{after}', encoding="utf-8")
    (broken / "Triage.schema.json").write_text("{}", encoding="utf-8")
    code, out = _run(fresh_app, "deploy", str(broken))
    assert code == 2
    assert "error: process bundle rejected: 5 problems:" in out
    for where in (f"case.bpmn: set_grade_1 (line {_line_of(case, 'set_grade_1')}): script: import is not allowed",
                  f"case.bpmn: flow_grade_3 (line {_line_of(case, 'flow_grade_3')}): condition: access to '__class__'",
                  f"case.bpmn: handle_dispatched_remind_timer (line {_line_of(case, 'handle_dispatched_remind_timer')})"
                  ": timer expression: timer duration 'P99999999Y' is longer than 100 years",
                  f"whistle_levels.dmn: rule_street_level (line {_line_of(dmn, 'rule_street_level')}): input entry",
                  "Triage.schema.json and forms/triage.schema.json: two forms named 'triage.schema.json'"):
        assert f"\n{where}" in out, where
    with fresh_app.extensions["whistle.db"].unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(ProcessVersion)) == 0


def test_load_org_rejects_a_bad_file(fresh_app: Flask, tmp_path: Path) -> None:
    assert _run(fresh_app, "upgrade-db")[0] == 0
    bad = tmp_path / "org.yaml"
    bad.write_text("units:\n  - {code: x, name: X, kind: district, parent: null}\n"
                   "users:\n  - {username: u, name: U, password: p, roles: [{role: wizard, unit: x}]}\n")
    code, out = _run(fresh_app, "load-org", str(bad))
    assert code == 2 and "unknown role 'wizard'" in out


def test_simulate_reaches_varied_end_states(fresh_app: Flask) -> None:
    _ready(fresh_app)
    _run(fresh_app, "deploy")
    code, out = _run(fresh_app, "simulate", "40", "--seed", "7")
    assert code == 0, out
    for end in ("closed:self_handled", "closed:closed", "closed:escalated"):
        assert end in out
    with fresh_app.extensions["whistle.db"].unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Case)) >= 40


def test_demo_sets_everything_up_and_prints_logins(fresh_app: Flask) -> None:
    code, out = _run(fresh_app, "demo", "--no-serve", "--cases", "5")
    assert code == 0, out
    assert "demo1234" in out and "gw-s1c1g1" in out and "process version 1" in out
    assert "5 demo cases simulated" in out and "left waiting at every kind of task" in out
    with fresh_app.extensions["whistle.db"].unit_of_work() as s:
        cases = s.scalar(select(func.count()).select_from(Case))
        waiting = set(s.scalars(select(Task.task_type).where(Task.status == "open")))
        reviewing = set(s.scalars(select(Task.role).where(Task.status == "open", Task.task_type == "review")))
        supervising = sorted(s.execute(select(Task.task_type, Unit.code).join(Unit, Unit.id == Task.unit_id).where(
            Task.status == "open", Task.task_type.endswith("_head_supervise"))).all())
    assert cases >= 5 + len(load_simulation().open_work)
    assert {scenario.stop_at for scenario in load_simulation().open_work} <= waiting  # every demo role finds work
    assert reviewing == {"section_head", "deputy_leader"}  # a case at each step of the review chain
    # 督办 too, exactly the README's two: sec-s1 (dc-s1) on the community secretary's late approval,
    # sec-dc (dc) on a late grade-2 verification
    assert supervising == [("review_head_head_supervise", "dc-s1"), ("verify_dispatched_head_supervise", "dc")]
    code, out = _run(fresh_app, "demo", "--no-serve", "--cases", "5")  # running it again changes nothing
    assert code == 0 and "simulated" not in out
    with fresh_app.extensions["whistle.db"].unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == cases


def test_the_readme_run_command_serves_the_pages_and_the_api(backend: str, tmp_path: Path) -> None:
    """`flask --app wsgi demo` sets up SQLite and keeps serving the pages, the API and the deadline
    scheduler (the README's first command)."""
    if backend != "sqlite":
        pytest.skip("the run command uses the embedded default database")
    port = _free_port()
    env = os.environ | {"WHISTLE_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
                        "WHISTLE_ANCHOR_PATH": str(tmp_path / "anchors.jsonl")}  # its scheduler anchors at start
    flask = Path(sys.executable).with_name("flask")
    server = subprocess.Popen(
        [str(flask), "--app", "wsgi", "demo", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        body = _poll(f"http://127.0.0.1:{port}/api/openapi.json", seconds=90)
        assert json.loads(body)["openapi"].startswith("3.")
        assert "csrf_token" in _poll(f"http://127.0.0.1:{port}/login", seconds=10).decode()
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode()
    assert "demo1234" in output and f"http://127.0.0.1:{port}/ " in output
    assert "scheduler runs inside this server" in output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _poll(url: str, seconds: float) -> bytes:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return bytes(resp.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_reports_before_any_deploy_are_503_not_a_crash(fresh_app: Flask) -> None:
    _ready(fresh_app)
    resp = fresh_app.test_client().post(
        "/api/public/reports", json={"title": "路灯不亮", "grid": "dc-s1-c1-g1", "channel": "web"}
    )
    assert resp.status_code == 503
    assert "deploy" in resp.get_json()["message"]


def test_a_diagram_whose_task_unit_cannot_be_evaluated_fails_cleanly(fresh_app: Flask, tmp_path: Path) -> None:
    """A broken expression in a deployed diagram is a JSON process error, and nothing is stored."""
    _ready(fresh_app)
    edited = tmp_path / "processes"
    shutil.copytree(ROOT / "processes", edited)
    bpmn = edited / "case.bpmn"
    text = bpmn.read_text(encoding="utf-8")
    bpmn.write_text(text.replace('name="unit" value="top"', 'name="unit" value="no_such_unit_var"', 1),
                    encoding="utf-8")
    assert _run(fresh_app, "deploy", str(edited))[0] == 0
    resp = fresh_app.test_client().post(
        "/api/public/reports", json={"title": "路灯不亮", "grid": "dc-s1-c1-g1", "channel": "web"}
    )
    assert resp.status_code == 500 and resp.get_json()["error"] == "process_error"
    assert "triage" in resp.get_json()["message"]
    with fresh_app.extensions["whistle.db"].unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 0
