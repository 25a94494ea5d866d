"""一哨一考 rating anchors as data: every locality defines its own, and a bad definition is refused."""

from __future__ import annotations

import pytest
import yaml

from app.assessment.rating_anchors import parse_anchors
from app.settings import ROOT

FILES = [ROOT / "config" / "assessment.yaml", *sorted((ROOT / "config" / "localities").glob("*/assessment.yaml"))]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.parent.name)
def test_each_locality_anchors_every_rating_once(path) -> None:
    anchors = parse_anchors(yaml.safe_load(path.read_text())["rating_anchors"])
    assert [a.grade for a in anchors] == ["好", "较好", "一般", "差"]
    assert sorted(n for a in anchors for n in range(a.low, a.high + 1)) == [1, 2, 3, 4, 5]
    assert all(a.text and a.text_en and a.grade_en for a in anchors)


def test_localities_word_their_anchors_themselves() -> None:
    texts = {parse_anchors(yaml.safe_load(p.read_text())["rating_anchors"])[0].text for p in FILES}
    assert len(texts) == len(FILES)


@pytest.mark.parametrize("raw, message", [
    ("好", "a list"),
    ([{"grade": "好", "points": [5, 5]}], "give a grade and its text"),
    ([{"grade": "好", "points": [0, 5], "text": "x"}], "whole ratings from 1 to 5"),
    ([{"grade": "好", "points": [5, 4], "text": "x"}], "whole ratings from 1 to 5"),
    ([{"grade": "好", "points": [4.5, 5], "text": "x"}], "whole ratings from 1 to 5"),
    ([{"grade": "好", "points": [4, 5], "text": "x"}, {"grade": "较好", "points": [4, 4], "text": "y"}], "same rating"),
])
def test_a_bad_anchor_is_refused_by_name(raw, message) -> None:
    with pytest.raises(ValueError, match=message):
        parse_anchors(raw)


def test_no_anchors_is_allowed() -> None:
    assert parse_anchors(None) == ()
