"""Smoke test of bench/anchor.py: it anchors, grows, re-anchors and verifies a tiny history; never a timing check."""

from __future__ import annotations

from pathlib import Path

from bench.anchor import report, run_backend


def test_anchor_benchmark_anchors_grows_and_verifies(tmp_path: Path) -> None:
    result = run_backend(f"sqlite:///{tmp_path / 'bench.db'}", "sqlite", cases=20, events=5, growing=4,
                         ledger=tmp_path / "anchors.jsonl")

    names = [step.name for step in result.steps]
    assert names[0].startswith("anchor 1") and names[-1] == "verify with the anchor check"
    assert "8 entries, 0 conflicts" in result.steps[1].note  # 4 grown + 4 new chains
    assert result.steps[2].note == "0 entries"
    assert all(step.wall_s > 0 for step in result.steps) and result.ledger_bytes > 0
    assert "| sqlite |" in report([result])
