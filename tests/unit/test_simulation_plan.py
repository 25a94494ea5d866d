"""The simulator's plan is data (config/simulation.yaml): what it files, and what each step answers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from app.models import Case, Task
from app.services.locality import load_locality
from app.services.simulate import SimulationError, Simulator, load_simulation
from app.settings import ROOT

SHIPPED = ROOT / "config" / "simulation.yaml"


def _simulator(path: Path = SHIPPED, seed: int = 1) -> Simulator:
    return Simulator(None, seed, load_simulation(path))  # type: ignore[arg-type]  # forms need no database


def _form(sim: Simulator, task_type: str, nth: int = 1, scenario: int = 0, form: str = "x.schema.json",
          case: Case | None = None) -> dict[str, Any]:
    return sim.form(Task(task_type=task_type, form=form), sim.plan.scenarios[scenario], nth,
                    case or Case(id=7, title="路灯不亮", matter="streetlight_broken"))


def test_the_shipped_plan_names_only_what_the_demo_locality_and_processes_define() -> None:
    plan = load_simulation(SHIPPED)
    tasks = set()
    for bpmn in ROOT.glob("processes/*.bpmn"):
        tasks |= set(re.findall(r'<bpmn:userTask id="([^"]+)"', bpmn.read_text(encoding="utf-8")))
    levels = set(load_locality().levels)
    every = [*plan.scenarios, *plan.open_work]
    assert {s.level or plan.default_level for s in every} <= levels
    assert {s.stop_at for s in every if s.stop_at} <= tasks
    twisted = {key for s in every for key in s.twists} | {key for t in plan.grade_twists.values() for key in t}
    assert set(plan.answers) <= tasks and twisted <= tasks
    assert all(s.weight > 0 for s in plan.scenarios) and all(s.weight == 0 for s in plan.open_work)


def test_a_step_answers_with_the_plans_values_drawn_in_order() -> None:
    sim = _simulator()
    assert _form(sim, "file_whistle") == {"filing_no": "BA-7"}
    assert _form(sim, "prepare_whistle") == {"summary": "路灯不亮", "situation": "enforcement"}
    evaluation = _form(sim, "evaluate")
    assert list(evaluation) == ["efficiency", "cooperation", "professionalism", "responsibility"]
    assert all(3 <= v <= 5 for v in evaluation.values())
    triage = _form(sim, "triage", scenario=4)  # community_whistle: the scenario's level, the default one
    assert (triage["grade"], triage["matter"], triage["level"]) == (3, "streetlight_broken", "community")
    with pytest.raises(ValueError, match="no answer for task 'unknown_task'"):
        _form(sim, "unknown_task")


def test_twists_answer_instead_by_scenario_grade_and_occurrence() -> None:
    sim = _simulator()
    names = [s.name for s in sim.plan.scenarios]
    sent_back = names.index("dispatched_sent_back")
    assert _form(sim, "handle_dispatched", 1, sent_back)["action"] == "returned"
    assert _form(sim, "handle_dispatched", 2, sent_back)["action"] == "handled"
    review_return = names.index("community_whistle_review_return")
    assert [_form(sim, "review", n, review_return)["decision"] for n in (1, 2, 3)] == ["approve", "return", "approve"]
    escalated = names.index("escalated")
    assert {_form(sim, "coordinate", n, escalated)["decision"] for n in (1, 2)} == {"escalate"}
    # grade 2: the first triage dispatches a single-department matter, a later one blows the whistle
    cooperating = Case(id=8, title="楼顶违法建设", matter="illegal_construction")
    dispatched = names.index("dispatched")
    first = _form(sim, "triage", 1, dispatched, case=cooperating)
    assert first["grade"] == 2 and first["matter"] in ("streetlight_broken", "public_toilet_fault",
                                                      "food_safety_complaint")
    assert _form(sim, "triage", 2, dispatched, case=cooperating)["matter"] == "illegal_construction"
    # by form, whatever the task type: 督办 issued, then closed
    supervise = [_form(sim, "any_late_task", n, form="supervise.schema.json")["verdict"] for n in (1, 2)]
    assert supervise == ["press", "accept"]


def test_another_plan_changes_the_answers_without_code(tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8").replace("file_whistle: {filing_no: {text: \"BA-{case_id}\"}}",
                                                       "file_whistle: {filing_no: {text: \"备-{case_id}\"}}")
    text = text.replace("default_level: community", "default_level: street")
    path = tmp_path / "simulation.yaml"
    path.write_text(text, encoding="utf-8")
    sim = _simulator(path)
    assert _form(sim, "file_whistle") == {"filing_no": "备-7"}
    assert _form(sim, "triage", scenario=4)["level"] == "street"


def test_the_same_seed_draws_the_same_answers() -> None:
    draws = [[_form(_simulator(seed=3), "callback", n) for n in range(1, 30)] for _ in range(2)]
    assert draws[0] == draws[1]


@pytest.mark.parametrize(("broken", "message"), [
    ("open_work_place: dc-s1-c1-g1", "open_work_place: must be a str"),
    ("  - {name: self_handled, weight: 15, grade: 1}", r"scenarios\.0: needs name and grade"),
])
def test_a_broken_plan_is_refused_by_its_field(tmp_path: Path, broken: str, message: str) -> None:
    replacement = {"open_work_place: dc-s1-c1-g1": "open_work_place: [dc]",
                   "  - {name: self_handled, weight: 15, grade: 1}": "  - {name: self_handled, weight: 15, grad: 1}"}
    path = tmp_path / "simulation.yaml"
    path.write_text(SHIPPED.read_text(encoding="utf-8").replace(broken, replacement[broken]), encoding="utf-8")
    with pytest.raises(SimulationError, match=message):
        load_simulation(path)
