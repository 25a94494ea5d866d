"""Issue 18: a case can loop as often as people send it back, and its record still replays.

A grade-2 case sent back (回退) and re-judged 100 times, then returned in review (退回修改) 50 times,
keeps advancing through the API (before the pruning rule the engine's tree passed Python's
recursion limit after ~90 loops: HTTP 500 on every completion), its engine tree stays shallow,
``replay`` and ``verify`` pass, and the history shows every element it went through. Cases
recorded before the rule (rule 0) still replay, also when they go on under the rule.
Figures per 10 loops are printed by ``python -m bench.long_case``, not asserted here.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.engine import Instance
from app.models import Case, Event, Task
from app.services import audit
from app.services import workflow as workflow_service
from app.services.replay import replay_case
from bench.long_case import tree_depth
from tests.conftest import Api
from tests.integration.flow import FORMS

GRADE_2 = {"grade": 2, "matter": "public_toilet_fault"}  # one department: 环卫 (hw)
RETURNED = {"action": "returned", "reason": "不属于本部门职责"}
REVIEW_RETURN = {"decision": "return", "reason": "材料需补充"}
SEND_BACKS, REVIEW_RETURNS = 100, 50
MAX_DEPTH = 30  # a handful of levels per open activity; unpruned, each loop adds ~11


def _db(app: Flask) -> Any:
    return app.extensions["whistle.db"]


class Driver:
    """Completes a case's open task of a type through the API (without the case view: fast)."""

    def __init__(self, api: Api, app: Flask, title: str) -> None:
        self.api, self.app = api, app
        resp = api.post("gw-s1c1g1", "/api/reports", json={
            "title": title, "grid": "dc-s1-c1-g1", "channel": "grid_patrol", "description": "反复回退"})
        assert resp.status_code == 201, resp.get_json()
        self.case_id: int = resp.get_json()["id"]

    def do(self, user: str, task_type: str, form: dict[str, Any]) -> None:
        with _db(self.app).sessions() as s:
            task_id = s.scalar(select(Task.id).where(Task.case_id == self.case_id, Task.status == "open",
                                                     Task.task_type == task_type))
        assert task_id is not None, f"no open {task_type} in case {self.case_id}"
        resp = self.api.post(user, f"/api/tasks/{task_id}/complete", json=form)
        assert resp.status_code == 200, (task_type, resp.get_json())

    def send_back(self, times: int) -> None:
        for _ in range(times):
            self.do("hw-staff", "handle_dispatched", RETURNED)
            self.do("op-dc", "triage", GRADE_2)

    def review_returns(self, times: int) -> None:
        for _ in range(times):
            self.do("staff-s1c1", "prepare_whistle", FORMS["prepare_whistle"])
            self.do("section-s1c1", "review", REVIEW_RETURN)

    def case(self) -> SimpleNamespace:
        with _db(self.app).sessions() as s:
            case = s.get(Case, self.case_id)
            assert case is not None
            return SimpleNamespace(state=case.state, version=case.version, return_count=case.return_count,
                                   current_step=case.current_step)


def _replays_and_verifies(app: Flask, case_id: int) -> None:
    with _db(app).sessions() as s:
        result = replay_case(s, case_id)
        verification = audit.verify(s, [case_id], snapshots=True, system=False)
    assert result.ok, result.line()
    assert verification.ok, verification.first_break


def test_a_case_sent_back_100_times_and_returned_in_review_50_times_keeps_advancing(
    api: Api, app: Flask
) -> None:
    case = Driver(api, app, "反复回退的案件")
    case.do("op-dc", "triage", GRADE_2)
    case.send_back(SEND_BACKS)
    assert tree_depth(case.case().state) <= MAX_DEPTH
    case.do("hw-staff", "handle_dispatched", RETURNED)
    case.do("op-dc", "triage", FORMS["triage_whistle"])
    case.review_returns(REVIEW_RETURNS)
    case.do("staff-s1c1", "prepare_whistle", FORMS["prepare_whistle"])
    stored = case.case()
    assert (stored.return_count, stored.current_step) == (SEND_BACKS + 1, "review")
    assert tree_depth(stored.state) <= MAX_DEPTH
    _replays_and_verifies(app, case.case_id)
    last = api.get("auditor", f"/api/cases/{case.case_id}/history/{stored.version}").get_json()
    assert [t["task_type"] for t in last["open_tasks"]] == ["review"]
    assert {"triage", "handle_dispatched", "count_return"} <= set(last["elements"]["case"]["completed"])
    assert {"prepare_whistle", "review", "count_review_return"} <= set(
        last["elements"]["whistle"]["completed"])
    assert "review" in last["elements"]["whistle"]["active"]


def test_a_case_recorded_before_pruning_replays_and_goes_on_pruned(
    api: Api, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workflow_service, "PRUNE_RULE", 0)  # as every step was recorded before the rule
    case = Driver(api, app, "规则之前的案件")
    case.do("op-dc", "triage", GRADE_2)
    case.send_back(4)
    old = case.case()
    unpruned = tree_depth(old.state)
    monkeypatch.undo()
    case.send_back(2)
    assert tree_depth(case.case().state) < unpruned
    _replays_and_verifies(app, case.case_id)
    with _db(app).sessions() as s:
        rules = [e.data.get("prune") for e in s.scalars(select(Event).where(
            Event.case_id == case.case_id, Event.type == "state_saved").order_by(Event.seq))]
    assert rules == [None] * old.version + [1] * (len(rules) - old.version)
    for step in (old.version, case.case().version):  # before and after the rule, the path so far
        at = api.get("auditor", f"/api/cases/{case.case_id}/history/{step}").get_json()
        assert {"triage", "handle_dispatched", "count_return"} <= set(at["elements"]["case"]["completed"])


def test_a_replay_the_engine_cannot_run_is_an_error_not_a_divergence(
    api: Api, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = Driver(api, app, "重放出错")
    case.do("op-dc", "triage", GRADE_2)

    def exhausted(self: Instance) -> None:
        raise RecursionError("maximum recursion depth exceeded in comparison")

    monkeypatch.setattr(Instance, "_engine_steps", exhausted)
    with _db(app).sessions() as s:
        result = replay_case(s, case.case_id)
    assert not result.ok and result.divergence is None and result.error is not None
    assert result.error.step == 1 and "maximum recursion depth" in result.error.message
    assert "not a divergence" in result.line()
    out = app.test_cli_runner().invoke(args=["replay", "--case", str(case.case_id)])
    assert out.exit_code == 2, out.output
    assert "ERROR" in out.output and "DIVERGED" not in out.output
