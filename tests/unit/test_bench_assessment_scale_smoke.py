"""Smoke test of bench/assessment_scale.py: it fills a tiny district on PostgreSQL and fetches every
page it measures (no timing check). Skipped without TEST_DATABASE_URL (the fill is PostgreSQL SQL)."""

from __future__ import annotations

import os

import pytest

from app.db import temporary_postgres_database
from bench.assessment_scale import probes, run, table

URL = os.environ.get("TEST_DATABASE_URL", "")


@pytest.mark.skipif(not URL.startswith("postgresql"), reason="the bench fills PostgreSQL (TEST_DATABASE_URL)")
def test_assessment_scale_benchmark_runs() -> None:
    with temporary_postgres_database(URL, "whistle_scale_smoke") as url:
        result = run(url, months=2, cases_per_month=300, repeat=1)
    assert result.rows["cases"] == 600 and result.rows["report_ins"] > 0 and result.rows["supervision_entries"] > 0
    assert set(result.warm_ms) == {p.name for p in probes(2)} and all(ms > 0 for ms in result.cold_ms.values())
    assert "2 months × 300 cases" in table(result)
