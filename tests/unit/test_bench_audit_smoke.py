"""Smoke test of bench/audit.py: it verifies, replays and sizes a tiny history; never a timing check."""

from __future__ import annotations

from pathlib import Path

from bench.audit import report, run_backend


def test_audit_benchmark_verifies_replays_and_sizes(tmp_path: Path) -> None:
    result = run_backend(f"sqlite:///{tmp_path / 'bench.db'}", "sqlite", cases=20, events=20, replay_cases=3)

    assert result.chains >= 23 + 1  # 20 synthetic, 3 real (and any escalations), the system chain
    assert result.events >= 20 * 20
    assert result.verify_s > 0 and result.events_per_s > 0
    assert result.replayed >= 3 and len(result.replay_ms) == result.replayed
    assert result.diverged == 0
    assert result.event_bytes > 0 and result.snapshot_bytes > 0
    assert "| sqlite |" in report([result])
