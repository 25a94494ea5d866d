"""Smoke test of bench/lifecycle.py: both paths run on a tiny SQLite database and give sane figures.

Only that the benchmark works (same tasks replayed, positive costs and sizes); never a timing check.
One database set-up only: loading the demo organisation is the slow part.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.lifecycle import notes, run_backend, table


def test_lifecycle_benchmark_runs_both_paths(tmp_path: Path) -> None:
    result = run_backend(f"sqlite:///{tmp_path / 'bench.db'}", "sqlite", cases=3, seed=1, mem_cases=1)

    assert result.cases == 3
    assert result.workflows >= 3
    assert result.tasks > 0  # run_backend itself checks the bare replay completed the same tasks
    assert result.app_ms > 0
    assert result.bare_ms > 0
    assert result.ratio > 0
    assert result.app_peak_mb > 0
    assert result.bare_peak_mb > 0
    assert result.maxrss_mb > 0
    assert result.app_state_bytes > 0
    assert result.bare_state_bytes > result.bare_spec_bytes > 0  # the bare JSON carries the specs
    assert sum(result.ends.values()) == result.workflows
    assert result.engine_ms > 0
    assert "| sqlite" in table([result])
    assert "human tasks" in notes([result], 1)


@pytest.mark.parametrize("mode", ["cold", "running"])
def test_timer_benchmark_fires_every_timer_once(tmp_path: Path, mode: str) -> None:
    from bench.timers import run_once
    from bench.timers import table as timer_table

    result = run_once(f"sqlite:///{tmp_path / 'timers.db'}", timers=5, schedulers=1, timeout=120, mode=mode,
                      lead=3.0)

    assert (result.fired_events, result.duplicates, result.waiting_left) == (5, 0, 0)
    assert result.p95_ms >= result.p50_ms > 0  # fired after they fell due, never before
    assert result.scheduler_cpu_ms > 0
    assert f"| {mode} | 1 | 5 | 5 | 0 | 0 |" in timer_table([result])
