"""Smoke test of bench/inbox_page.py: it fills an inbox and fetches every page it measures (no timing check)."""

from __future__ import annotations

from pathlib import Path

from bench.inbox_page import PAGES, run, table


def test_inbox_page_benchmark_runs(tmp_path: Path) -> None:
    result = run(f"sqlite:///{tmp_path / 'bench.db'}", "sqlite", tasks=45, repeat=1, seed_cases=3)
    assert set(result.ms) == set(PAGES) and all(ms > 0 for ms in result.ms.values())
    assert "| sqlite | 45 |" in table([result])
