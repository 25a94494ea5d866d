"""Smoke test of bench/scale_data.py and bench/scale_lists.py at a tiny scale on PostgreSQL (the
generator speaks PostgreSQL's SQL): the shape it promises, and every page it times answers 200."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text

from app.db import temporary_postgres_database
from bench.scale_data import fill
from bench.scale_lists import table, time_pages

pytestmark = pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="needs TEST_DATABASE_URL (PostgreSQL)")


def test_generator_and_list_bench_run_tiny() -> None:
    with temporary_postgres_database(os.environ["TEST_DATABASE_URL"], "whistle_scale_smoke") as url:
        shape = fill(url, scale=0.0005, templates=4)
        assert (shape.closed_cases, shape.open_tasks) == (500, 50)
        engine = create_engine(url)
        with engine.connect() as conn:
            closed = conn.scalar(text("SELECT count(*) FROM cases WHERE status = 'closed' AND number LIKE 'S%'"))
            open_rows = conn.execute(text("SELECT role, unit_id, count(*) FROM tasks t JOIN cases c "
                                          "ON c.id = t.case_id "
                                          "WHERE t.status = 'open' AND c.number LIKE 'O%' GROUP BY 1, 2 "
                                          "ORDER BY 3 DESC")).all()
            orphans = conn.scalar(text("SELECT count(*) FROM cases c WHERE NOT EXISTS "
                                       "(SELECT 1 FROM case_units u WHERE u.case_id = c.id AND u.depth = 0)"))
        engine.dispose()
        assert closed == 500 and sum(n for *_k, n in open_rows) == 50 and orphans == 0
        assert open_rows[0][2] >= 0.77 * 50 - 1  # the district platform holds most of the open work
        who, timings = time_pages(url, repeat=1)
        assert set(who) == {"huge", "busy", "small"} and all(t.p50 > 0 for t in timings)
        assert "| inbox: first page |" in table(who, timings)
