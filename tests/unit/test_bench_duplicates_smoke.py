"""Smoke test of bench/duplicates.py: the seeded set has pairs and the configured threshold finds them."""

from __future__ import annotations

import random

from app.intake.duplicates import load_settings
from bench.duplicates import measure, seeded


def test_seeded_pairs_are_found_at_the_configured_threshold() -> None:
    settings = load_settings()
    result = measure(seeded(random.Random(7), 30), settings, settings.min_score)
    assert result.pairs > 0
    assert result.recall >= 0.9 and 0 < result.precision <= 1
