"""``simulate N``: realistic reports pushed through the real engine and services to varied ends.

Every step is a real task completion by a user who holds the task's role in its unit, each in its
own unit of work, exactly as through the API. Used for demos and benchmarks.

What is filed and how each step answers is data (config/simulation.yaml, or the file of that name in
WHISTLE_CONFIG_DIR): the scenarios name the locality's levels and task types, the answers its forms'
fields. The code knows the mechanism only: reports are filed on units of a report-place kind by a
user holding a ``self_handle`` role there, and each open task is completed by a holder of its role.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import Database
from app.definitions import configuration
from app.models import Case, Event, Task, Unit
from app.services import clock, tasks
from app.services.auth import Principal, principal_for, users_holding
from app.services.cases import file_report
from app.services.catalogue import load_catalogue
from app.services.locality import load_locality
from app.services.record_keys import PLACE_FIELD
from app.services.timers import fire_due

SIMULATION_FILE = "simulation.yaml"
EVERY = "every"  # a twist for each time a case meets the task
Answer = dict[str, Any]
Twists = dict[str, dict[int | str, Answer]]  # task type or form → {nth | EVERY: answer}


class SimulationError(ValueError):
    """A simulation file that cannot be used; the message names the file and the field."""


@dataclass
class Scenario:
    name: str
    weight: int
    grade: int  # 1 self-handled (the report says so), 2 dispatched, 3 whistle
    level: str | None = None  # the whistle level triage gives (None: the simulation's default)
    twists: Twists = field(default_factory=dict)  # answers instead of the usual ones, by occurrence
    stop_at: str | None = None  # leave the case open at this task ...
    stop_after: int = 0  # ... once this many of it are done (the nth step of the review chain)
    overdue: bool = False  # (open work) reported long ago: the open task is past its deadline, 督办


@dataclass
class Simulation:
    """A simulation file, read: what is filed, and the answers of every step."""

    titles: list[tuple[str, str]]  # (title, matter)
    channels: list[str]
    open_work_place: str
    default_level: str
    answers: dict[str, Answer]  # task type → answer
    by_form: dict[str, Answer]  # form → answer, whatever the task type
    twists: Twists
    grade_twists: dict[int, Twists]
    scenarios: list[Scenario]
    open_work: list[Scenario]

    def answer(self, task: Task, scenario: Scenario, nth: int) -> Answer:
        """The answer (values still to draw) of the nth time a case meets this task."""
        for twists in (scenario.twists, self.grade_twists.get(scenario.grade, {}), self.twists):
            for key in (task.task_type, task.form):
                by_time = twists.get(key) or {}
                if nth in by_time or EVERY in by_time:
                    return by_time.get(nth, by_time.get(EVERY, {}))
        found = self.by_form.get(task.form) or self.answers.get(task.task_type)
        if found is None:
            raise ValueError(f"the simulator has no answer for task '{task.task_type}' ({task.form})")
        return found


def load_simulation(path: Path | None = None) -> Simulation:
    """The simulation file (default: simulation.yaml of the configuration directory on disk)."""
    path = path or configuration.disk_dir() / SIMULATION_FILE
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=configuration.Loader)  # a SafeLoader
    except (OSError, yaml.YAMLError) as exc:
        raise SimulationError(f"{path.name}: {exc}") from exc
    return _parse(raw, path.name)


def _parse(raw: Any, name: str) -> Simulation:
    def need(key: str, kind: type) -> Any:
        value = raw.get(key) if isinstance(raw, dict) else None
        if not isinstance(value, kind):
            raise SimulationError(f"{name}: {key}: must be a {kind.__name__}")
        return value

    reports = need("reports", dict)
    titles = [(str(title), str(matter)) for title, matter in reports.get("titles") or []]
    if not titles or not reports.get("channels"):
        raise SimulationError(f"{name}: reports: needs titles and channels")
    return Simulation(
        titles=titles, channels=[str(c) for c in reports["channels"]],
        open_work_place=str(need("open_work_place", str)), default_level=str(need("default_level", str)),
        answers=need("answers", dict), by_form=raw.get("by_form") or {}, twists=raw.get("twists") or {},
        grade_twists=raw.get("grade_twists") or {},
        scenarios=[_scenario(s, f"{name}: scenarios.{i}") for i, s in enumerate(need("scenarios", list))],
        open_work=[_scenario(s, f"{name}: open_work.{i}") for i, s in enumerate(raw.get("open_work") or [])],
    )


def _scenario(raw: Any, where: str) -> Scenario:
    known = set(Scenario.__dataclass_fields__)
    if not isinstance(raw, dict) or not {"name", "grade"} <= set(raw) or set(raw) - known:
        raise SimulationError(f"{where}: needs name and grade, and only {', '.join(sorted(known))}")
    return Scenario(**({"weight": 0} | raw))


OVERDUE_BY = timedelta(days=30)  # past any review or verification limit, holidays included


class Simulator:
    def __init__(self, db: Database, seed: int, plan: Simulation | None = None) -> None:
        self.db = db
        self.rng = random.Random(seed)
        self.plan = plan or load_simulation()
        self.principals: dict[tuple[str, int], Principal] = {}
        self.steps = 0

    def run(self, count: int) -> dict[str, Any]:
        ends: Counter[str] = Counter()
        scenarios = self.plan.scenarios
        for _ in range(count):
            scenario = self.rng.choices(scenarios, [s.weight for s in scenarios])[0]
            case_id = self.file(scenario)
            for final in self.drive(case_id, scenario):
                ends[final] += 1
        return {"steps": self.steps, "ends": dict(sorted(ends.items()))}

    def open_work(self, place_code: str | None = None) -> dict[str, Any]:
        """Leave one case on ``place_code`` waiting at each kind of human task (the plan's open work)."""
        ends: Counter[str] = Counter()
        for scenario in self.plan.open_work:
            back = OVERDUE_BY if scenario.overdue else timedelta(0)
            clock.advance(-back)  # an overdue one is reported and driven a month ago ...
            try:
                case_id = self.file(scenario, place_code or self.plan.open_work_place)
                for final in self.drive(case_id, scenario):
                    ends[final] += 1
            finally:
                clock.advance(back)
        fire_due(self.db)  # ... and its deadline has passed by now: 挂账督办 and a 督办 task
        return {"steps": self.steps, "ends": dict(sorted(ends.items()))}

    def file(self, scenario: Scenario, place_code: str | None = None) -> int:
        title, matter = self.rng.choice(self.plan.titles)
        with self.db.unit_of_work() as s:
            places = s.scalars(select(Unit).where(Unit.kind.in_(load_locality().kinds_where("report_place")))).all()
            place = next(p for p in places if p.code == place_code) if place_code else self.rng.choice(places)
            body: dict[str, Any] = {
                "title": title, PLACE_FIELD: place.code, "description": f"{place.name}: {title}",
                "channel": self.rng.choice(self.plan.channels),
                "matter": matter, "self_handled": scenario.grade == 1,
            }
            return file_report(s, self._reporter(s, place.id), body).id

    def drive(self, case_id: int, scenario: Scenario) -> list[str]:
        """Complete the case's open tasks until it ends (or reaches the scenario's stop)."""
        seen: Counter[str] = Counter()
        while True:
            with self.db.unit_of_work() as s:
                task = s.scalar(select(Task).where(Task.case_id == case_id, Task.status == "open").order_by(Task.id))
                case = s.get(Case, case_id)
                assert case is not None
                if task is None or (task.task_type == scenario.stop_at and seen[task.task_type] == scenario.stop_after):
                    children = s.scalars(select(Case.id).where(Case.parent_case_id == case_id)).all()
                    final = f"{case.status}:{case.outcome or case.current_step}"
                    break
                seen[task.task_type] += 1
                form = self.form(task, scenario, seen[task.task_type], case)
                tasks.complete(s, self._principal(s, task.role, task.unit_id), task.id, form)
                self.steps += 1
        ends = [final]
        follow = Scenario(scenario.name, 0, 3)  # an escalated whistle runs to its end
        for child in children:
            ends.extend(self.drive(child, follow))
        return ends

    def form(self, task: Task, sc: Scenario, nth: int, case: Case) -> dict[str, Any]:
        """The form this step submits: the plan's answer, its drawn values drawn now, in order."""
        return {name: self._value(spec, sc, case) for name, spec in self.plan.answer(task, sc, nth).items()}

    def _value(self, spec: Any, sc: Scenario, case: Case) -> Any:
        if not isinstance(spec, dict):
            return spec
        rng = self.rng
        if "pick" in spec:
            options = list(spec["pick"])
            return rng.choices(options, spec["weights"])[0] if spec.get("weights") else rng.choice(options)
        if "between" in spec:
            return rng.randint(*spec["between"])
        if "chance" in spec:
            return rng.random() < spec["chance"]
        if "case" in spec:
            return getattr(case, spec["case"]) or spec.get("otherwise")
        if "scenario" in spec:
            value = getattr(sc, spec["scenario"])
            return self.plan.default_level if value is None and spec["scenario"] == "level" else value
        if "text" in spec:
            return str(spec["text"]).format(case_id=case.id)
        if "days_ahead" in spec:
            return (clock.now() + timedelta(days=spec["days_ahead"])).date().isoformat()
        if "single_duty" in spec:
            matter = self._value(spec["single_duty"], sc, case)
            if load_catalogue().matter(matter).cooperating:  # type: ignore[union-attr]
                return rng.choice(list(spec["among"]))
            return matter
        return {name: self._value(value, sc, case) for name, value in spec.items()}

    def _reporter(self, s: Session, unit_id: int) -> Principal:
        """Who files a report on this unit: a holder of a role there that may handle it on the spot."""
        for role in sorted(load_locality().roles_with("self_handle")):
            if users_holding(s, role, unit_id):
                return self._principal(s, role, unit_id)
        raise ValueError(f"no user may report on unit {unit_id}: none holds a self_handle role there")

    def _principal(self, s: Session, role: str, unit_id: int) -> Principal:
        key = (role, unit_id)
        if key not in self.principals:
            users = users_holding(s, role, unit_id)
            if not users:
                raise ValueError(f"no user holds {role} in unit {unit_id}")
            self.principals[key] = principal_for(s, users[0])
        return self.principals[key]


def run_simulation(db: Database, count: int, seed: int = 1) -> dict[str, Any]:
    return Simulator(db, seed).run(count)


def leave_open_work(db: Database, place_code: str | None = None, seed: int = 2) -> dict[str, Any]:
    return Simulator(db, seed).open_work(place_code)


def advance_time(db: Database, delta: timedelta, step: timedelta = timedelta(minutes=30)) -> dict[str, int]:
    """Let ``delta`` pass on the test clock in small steps, firing the timers due after each, as a
    running scheduler would: reminders, 督办 entries and escalations appear at their moments.
    Returns how many of each happened."""
    shown = ("timer_fired", "reminder", "supervision_opened", "escalated", "taken_back",
             "incident_opened")
    before = _event_counts(db, shown)
    remaining = delta
    while remaining > timedelta(0):
        tick = min(step, remaining)
        clock.advance(tick)
        remaining -= tick
        fire_due(db)
    after = _event_counts(db, shown)
    return {name: after.get(name, 0) - before.get(name, 0) for name in shown}


def _event_counts(db: Database, types: tuple[str, ...]) -> dict[str, int]:
    with db.unit_of_work() as s:
        rows = s.execute(select(Event.type, func.count()).where(Event.type.in_(types)).group_by(Event.type)).all()
    return {type_: int(count) for type_, count in rows}
