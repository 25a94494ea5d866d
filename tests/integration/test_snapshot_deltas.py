"""Issue 17: each step's state stored as a delta, and a worker's live workflows kept between steps.

The history must give back, for every step of a long case, exactly the state text the step saved
(its hash is in the chain), whether the rows are deltas, whole, or converted by the migration either
way; and a worker's cached workflow is used only while it is exactly the stored state.
"""

from __future__ import annotations

import zlib
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text

from app.cli import run_migrations
from app.models import Case, Snapshot, Task, User
from app.services import audit, live, snapshots
from app.services import workflow as workflow_service
from app.services.auth import principal_for
from app.services.replay import replay_case
from app.services.tasks import complete
from tests.conftest import Api
from tests.integration.test_long_case import GRADE_2, RETURNED, Driver


def _db(app: Flask) -> Any:
    return app.extensions["whistle.db"]


@pytest.fixture()
def saved(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[int, int], str]:
    """The state text each step saved, by (case, step), as the step wrote it."""
    texts: dict[tuple[int, int], str] = {}
    stage = snapshots.stage

    def recording(session: Any, case_id: int, version: int, *args: Any, **kwargs: Any) -> None:
        texts[(case_id, version)] = args[1]
        stage(session, case_id, version, *args, **kwargs)

    monkeypatch.setattr(snapshots, "stage", recording)
    return texts


def _long_case(api: Api, app: Flask, loops: int = 20) -> Driver:
    driver = Driver(api, app, "差量快照")
    driver.do("op-dc", "triage", GRADE_2)
    driver.send_back(loops)
    return driver


def _stored(app: Flask, case_id: int) -> tuple[dict[int, str], list[Any]]:
    with _db(app).sessions() as s:
        rows = s.execute(select(Snapshot.state_version, Snapshot.is_delta, Snapshot.state)
                         .where(Snapshot.case_id == case_id).order_by(Snapshot.state_version)).all()
        return snapshots.states(s, case_id, [row.state_version for row in rows]), rows


def test_every_steps_state_comes_back_exactly(app: Flask, api: Api, saved: dict[tuple[int, int], str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshots, "FULL_EVERY", 16)  # several whole states within a 20-loop case
    own_app = app
    case = _long_case(api, app)
    states, rows = _stored(own_app, case.case_id)
    expected = {version: body for (case_id, version), body in saved.items() if case_id == case.case_id}
    assert len(expected) > 2 * snapshots.FULL_EVERY
    assert states == expected
    whole = [row.state_version for row in rows if not row.is_delta]
    assert whole[0] == rows[0].state_version
    assert all(version % snapshots.FULL_EVERY == 0 for version in whole[1:]), whole
    delta_bytes = sum(len(row.state) for row in rows if row.is_delta) / (len(rows) - len(whole))
    whole_bytes = sum(len(zlib.compress(body.encode(), 6)) for body in expected.values()) / len(expected)
    assert delta_bytes < whole_bytes / 1.5, (delta_bytes, whole_bytes)  # ~2× on this looping case
    with _db(own_app).sessions() as s:  # verify --snapshots and replay read the deltas as whole states
        assert audit.verify(s, [case.case_id], snapshots=True, system=False).ok
        assert replay_case(s, case.case_id).ok
    # time travel to a step between two whole states shows that step's state
    middle = whole[1] - 3 if len(whole) > 1 else rows[-1].state_version
    with _db(own_app).sessions() as s:
        assert snapshots.state(s, case.case_id, middle) == expected[middle]


def test_an_edited_delta_is_found_by_verify(own_app: Flask) -> None:
    api = Api(own_app.test_client(), {})
    case = _long_case(api, own_app, loops=2)
    _, rows = _stored(own_app, case.case_id)
    row = next(r for r in rows if r.is_delta)
    middle = len(row.state) // 2
    edited = row.state[:middle] + bytes([row.state[middle] ^ 0x55]) + row.state[middle + 1:]
    with _db(own_app).engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE snapshots DISABLE TRIGGER USER"))
        conn.execute(Snapshot.__table__.update().where(Snapshot.__table__.c.case_id == case.case_id,
                                                        Snapshot.__table__.c.state_version == row.state_version)
                     .values(state=edited))
    with _db(own_app).sessions() as s:
        broken = audit.verify(s, [case.case_id], snapshots=True, system=False).first_break
    assert broken is not None and broken.problem == "snapshot", broken
    assert f"step {row.state_version}" in broken.message, broken.message


def test_the_migration_converts_snapshots_both_ways(own_app: Flask, empty_database_url: str) -> None:
    api = Api(own_app.test_client(), {})
    case = _long_case(api, own_app, loops=10)
    before, rows = _stored(own_app, case.case_id)
    assert any(row.is_delta for row in rows)
    _db(own_app).dispose()
    run_migrations(empty_database_url, "0015_intake", "downgrade")
    with _db(own_app).engine.connect() as conn:
        whole = conn.execute(text("SELECT state_version, state FROM snapshots WHERE case_id = :c "
                                  "ORDER BY state_version"), {"c": case.case_id}).all()
    assert {v: zlib.decompress(body).decode() for v, body in whole} == before
    _db(own_app).dispose()
    run_migrations(empty_database_url)
    after, rows = _stored(own_app, case.case_id)
    assert after == before
    assert sum(row.is_delta for row in rows) == len(rows) - 1 - len(rows) // snapshots.FULL_EVERY
    with _db(own_app).sessions() as s:
        assert audit.verify(s, [case.case_id], snapshots=True, system=False).ok


def test_a_worker_reuses_its_live_workflow_only_while_it_is_the_stored_state(
    app: Flask, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    own_app = app
    case = _long_case(api, app, loops=1)
    cache = live.CACHE
    hits = cache.hits
    case.do("hw-staff", "handle_dispatched", RETURNED)
    assert cache.hits == hits + 1  # the step before left it here

    # another worker (its own cache) takes the next step: this worker's entry is now stale
    monkeypatch.setattr(live, "CACHE", live.LiveCache())
    case.do("op-dc", "triage", GRADE_2)
    monkeypatch.setattr(live, "CACHE", cache)
    misses = cache.misses
    case.do("hw-staff", "handle_dispatched", RETURNED)
    assert cache.misses == misses + 1

    # a step that is rolled back leaves nothing behind; the next step loads the stored state
    with pytest.raises(RuntimeError), _db(own_app).unit_of_work() as s:
        task = s.scalar(select(Task).where(Task.case_id == case.case_id, Task.status == "open"))
        assert task is not None
        complete(s, principal_for(s, _user(s, "op-dc")), task.id, GRADE_2)
        raise RuntimeError("the request failed after the step")
    hits, misses = cache.hits, cache.misses
    case.do("op-dc", "triage", GRADE_2)
    assert (cache.hits, cache.misses) == (hits, misses + 1)
    with _db(own_app).sessions() as s:
        assert replay_case(s, case.case_id).ok
        assert audit.verify(s, [case.case_id], snapshots=True, system=False).ok
        stored = s.get(Case, case.case_id)
        assert stored is not None and workflow_service.load(s, stored).ready_task_names()


def _user(session: Any, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None
    return user
