"""一哨一考 rating anchors: what 好 / 较好 / 一般 / 差 mean on the 1–5 ratings of the evaluation form,
as the locality defines them (assessment.yaml's ``rating_anchors``), so raters in one place rate alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.definitions import configuration

LOWEST, HIGHEST = 1, 5  # the rating scale of the evaluation form


@dataclass(frozen=True)
class RatingAnchor:
    grade: str  # 好, 较好, 一般, 差 …
    grade_en: str
    low: int  # the ratings this grade covers, inclusive
    high: int
    text: str  # what earns it
    text_en: str

    def label(self, english: bool) -> str:
        return (english and self.grade_en) or self.grade

    def description(self, english: bool) -> str:
        return (english and self.text_en) or self.text

    def points(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}–{self.high}"


def load_anchors() -> tuple[RatingAnchor, ...]:
    """The anchors in effect, best first (none where the locality defines none)."""
    return configuration.load("rating_anchors")  # type: ignore[no-any-return]


@configuration.loader("rating_anchors")
def _read(config: configuration.Configuration) -> tuple[RatingAnchor, ...]:
    return parse_anchors((config.yaml("assessment.yaml") or {}).get("rating_anchors"))


def parse_anchors(raw: Any) -> tuple[RatingAnchor, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError("assessment.yaml: rating_anchors: a list of {grade, points: [low, high], text}")
    anchors = tuple(_anchor(index, item) for index, item in enumerate(raw))
    covered = [n for a in anchors for n in range(a.low, a.high + 1)]
    if len(covered) != len(set(covered)):
        raise ValueError("assessment.yaml: rating_anchors: two grades cover the same rating")
    return tuple(sorted(anchors, key=lambda a: -a.high))


def _anchor(index: int, item: Any) -> RatingAnchor:
    where = f"assessment.yaml: rating_anchors[{index}]"
    if not isinstance(item, dict) or not item.get("grade") or not item.get("text"):
        raise ValueError(f"{where}: give a grade and its text")
    points = item.get("points")
    if (not isinstance(points, list) or len(points) != 2 or not all(type(p) is int for p in points)
            or not LOWEST <= points[0] <= points[1] <= HIGHEST):
        raise ValueError(f"{where}: points: [low, high], whole ratings from {LOWEST} to {HIGHEST}")
    return RatingAnchor(str(item["grade"]), str(item.get("grade_en") or ""), points[0], points[1],
                        str(item["text"]), str(item.get("text_en") or ""))
