"""承诺完成时间 of an imported work order is the case's deadline: at import, after every step, on the
case page, in the lights and the overdue filter."""

from __future__ import annotations

from datetime import datetime

from flask import Flask
from sqlalchemy import select

from app.intake.orders import import_orders
from app.intake.sources import find_source
from app.models import Case, ImportedOrder, User
from app.services.auth import principal_for
from tests.conftest import Api
from tests.fixtures.work_orders import good_rows, prefix, xlsx
from tests.integration.flow import Flow
from tests.web.pages_client import Pages, text

PROMISED = 10  # the column 承诺完成时间 in tests/fixtures/work_orders.py


def _import(app: Flask, promised: list[str]) -> dict[str, int]:
    p = prefix()
    rows = good_rows(p)
    for row, when in zip(rows, promised, strict=True):
        row[PROMISED] = when
    with app.extensions["whistle.db"].unit_of_work() as s:
        user = s.scalar(select(User).where(User.username == "op-dc"))
        report = import_orders(s, principal_for(s, user), find_source("hotline_12345"), "o.xlsx", xlsx(rows),
                               dry_run=False)
        assert report.counts()["created"] == 3
        return {o.number: o.case_id for o in s.scalars(select(ImportedOrder).where(ImportedOrder.number.like(f"{p}%")))}


def _due(app: Flask, case_id: int) -> datetime | None:
    with app.extensions["whistle.db"].unit_of_work() as s:
        return s.get(Case, case_id).due_at


def test_the_promised_time_is_the_case_deadline_through_its_steps(app: Flask, api: Api) -> None:
    ids = _import(app, ["2030-01-02 18:00:00", "2026-12-01 18:00:00", ""])
    far, late, none = sorted(ids.values())
    assert _due(app, far) == datetime(2030, 1, 2, 10, 0)  # 18:00 Beijing, in UTC: not the triage's limit
    assert _due(app, none) is not None and _due(app, none) < datetime(2030, 1, 1)  # no promise: its steps'
    flow = Flow(api)
    flow.do("op-dc", far, "triage", {"grade": 2, "matter": "streetlight_broken"})
    assert flow.open_types(far) != ["triage"] and _due(app, far) == datetime(2030, 1, 2, 10, 0)
    assert flow.case(far)["promised_at"] == "2030-01-02T10:00:00Z"
    overdue = api.get("op-dc", "/api/cases?overdue=1&per_page=100").get_json()["items"]
    numbers = {c["id"] for c in overdue}
    assert late in numbers and far not in numbers


def test_the_case_page_shows_the_promised_deadline(app: Flask) -> None:
    ids = _import(app, ["2026-12-01 18:00:00", "", ""])
    late = min(ids.values())
    pages = Pages(app.test_client())
    pages.login("op-dc")
    page = text(pages.get(f"/cases/{late}"))
    assert 'data-testid="case-promised"' in page and 'data-light="red"' in page.split('data-testid="case-due"')[1][:200]
