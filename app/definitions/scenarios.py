"""An admin's own check of a process bundle: scenario tests written as data beside the processes.

``processes/scenarios/*.yaml`` each describe one case: what is reported, then the tasks people
complete (the task each step expects, its role, unit and deadline, and the form it is given),
time passing, and how the case must end. ``check-processes`` validates the bundle as a deploy
would, then plays every scenario in a throwaway database (migrated, with the organisation loaded
and the bundle deployed) through the real services — the engine, the handlers, the deadlines — as
users holding each task's role in its unit. No pytest, no Python: a new whistle level is proved
by a scenario file before it is deployed.

A scenario file::

    name: 社区哨一次办结 Community whistle closed at once
    report:
      by: grid_worker            # a role held at the report's place (or above it), or `public`
      body: {title: 垃圾堆放, grid: dc-s1-c1-g1, channel: grid_patrol, matter: garbage_overflow}
    steps:
      - {task: triage, role: platform_operator, unit: dc, form: {grade: 3, matter: garbage_overflow,
                                                                 level: community}}
      - {task: report_in, each: true, due_hours: 0.5, form: {on_site: true}}   # every open report_in
      - {task: evaluate, dept: dept-hw, form: {efficiency: 4, …}}   # the task about one department
      - {wait: 3d}               # time passes on the run's clock: due timers fire
      - {follow: escalated}      # go on with the whistle this case was escalated to (社呼街应)
    end: {status: closed, outcome: closed, open_tasks: []}
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cli import run_migrations
from app.db import Database
from app.definitions import configuration
from app.definitions.versions import configuration_of, deploy, read_files, with_configuration
from app.models import Case, RoleAssignment, Task, Unit, User
from app.services import clock, tasks
from app.services.auth import Principal, principal_for, users_holding
from app.services.cases import case_view, file_report, place_code
from app.services.errors import ServiceError
from app.services.org import ancestors, beside_path, export_organisation, load_organisation_data, unit_by_code
from app.services.record_keys import PLACE_FIELD
from app.services.simulate import advance_time
from app.services.worktime import add_working_hours, calendar_of

STEP_KEYS = {"task", "unit", "dept", "role", "due_hours", "form", "each", "wait", "follow"}
END_KEYS = {"status", "outcome", "level", "grade", "open_tasks"}
WAIT_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


class ScenarioError(ValueError):
    """A scenario file that cannot be read; the message names the file and the step."""


class Mismatch(Exception):
    """The run did not go as the scenario says."""


@dataclass
class Scenario:
    file: str
    name: str
    report_by: str
    report: dict[str, Any]
    steps: list[dict[str, Any]]
    end: dict[str, Any]


@dataclass
class ScenarioResult:
    file: str
    name: str
    ok: bool
    steps: int
    message: str = ""
    case_number: str | None = None

    def line(self) -> str:
        verdict = "PASS" if self.ok else "FAIL"
        return f"{verdict} {self.file} — {self.name}" + ("" if self.ok else f": {self.message}")


@dataclass
class CheckReport:
    bundle_error: str | None = None
    results: list[ScenarioResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # deployable, but e.g. a year without a holiday table

    @property
    def ok(self) -> bool:
        return self.bundle_error is None and all(r.ok for r in self.results)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "bundle_error": self.bundle_error,
                "passed": sum(r.ok for r in self.results), "failed": sum(not r.ok for r in self.results),
                "warnings": self.warnings,
                "results": [{"file": r.file, "name": r.name, "ok": r.ok, "steps": r.steps, "message": r.message,
                             "case_number": r.case_number} for r in self.results]}


SCENARIO_PREFIX = "scenarios/"


def check_upload(session: Session, files: dict[str, str]) -> CheckReport:
    """An admin's check through the API: the uploaded bundle (``scenarios/*.yaml`` among its files
    are its scenarios) tried with this deployment's own organisation."""
    scenarios = [parse_scenario(name, text) for name, text in sorted(files.items()) if name.startswith(SCENARIO_PREFIX)]
    bundle = with_configuration(session, bundle_files(files))
    return check_files(bundle, scenarios, export_organisation(session))


def bundle_files(files: dict[str, str]) -> dict[str, str]:
    """What of an upload is deployed: everything but its scenarios."""
    return {name: text for name, text in files.items() if not name.startswith(SCENARIO_PREFIX)}


def read_scenarios(directory: Path) -> list[Scenario]:
    """Every ``scenarios/*.yaml`` under the bundle directory, validated."""
    return [parse_scenario(path.name, path.read_text(encoding="utf-8"))
            for path in sorted((directory / "scenarios").glob("*.yaml"))]


def parse_scenario(name: str, text: str) -> Scenario:
    where = f"scenarios/{Path(name).name}"
    stem = Path(name).stem
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{where}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("report"), dict):
        raise ScenarioError(f"{where}: needs `name`, `report: {{by, body}}`, `steps` and `end`")
    report, steps, end = raw["report"], raw.get("steps") or [], raw.get("end") or {}
    if not isinstance(report.get("body"), dict) or not isinstance(report.get("by"), str):
        raise ScenarioError(f"{where}: report needs `by` (a role, or public) and `body` (the report)")
    if not isinstance(steps, list) or not isinstance(end, dict):
        raise ScenarioError(f"{where}: `steps` must be a list and `end` a mapping")
    for number, step in enumerate(steps, 1):
        _check_step(where, number, step)
    if unknown := set(end) - END_KEYS:
        raise ScenarioError(f"{where}: end: unknown key(s) {sorted(unknown)} (known: {sorted(END_KEYS)})")
    return Scenario(where, str(raw.get("name") or stem), report["by"], report["body"], steps, end)


def _check_step(where: str, number: int, step: Any) -> None:
    if not isinstance(step, dict) or sum(key in step for key in ("task", "wait", "follow")) != 1:
        raise ScenarioError(f"{where} step {number}: a step is one of {{task: …}}, {{wait: …}}, {{follow: escalated}}")
    if "follow" in step and step["follow"] != "escalated":
        raise ScenarioError(f"{where} step {number}: follow: the only case to follow is 'escalated'")
    if unknown := set(step) - STEP_KEYS:
        raise ScenarioError(f"{where} step {number}: unknown key(s) {sorted(unknown)} (known: {sorted(STEP_KEYS)})")
    if "wait" in step:
        _duration(f"{where} step {number}", step["wait"])
    elif not isinstance(step.get("form", {}), dict):
        raise ScenarioError(f"{where} step {number}: `form` must be a mapping")


def _duration(where: str, text: Any) -> timedelta:
    value = str(text)
    number, unit = value[:-1], value[-1:]
    if unit not in WAIT_UNITS or not number.isdigit() or int(number) <= 0:
        raise ScenarioError(f"{where}: wait '{value}': expected a positive number with m, h or d (90m, 8h, 3d)")
    return timedelta(**{WAIT_UNITS[unit]: int(number)})


def check_processes(directory: Path, org_file: Path, files: dict[str, str] | None = None) -> CheckReport:
    """Validate the bundle as a deploy would, then play its scenarios (``directory``/scenarios) in a
    throwaway database. ``files``: the bundle when it is not just ``directory`` with config/ (a pack)."""
    organisation = yaml.safe_load(org_file.read_text(encoding="utf-8"))
    return check_files(files if files is not None else read_files(directory), read_scenarios(directory),
                       organisation, org_file)


def check_files(files: dict[str, str], scenarios: list[Scenario], organisation: dict[str, Any],
                org_name: Path = Path("organisation")) -> CheckReport:
    """The check on files in memory (the API's): deploy them in a throwaway database with this
    organisation, then play the scenarios."""
    with tempfile.TemporaryDirectory(prefix="whistle-check-") as folder:
        url = f"sqlite:///{Path(folder) / 'check.db'}"
        run_migrations(url)
        db = Database(url)
        try:
            with db.unit_of_work() as session:
                version, _ = deploy(session, files, "check-processes")
                config = configuration_of(session, version.id)
            with configuration.activate(config), db.unit_of_work() as session:
                load_organisation_data(session, organisation, org_name)
        except ServiceError as exc:
            db.dispose()
            return CheckReport(bundle_error=exc.message)
        warnings = calendar_of(config).warnings(clock.now().date())
        try:
            with configuration.activate(config):
                return CheckReport(results=[_play(db, scenario) for scenario in scenarios], warnings=warnings)
        finally:
            db.dispose()


def _play(db: Database, scenario: Scenario) -> ScenarioResult:
    """One scenario on its own clock: time it lets pass is given back afterwards."""
    start = clock.now()
    done = 0
    case_number = None
    try:
        case_id, case_number = report_case(db, scenario.report_by, scenario.report)
        for done, step in enumerate(scenario.steps, 1):  # noqa: B007  (done is reported on failure)
            case_id = play_step(db, case_id, step)
        _check_end(db, case_id, scenario.end)
        return ScenarioResult(scenario.file, scenario.name, True, len(scenario.steps), case_number=case_number)
    except (Mismatch, ServiceError) as exc:
        message = exc.message if isinstance(exc, ServiceError) else str(exc)
        where = f"step {done} ({_describe(scenario.steps[done - 1])})" if done else "report"
        return ScenarioResult(scenario.file, scenario.name, False, done, f"{where}: {message}", case_number)
    finally:
        clock.advance(start - clock.now())


def seed(db: Database, scenarios: list[Scenario]) -> dict[str, int]:
    """Demo data from a pack's scenarios: each played to its end once (closed cases, with their
    history and figures), and once more to half way, so that people find work in their inboxes."""
    counts = {"closed": 0, "open": 0}
    for scenario in scenarios:
        for steps, key in ((scenario.steps, "closed"), (scenario.steps[: len(scenario.steps) // 2], "open")):
            case_id, _ = report_case(db, scenario.report_by, scenario.report)
            for step in steps:
                case_id = play_step(db, case_id, step)
            counts[key] += 1
    return counts


def _describe(step: dict[str, Any]) -> str:
    if "wait" in step:
        return f"wait {step['wait']}"
    if "follow" in step:
        return "follow escalated"
    return str(step["task"]) + "".join(f" @{step[key]}" for key in ("unit", "dept") if key in step)


def report_case(db: Database, by: str, body: dict[str, Any]) -> tuple[int, str]:
    """File a report as a user holding role ``by`` at its place or above (or ``public``)."""
    with db.unit_of_work() as session:
        reporter = None if by == "public" else _reporter(session, by, body)
        case = file_report(session, reporter, body)
        return case.id, case.number


def _reporter(session: Session, role: str, body: dict[str, Any]) -> Principal:
    """A user holding ``role`` at the report's place, above it, or beside it (its compound's owners'
    committee, say)."""
    place = unit_by_code(session, place_code(body), PLACE_FIELD)
    for unit in [*ancestors(place), *beside_path(session, place)]:
        if users := users_holding(session, role, unit.id):
            return principal_for(session, users[0])
    raise Mismatch(f"no user holds role '{role}' at {place.code}, above or beside it to report")


def play_step(db: Database, case_id: int, step: dict[str, Any]) -> int:
    """One step of a scenario on a case: let time pass, complete the open task(s) it names, or
    turn to the whistle the case was escalated to. Returns the case the scenario goes on with."""
    if "wait" in step:
        advance_time(db, _duration("wait", step["wait"]))
        return case_id
    with db.unit_of_work() as session:
        if "follow" in step:
            return escalated_from(session, case_id)
        matching = _matching_tasks(session, case_id, step)
        for task in matching if step.get("each") else matching[:1]:
            _check_task(session, task, step)
            tasks.complete(session, _worker(session, task), task.id, step.get("form") or {})
    return case_id


def escalated_from(session: Session, case_id: int) -> int:
    """The whistle a case was escalated to (the latest, if several)."""
    child = session.scalar(select(Case.id).where(Case.parent_case_id == case_id).order_by(Case.id.desc()).limit(1))
    if child is None:
        raise Mismatch("the case was not escalated: there is no whistle to follow")
    return int(child)


def _matching_tasks(session: Session, case_id: int, step: dict[str, Any]) -> list[Task]:
    open_tasks = list(session.scalars(select(Task).where(Task.case_id == case_id, Task.status == "open")
                                      .order_by(Task.id)))
    units = {u.id: u.code for u in session.scalars(select(Unit).where(Unit.id.in_({t.unit_id for t in open_tasks})))}
    matching = [t for t in open_tasks if t.task_type == step["task"]
                and ("unit" not in step or units[t.unit_id] == step["unit"])
                and ("dept" not in step or (t.context or {}).get("dept", {}).get("code") == step["dept"])]
    if not matching:
        found = ", ".join(f"{t.task_type}@{units[t.unit_id]}" for t in open_tasks) or "none"
        raise Mismatch(f"expected an open task '{_describe(step)}'; open tasks: {found}")
    return matching


def _check_task(session: Session, task: Task, step: dict[str, Any]) -> None:
    if "role" in step and task.role != step["role"]:
        raise Mismatch(f"task '{task.task_type}' is for role '{task.role}', expected '{step['role']}'")
    if "due_hours" in step:
        expected = add_working_hours(task.created_at, float(step["due_hours"])) if step["due_hours"] else None
        if task.due_at != expected:
            raise Mismatch(f"task '{task.task_type}' is due {task.due_at}, expected {expected} "
                           f"({step['due_hours']} working hours after {task.created_at})")


def _worker(session: Session, task: Task) -> Principal:
    users = users_holding(session, task.role, task.unit_id)
    if not users:
        unit = session.get(Unit, task.unit_id)
        raise Mismatch(f"no user holds role '{task.role}' in {unit.code if unit else task.unit_id} "
                       f"for task '{task.task_type}': add one to the organisation")
    return principal_for(session, users[0])


def _check_end(db: Database, case_id: int, end: dict[str, Any]) -> None:
    with db.unit_of_work() as session:
        case = session.get(Case, case_id)
        assert case is not None
        view = case_view(session, _auditing_principal(session, case), case_id)
    actual = {"status": view["status"], "outcome": view["outcome"], "level": view["level"], "grade": view["grade"],
              "open_tasks": sorted(t["task_type"] for t in view["open_tasks"])}
    wrong = {key: (actual[key], want) for key, want in end.items()
             if actual[key] != (sorted(want) if key == "open_tasks" else want)}
    if wrong:
        raise Mismatch("the case ends with " + ", ".join(f"{k}={a!r} (expected {w!r})" for k, (a, w) in wrong.items()))


def _auditing_principal(session: Session, case: Case) -> Principal:
    """Someone who can see the case: a user holding a role at the top of its place's tree."""
    top = ancestors(case.place)[-1]
    user = session.scalar(select(User).join(RoleAssignment).where(RoleAssignment.unit_id == top.id).limit(1))
    if user is None:
        raise Mismatch(f"nobody holds a role at {top.code} to read the case")
    return principal_for(session, user)
