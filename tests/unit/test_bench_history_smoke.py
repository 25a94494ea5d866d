"""Smoke test of bench/history_size.py on a tiny PostgreSQL database: it runs and its figures are sane
(never a size target: that is the bench's to print)."""

from __future__ import annotations

import os

import pytest

from app.db import temporary_postgres_database
from bench.history_size import measure, report


def test_history_size_benchmark_measures_deltas_and_whole_states() -> None:
    if not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"):
        pytest.skip("VACUUM and table sizes are PostgreSQL's: set TEST_DATABASE_URL")
    with temporary_postgres_database(os.environ["TEST_DATABASE_URL"], "whistle_test") as url:
        sizes = measure(url, cases=3, seed=1)
    assert sizes.cases >= 3 and sizes.steps > sizes.cases
    assert sizes.table_kb["snapshots"] > 0 and sizes.table_kb["events"] > 0
    # the same states stored whole take more room than as deltas
    assert sizes.whistle_kb["snapshots whole (before)"] >= sizes.whistle_kb["snapshots"]
    assert "history per whistle case" in report(sizes)
