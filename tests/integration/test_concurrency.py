"""Two people complete the same task at the same moment: exactly one wins, nothing applied twice."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, select
from werkzeug.security import generate_password_hash

from app.models import RoleAssignment, User
from app.services import tasks, workflow
from app.services.org import unit_by_code
from tests.conftest import PASSWORD
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
    real_load = workflow._load_to_step  # this worker's live workflow, or the stored state

    def load_then_wait(session: Any, case: Any) -> Any:
        instance = real_load(session, case)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return instance

    monkeypatch.setattr(workflow, "_load_to_step", load_then_wait)
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


@pytest.fixture()
def second_operator(app: Flask) -> Iterator[str]:
    """Another platform operator of the district (区级平台), beside op-dc, for this test only: the
    role is taken away afterwards (the user stays: the audit record names them)."""
    db = app.extensions["whistle.db"]
    with db.unit_of_work() as s:
        user = s.scalar(select(User).where(User.username == "op-dc-2"))
        if user is None:
            user = User(username="op-dc-2", name="第二值班员", password_hash=generate_password_hash(PASSWORD))
            s.add(user)
        s.add(RoleAssignment(user=user, role="platform_operator", unit_id=unit_by_code(s, "dc").id))
    yield "op-dc-2"
    with db.unit_of_work() as s:
        s.execute(delete(RoleAssignment).where(RoleAssignment.user_id == select(User.id).where(
            User.username == "op-dc-2").scalar_subquery()))


# Within the connection pool (5 + 10 overflow): more threads would wait for a connection, not race.
RACERS = 12


@pytest.mark.parametrize("action", ["claim", "assign"])
def test_racing_claims_and_assigns_have_exactly_one_winner(
    app: Flask, api: Any, monkeypatch: pytest.MonkeyPatch, second_operator: str, action: str
) -> None:
    """Requests on one task, half as each of two operators, all past their checks before any
    writes: one 200, the rest 409, one event, and the task held by the winner."""
    flow = Flow(api)
    case_id = flow.report(title=f"并发签收 {action}")["id"]
    task = flow.task(case_id, "triage")
    users = ["op-dc", second_operator]
    tokens = {u: api.token(u) for u in users}
    barrier = threading.Barrier(RACERS, timeout=10)
    real_touch = tasks._touch

    def touch_after_all_checked(*args: Any, **kwargs: Any) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        real_touch(*args, **kwargs)

    monkeypatch.setattr(tasks, "_touch", touch_after_all_checked)

    def request(client: Any, user: str) -> Any:
        headers = {"Authorization": f"Bearer {tokens[user]}"}
        if action == "claim":
            return client.post(f"/api/tasks/{task['id']}/claim", headers=headers)
        return client.post(f"/api/tasks/{task['id']}/assign", json={"username": user}, headers=headers)

    calls = [(lambda c, u=users[i % 2]: request(c, u)) for i in range(RACERS)]
    assert _race(app, calls) == [200] + [409] * (RACERS - 1)
    monkeypatch.undo()

    events = [e for e in flow.case(case_id)["timeline"] if e["type"] in ("task_claimed", "task_assigned")]
    assert len(events) == 1
    [held] = [t for t in flow.case(case_id)["open_tasks"] if t["id"] == task["id"]]
    assert held["assignee"] in users
