"""Issue 17: staff pages and API calls within a bound of SQL statements each (a count, not a time),
and the caches behind that bound never serve an organisation tree the database no longer has."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import event

from app.models import Unit
from app.services import per_version
from app.services.auth import principal_for, user_for_token
from app.services.org import unit_by_code
from tests.conftest import Api
from tests.integration.flow import Flow
from tests.web.pages_client import Pages

# Statements per request once a worker is warm, as the district operator (before issue 17's work:
# 12, 10, 35, 25).
BOUNDS = {"inbox": 6, "api inbox": 6, "task page": 27, "case page": 18}


@contextmanager
def counting(app: Flask) -> Iterator[list[str]]:
    engine = app.extensions["whistle.db"].engine
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _statements(app: Flask, pages: Pages, path: str) -> int:
    assert pages.get(path).status_code == 200, path  # warm: what a worker caches is read once
    with counting(app) as seen:
        assert pages.get(path).status_code == 200, path
    return len(seen)


def test_pages_stay_within_their_statement_bounds(app: Flask, pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case = flow.report(title="往返次数 路灯不亮", matter="streetlight_broken")
    task = flow.task(case["id"], "triage")
    pages.login("op-dc")
    counts = {name: _statements(app, pages, path) for name, path in {
        "inbox": "/", "api inbox": "/api/inbox", "task page": f"/tasks/{task['id']}",
        "case page": f"/cases/{case['id']}"}.items()}
    assert all(counts[name] <= bound for name, bound in BOUNDS.items()), (counts, BOUNDS)


def test_without_the_caches_a_request_reads_the_tree_again(app: Flask, pages: Pages) -> None:
    pages.login("staff-s1c1")
    warm = _statements(app, pages, "/api/inbox")
    with per_version.caching(False):
        cold = _statements(app, pages, "/api/inbox")
    assert cold == warm + 1


def _visible_codes(app: Flask, token: str) -> set[str]:
    with app.extensions["whistle.db"].unit_of_work() as s:
        principal = principal_for(s, user_for_token(s, token))
        return {s.get(Unit, unit_id).code for unit_id in principal.visible_units}


@contextmanager
def moved(app: Flask, code: str, parent: str) -> Iterator[None]:
    """The unit ``code`` moved under ``parent`` (as another worker's organisation upload would), then back."""
    db = app.extensions["whistle.db"]
    with db.unit_of_work() as s:
        unit = unit_by_code(s, code)
        before, unit.parent_id = unit.parent_id, unit_by_code(s, parent).id
    try:
        yield
    finally:
        with db.unit_of_work() as s:
            unit_by_code(s, code).parent_id = before


def test_a_moved_unit_is_seen_by_the_next_request(app: Flask, api: Api) -> None:
    token = api.token("staff-s1c1")
    assert "dc-s2-c1-g1" not in _visible_codes(app, token)  # the cached tree is now warm
    with moved(app, "dc-s2-c1-g1", "dc-s1-c1"):
        assert "dc-s2-c1-g1" in _visible_codes(app, token)
    assert "dc-s2-c1-g1" not in _visible_codes(app, token)


def test_a_unit_moved_in_the_same_unit_of_work_is_seen(app: Flask, api: Api) -> None:
    token = api.token("staff-s1c1")
    with app.extensions["whistle.db"].unit_of_work() as s:
        user = user_for_token(s, token)
        assert per_version.facts_of(s) is not None
        unit = unit_by_code(s, "dc-s2-c1-g1")
        unit.parent_id = unit_by_code(s, "dc-s1-c1").id
        s.flush()
        assert unit.id in principal_for(s, user).visible_units
        s.rollback()


def test_any_unit_write_moves_the_tree_stamp_on(app: Flask, api: Api) -> None:
    """A rename leaves the count and the parents' sums as they were: the organisation's revision is
    what tells every worker the tree it cached is stale (exact where the sums could cancel out)."""
    db = app.extensions["whistle.db"]
    token = api.token("staff-s1c1")

    def stamp() -> tuple[int, ...]:
        with db.unit_of_work() as s:
            user_for_token(s, token)
            facts = per_version.facts_of(s)
            assert facts is not None
            return facts.units_stamp

    before = stamp()
    with db.unit_of_work() as s:
        unit = unit_by_code(s, "dc-s2-c1-g1")
        name, unit.name = unit.name, unit.name + "（改）"
    after = stamp()
    assert after[0] == before[0] + 1 and after[1:] == before[1:]
    with db.unit_of_work() as s:
        unit_by_code(s, "dc-s2-c1-g1").name = name
    assert stamp()[0] == before[0] + 2
