"""Every department's output survives whichever worker process runs the step (issue: lost output).

A worker's first act on a case loaded with a multi-instance already running (report-in, handling,
一哨一考 per department) used to complete the instance without merging its output: the department's
work was gone from the live case, and replay disagreed. These tests make every step they care about
the first act of a "fresh worker" by dropping the parsed process bundles before it, then check each
department's output is kept and every case replays with zero divergence.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.db import Database
from app.definitions import versions
from app.engine import bundle as bundle_cache
from app.models import Case, Task
from app.services import tasks, workflow
from app.services.replay import replay_all
from app.services.simulate import Scenario, Simulator, leave_open_work, load_simulation

# Multi-instance outputs, one entry per summoned department when the stage has run.
PER_DEPARTMENT = ("report_in_results", "handled_actions", "evaluation_results")


@pytest.fixture()
def fresh_db(own_app: Flask) -> Database:
    return own_app.extensions["whistle.db"]


def _fresh_worker() -> None:
    """What a newly started worker has: no parsed bundle, no version → bundle lookups."""
    bundle_cache._cache.clear()
    versions._hash_by_version.clear()
    versions._config_by_version.clear()


def _open_tasks(db: Database) -> list[tuple[int, int]]:
    with db.unit_of_work() as s:
        return [(t.id, t.case_id) for t in s.scalars(select(Task).where(Task.status == "open").order_by(Task.id))]


def _complete_as_fresh_worker(db: Database, sim: Simulator, task_id: int, scenario: Scenario) -> None:
    _fresh_worker()
    with db.unit_of_work() as s:
        task = s.get(Task, task_id)
        assert task is not None
        if task.status != "open":  # withdrawn by an earlier completion (a 督办 task whose late work is done)
            return
        case = task.case
        form = sim.form(task, scenario, 1, case)
        principal = sim._principal(s, task.role, task.unit_id)
        tasks.complete(s, principal, task_id, form)


def _assert_every_department_kept(db: Database) -> int:
    """Each stage that ran kept one output per department; returns how many whistles were checked."""
    checked = 0
    with db.unit_of_work() as s:
        for case in s.scalars(select(Case).where(Case.status == "closed", Case.outcome == "closed")):
            data: dict[str, Any] = workflow.load(s, case).data
            if not data.get("departments"):
                continue
            for key in PER_DEPARTMENT:
                assert len(data[key]) == len(data["departments"]), (case.number, key, data[key])
            checked += 1
    return checked


def _assert_replays(db: Database) -> None:
    with db.unit_of_work() as s:
        results = replay_all(s)
    diverged = [r.line() for r in results if not r.ok]
    assert results and not diverged, diverged


def test_each_demo_open_task_completed_first_by_a_fresh_worker_keeps_every_output(fresh_db: Database) -> None:
    leave_open_work(fresh_db)
    with fresh_db.unit_of_work() as s:
        case_ids = list(s.scalars(select(Case.id).order_by(Case.id)))
    # the same scenarios, now to be driven to their ends
    scenarios = {case_id: Scenario(sc.name, 0, sc.grade, sc.level)
                 for case_id, sc in zip(case_ids, load_simulation().open_work, strict=True)}
    sim = Simulator(fresh_db, seed=5)
    open_tasks = _open_tasks(fresh_db)
    assert {t for t, _ in open_tasks}  # the demo leaves work in every inbox
    for task_id, case_id in open_tasks:  # every task the demo leaves open, each by a new worker
        _complete_as_fresh_worker(fresh_db, sim, task_id, scenarios[case_id])
    for case_id, scenario in scenarios.items():  # then every case runs to its end
        sim.drive(case_id, scenario)
    assert _assert_every_department_kept(fresh_db) >= 5
    _assert_replays(fresh_db)


def test_every_simulated_path_keeps_every_output_with_workers_restarting(
    fresh_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every scenario of `simulate`, with a new worker before a third of the steps (seeded)."""
    rng = random.Random(11)
    complete = tasks.complete

    def restarting(*args: Any, **kwargs: Any) -> Any:
        if rng.random() < 0.33:
            _fresh_worker()
        return complete(*args, **kwargs)

    monkeypatch.setattr(tasks, "complete", restarting)
    sim = Simulator(fresh_db, seed=3)
    for scenario in (sc for sc in sim.plan.scenarios if sc.stop_at is None):
        sim.drive(sim.file(scenario), scenario)
    assert _assert_every_department_kept(fresh_db) >= 5
    _assert_replays(fresh_db)

