"""How the assessment pages, the exports and the PDF bulletin write a figure and an indicator's name."""

from __future__ import annotations

from app.assessment.indicators import Indicator
from app.web.labels import is_english


def figure_text(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "%":
        return f"{value:.1f}%"
    if unit == "n":
        return f"{int(value)}"
    return f"{value:.2f}"


def indicator_name(item: Indicator) -> str:
    return item.en if is_english() else item.zh


def indicator_formula(item: Indicator) -> str:
    return item.formula_en if is_english() else item.formula_zh
