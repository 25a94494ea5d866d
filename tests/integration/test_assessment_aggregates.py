"""The indicators counted two ways: by the SQL aggregates the pages use, and record by record in
Python (the reference, and where a figure's records come from). Every figure of every unit — value,
numerator, denominator, the records it lists and a score's parts — must be the same, down to the JSON
a bulletin hashes, on the hand-computed cases and on each locality pack's scenarios."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Select, select, text
from sqlalchemy.orm import Session

from app.assessment.indicators import load_rules
from app.assessment.service import (
    Period,
    Row,
    _first_then_rest,
    _whistles,
    department_rows,
    department_rows_from_records,
    departments_among,
    handling_counts,
    problem_cases,
    problem_cases_from_records,
    sent_back,
    unit_rows,
    unit_rows_from_records,
)
from app.models import Case, Unit
from app.services import clock
from tests.integration.test_assessment import assessed_cases
from tests.integration.test_assessment_packs import _played, pack_app  # noqa: F401 (a fixture)


def _snapshot(rows: list[Row]) -> str:
    return json.dumps([[row.unit.code, row.level, {
        code: [figure.value, figure.numerator, figure.denominator, [[r.case_id, r.hit, r.value] for r in figure.rows],
               [[p.label, p.points] for p in figure.parts]]
        for code, figure in row.figures.items()}] for row in rows], sort_keys=True)


def _both_ways(app: Flask) -> list[str]:
    """Each period's department rows and unit rows (every level, then each level), counted both ways."""
    today = clock.now().date()
    around = {"start": (today - timedelta(days=40)).isoformat(), "end": (today + timedelta(days=40)).isoformat()}
    periods = [Period.parse(**around),
               Period.parse(month=f"{today:%Y-%m}"), Period.parse(year=f"{today:%Y}"),
               Period.parse(month=f"{today - timedelta(days=400):%Y-%m}")]  # nothing counted
    differences = []
    with app.app_context(), app.extensions["whistle.db"].unit_of_work() as s:
        ids = {u.id for u in s.query(Unit)}
        depts = departments_among(s, ids)
        levels: list[Any] = [None, *sorted({r.level for r in unit_rows_from_records(s, ids, periods[0])})]
        for period in periods:
            reference = department_rows_from_records(s, depts, period)
            if _snapshot(department_rows(s, depts, period)) != _snapshot(reference):
                differences.append(f"departments {period}")
            differences += _problem_differences(s, reference, period)
            for level in levels:
                if _snapshot(unit_rows(s, ids, period, level)) \
                        != _snapshot(unit_rows_from_records(s, ids, period, level)):
                    differences.append(f"units {level} {period}")
    return differences


def _problem_differences(s: Any, reference: list[Row], period: Period) -> list[str]:
    """A department page's late and reworked lists, paged in SQL, against the figures' records:
    the same total, and a page of one is the first case of the whole list."""
    differences = []
    for row in reference:
        whole = problem_cases_from_records(row)
        for limit in (1, 10_000):
            found = problem_cases(s, row.unit.id, period, limit)
            if {key: (p.total, p.cases) for key, p in found.items()} \
                    != {key: (len(ids), ids[:limit]) for key, ids in whole.items()}:
                differences.append(f"problems {row.unit.code} {period} limit {limit}")
    return differences


def test_the_aggregates_count_as_the_records_do(own_app: Flask) -> None:
    with assessed_cases(own_app) as app:
        with app.app_context(), app.extensions["whistle.db"].unit_of_work() as s:
            depts = departments_among(s, {u.id for u in s.query(Unit)})
            period = Period.parse(month=f"{clock.now().date():%Y-%m}")
            rows = department_rows(s, depts, period)
            assert any(r.figures["summoned"].value for r in rows), "the cases are counted at all"
            listed = [problem_cases_from_records(r) for r in department_rows_from_records(s, depts, period)]
            assert any(ids for found in listed for ids in found.values()), "some cases are late or reworked"
        assert _both_ways(app) == []


@pytest.mark.parametrize("pack_app", ["guandu", "zhaoyuan"], indirect=True)
def test_the_aggregates_count_as_the_records_do_with_a_packs_scores(pack_app: Flask,  # noqa: F811
                                                                   request: pytest.FixtureRequest) -> None:
    _played(pack_app, request.node.callspec.params["pack_app"])
    assert _both_ways(pack_app) == []


def test_working_hours_are_computed_for_the_unit_asked_first_then_for_the_rest_at_once() -> None:
    """A department's page reads its own report-in hours only: the calendar is not run over every
    peer's report-ins; a dashboard, reading a second unit, gets all the others in one go."""
    asked: list[set[int]] = []

    def compute(units: set[int]) -> dict[Any, list[tuple[int, float]]]:
        asked.append(set(units))
        return {u: [(u * 10, float(u))] for u in units}

    hours = _first_then_rest(compute, {1, 2, 3})
    assert hours(2) == [(20, 2.0)] and asked == [{2}]
    assert hours(2) == [(20, 2.0)] and asked == [{2}]
    assert hours(3) == [(30, 3.0)] and asked == [{2}, {1, 3}]
    assert hours(1) == [(10, 1.0)] and len(asked) == 2


def _dialect(s: Session) -> str:
    return s.get_bind().dialect.name


def test_a_periods_aggregates_are_planned_for_its_bounds_on_postgresql(app: Flask) -> None:
    """psycopg prepares a statement after five runs; a generic plan made without the period's bounds
    read a year as if it were a month (the year's ranking 2 s at first, 7–8 s once prepared). Each
    transaction that counts asks for plans of its own bounds, without JIT; the setting ends with it."""
    db = app.extensions["whistle.db"]
    with app.app_context(), db.unit_of_work() as s:
        if _dialect(s) != "postgresql":
            pytest.skip("a PostgreSQL planner setting")
        assert s.scalar(text("SHOW plan_cache_mode")) == "auto"
        ids = {u.id for u in s.query(Unit)}
        department_rows(s, departments_among(s, ids), Period.parse(year=f"{clock.now():%Y}"))
        assert (s.scalar(text("SHOW plan_cache_mode")), s.scalar(text("SHOW jit"))) == ("force_custom_plan", "off")
    with app.app_context(), db.unit_of_work() as s:
        unit_rows(s, ids, Period.parse(month=f"{clock.now():%Y-%m}"))
        assert s.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
    with db.unit_of_work() as s:
        assert s.scalar(text("SHOW plan_cache_mode")) == "auto"


def _plan(s: Session, query: Select[Any]) -> str:
    """PostgreSQL's plan of the query with its values inlined, scans of whole tables ruled out (the
    tables of a test are small enough for the planner to prefer them to any index)."""
    s.execute(text("SET LOCAL enable_seqscan = off"))
    sql = str(query.compile(s.get_bind(), compile_kwargs={"literal_binds": True}))
    return "\n".join(s.scalars(text(f"EXPLAIN {sql}")))


def test_the_send_backs_and_the_reworked_cases_are_read_from_their_partial_indexes(app: Flask) -> None:
    """Migration 0019's partial indexes match the queries' predicates exactly (a predicate that drifts
    from the query's leaves the index unused: every completion of the period read again)."""
    with app.app_context(), app.extensions["whistle.db"].unit_of_work() as s:
        if _dialect(s) != "postgresql":
            pytest.skip("the plans of PostgreSQL")
        ids = {u.id for u in s.query(Unit)}
        low, high = Period.parse(year=f"{clock.now():%Y}").bounds()
        rules = load_rules()
        assert "ix_events_sent_back" in _plan(s, sent_back(ids, low, high, rules))
        assert "ix_cases_reworked" in _plan(s, handling_counts(ids, low, high, rules))
        assert "ix_events_whistle_started" in _plan(s, select(Case.id).where(*_whistles(ids, low, high, None)))
