"""Smoke test of bench/modeler_check.py: it checks and lints the shipped bundle; never a timing check."""

from __future__ import annotations

from bench.modeler_check import report, run


def test_modeler_check_benchmark_checks_and_lints_the_shipped_bundle() -> None:
    figures = run(runs=1)
    assert figures.files > 10 and figures.problems == 0
    assert figures.cold_ms > 0 and len(figures.warm_ms) == len(figures.lint_ms) == 1
    assert f"| {figures.files} |" in report(figures)
