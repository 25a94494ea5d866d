"""Smoke test of bench/page_trips.py: every page it measures answers, and the table counts statements
(no timing check)."""

from __future__ import annotations

import re
from pathlib import Path

from bench.page_trips import USERS, run


def test_page_trips_benchmark_runs(tmp_path: Path) -> None:
    figures = run(f"sqlite:///{tmp_path / 'bench.db'}", cases=2, repeat=1, show_sql=False)
    rows = [line for line in figures.splitlines()[2:] if line.startswith("|")]
    assert {row.split("|")[1].strip() for row in rows} == set(USERS)
    for row in rows:
        off, on = map(int, re.search(r"\| (\d+) → (\d+) \|", row).groups())
        assert 0 < on < off, row  # the caches spare a statement on every page
