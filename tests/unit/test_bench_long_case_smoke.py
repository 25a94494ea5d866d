"""Smoke test of bench/long_case.py: a few loops, figures printed, the case replays; never a timing check."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.long_case import run_backend


def test_long_case_benchmark_loops_and_replays(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_backend(f"sqlite:///{tmp_path / 'bench.db'}", returns=2, reworks=1, review_returns=1)
    out = capsys.readouterr().out
    assert "send-back" in out and "rework" in out and "review-return" in out
    assert "no divergence" in out and "verify: intact" in out
