"""Keyset pages of the inbox and the 督办 ledger. The inbox walked forwards by ``after`` or
backwards by ``before`` from the last page, every open task comes exactly once, in deadline order
(no deadline last, ids breaking the many ties); counts stop at the cap."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import insert, select

from app.models import SupervisionEntry, Task
from app.services.case_list import COUNT_CAP
from app.services.cases import file_report
from app.services.deadlines import LEDGER_PAGE
from bench.scale_lists import logged_in
from tests.conftest import Api

USER = "op-dc"


def _fill(app: Flask, copies: int) -> list[int]:
    """One real report, then ``copies`` of its triage row: deadlines on three values (ties) and every
    seventh without one. Returns every open task id of the platform in the inbox's order."""
    db = app.extensions["whistle.db"]
    with db.unit_of_work() as s:
        file_report(s, None, {"title": "翻页", "grid": "dc-s1-c1-g1", "channel": "web", "matter": "garbage_overflow"})
    with db.unit_of_work() as s:
        row = s.scalar(select(Task).where(Task.status == "open"))
        assert row is not None
        s.execute(insert(Task), [{
            "case_id": row.case_id, "engine_task_id": str(uuid.uuid4()), "task_type": row.task_type,
            "title": row.title, "stage": row.stage, "role": row.role, "unit_id": row.unit_id, "form": row.form,
            "context": {}, "status": "open", "created_at": row.created_at,
            "due_at": None if n % 7 == 0 else row.created_at + timedelta(hours=n % 3),
        } for n in range(copies)])
        s.execute(insert(Task), [{  # completed and other units' rows are in no page
            "case_id": row.case_id, "engine_task_id": str(uuid.uuid4()), "task_type": row.task_type,
            "title": row.title, "stage": row.stage, "role": row.role, "unit_id": row.unit_id, "form": row.form,
            "context": {}, "status": "completed", "created_at": row.created_at, "due_at": row.created_at}])
        mine = s.execute(select(Task.id, Task.due_at).where(Task.status == "open", Task.role == row.role,
                                                             Task.unit_id == row.unit_id)).all()
    return [i for i, _due in sorted(mine, key=lambda r: (r.due_at is None, r.due_at or row.created_at, r.id))]


@pytest.fixture()
def own_api(own_app: Flask) -> Iterator[Api]:
    yield Api(own_app.test_client(), {})


def _walk(api: Api, start: str, key: str, param: str, base: str = "/api/inbox?per_page=9&") -> list[list[int]]:
    pages, path = [], start
    while True:
        body: dict[str, Any] = api.get(USER, path).get_json()
        pages.append([item["id"] for item in body["items"]])
        if not body[key]:
            return pages
        path = f"{base}{param}={body[key]}"


def test_pages_forwards_and_backwards_hold_every_task_once_in_order(own_app: Flask, own_api: Api) -> None:
    expected = _fill(own_app, 60)
    forwards = _walk(own_api, "/api/inbox?per_page=9", "next_after", "after")
    assert [i for page in forwards for i in page] == expected
    assert all(len(page) == 9 for page in forwards[:-1]) and len(forwards) == -(-len(expected) // 9)
    backwards = _walk(own_api, "/api/inbox?per_page=9&last=1", "prev_before", "before")
    assert [i for page in reversed(backwards) for i in page] == expected
    numbered = [item["id"] for n in range(1, len(forwards) + 1)
                for item in own_api.get(USER, f"/api/inbox?per_page=9&page={n}").get_json()["items"]]
    assert numbered == expected


def test_a_task_done_between_pages_neither_shifts_nor_repeats_the_next(own_app: Flask, own_api: Api) -> None:
    expected = _fill(own_app, 30)
    first = own_api.get(USER, "/api/inbox?per_page=10").get_json()
    with own_app.extensions["whistle.db"].unit_of_work() as s:
        s.get(Task, expected[0]).status = "completed"  # as if a colleague finished it meanwhile
    second = own_api.get(USER, f"/api/inbox?per_page=10&after={first['next_after']}").get_json()
    assert [item["id"] for item in second["items"]] == expected[10:20]


def test_counts_stop_at_the_cap_and_the_page_says_so(own_app: Flask, own_api: Api) -> None:
    _fill(own_app, COUNT_CAP + 5)
    body = own_api.get(USER, "/api/inbox").get_json()
    assert body["total"] == COUNT_CAP and body["total_capped"] is True
    assert body["counts"] == {"triage": COUNT_CAP + 1}
    with logged_in(own_app, USER) as client:
        html = client.get("/").get_data(as_text=True)
        assert html.count(f"<b>{COUNT_CAP}+</b>") == 2 and f"共 {COUNT_CAP}+ 件" in html  # 全部 and the type's chip
        assert 'data-testid="last-page"' in html and "第 1 /" not in html  # no page count it does not know
        last = client.get("/?last=1").get_data(as_text=True)
        assert 'data-testid="prev-page"' in last and 'data-testid="next-page"' not in last


def test_a_bad_cursor_is_refused_by_the_api_and_ignored_by_the_page(own_app: Flask, own_api: Api) -> None:
    _fill(own_app, 3)
    resp = own_api.get(USER, "/api/inbox?after=yesterday")
    assert resp.status_code == 422 and resp.get_json()["fields"] == {"after": "not a page cursor"}
    assert own_api.get(USER, "/api/inbox?before=2026-13-01T00:00:00~5").status_code == 422
    with logged_in(own_app, USER) as client:
        assert client.get("/?after=yesterday").status_code == 200


def test_the_ledger_pages_newest_first_with_every_entry_once(own_app: Flask, own_api: Api) -> None:
    _fill(own_app, 1)
    with own_app.extensions["whistle.db"].unit_of_work() as s:
        task = s.scalar(select(Task).where(Task.status == "open"))
        assert task is not None
        s.execute(insert(SupervisionEntry), [{
            "case_id": task.case_id, "task_id": task.id, "unit_id": task.unit_id, "task_type": task.task_type,
            "stage": task.stage, "due_at": task.created_at, "opened_at": task.created_at, "status": "open",
        } for _ in range(LEDGER_PAGE + 7)])
        expected = sorted(s.scalars(select(SupervisionEntry.id)), reverse=True)
    pages = _walk(own_api, "/api/supervision", "next_before", "before", "/api/supervision?")
    assert [len(p) for p in pages] == [LEDGER_PAGE, 7] and [i for p in pages for i in p] == expected
    assert own_api.get(USER, "/api/supervision?before=x").status_code == 422
    with logged_in(own_app, USER) as client:
        html = client.get("/supervision").get_data(as_text=True)
        assert html.count('data-testid="ledger-status"') == LEDGER_PAGE and 'data-testid="next-page"' in html
