"""Two people complete the same task at the same moment: exactly one wins, nothing applied twice."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from app.services import workflow
from tests.integration.flow import Flow


def _race(app: Flask, calls: list[Callable[[Any], Any]]) -> list[int]:
    statuses: list[int] = []

    def run(call: Callable[[Any], Any]) -> None:
        statuses.append(call(app.test_client()).status_code)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return sorted(statuses)


@pytest.mark.parametrize("attempt", range(3))
def test_two_completions_of_one_task_exactly_one_wins(
    app: Flask, api: Any, monkeypatch: pytest.MonkeyPatch, attempt: int
) -> None:
    flow = Flow(api)
    case_id = flow.report(title=f"并发 {attempt}")["id"]
    task = flow.task(case_id, "triage")
    token = api.token("op-dc")
    before = flow.case(case_id)

    # Both requests load the case before either saves it: the race is certain, not left to timing.
    barrier = threading.Barrier(2, timeout=5)
    real_load = workflow.load

    def load_then_wait(session: Any, case: Any) -> Any:
        instance = real_load(session, case)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return instance

    monkeypatch.setattr(workflow, "load", load_then_wait)
    forms = [{"grade": 2, "matter": "streetlight_broken"}, {"grade": 2, "matter": "public_toilet_fault"}]
    calls = [
        (lambda c, f=form: c.post(f"/api/tasks/{task['id']}/complete", json=f,
                                  headers={"Authorization": f"Bearer {token}"}))
        for form in forms
    ]
    assert _race(app, calls) == [200, 409]
    monkeypatch.undo()

    after = flow.case(case_id)
    completions = [e for e in after["timeline"] if e["type"] == "task_completed"]
    assert len(completions) == 1
    assert [t["task_type"] for t in after["open_tasks"]] == ["handle_dispatched"]
    assert len(after["timeline"]) > len(before["timeline"])
    assert after["matter"] == completions[0]["data"]["form"]["matter"]
