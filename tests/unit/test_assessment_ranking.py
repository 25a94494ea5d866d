"""排名与红黑榜 and periods: ties share a rank, empty figures are unranked, the lists never overlap."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from app.assessment.indicators import Ranking, load_rules, parse_rules
from app.assessment.ranking import rank
from app.assessment.service import Figure, Period, Row
from app.models import Unit
from app.services.errors import Invalid
from app.settings import ROOT


def _row(code: str, close_rate: float | None, started: int) -> Row:
    return Row(Unit(code=code, name=code), "community",
               {"close_rate": Figure(close_rate), "whistles_started": Figure(started)})


def _ranked(rows: list[Row], red: int = 2, black: int = 2) -> list[tuple[str, int | None, str | None]]:
    rules = load_rules()
    rules = type(rules)(**{**rules.__dict__, "red_list": red, "black_list": black})
    return [(r.row.unit.code, r.rank, r.board) for r in rank("units", rows, Ranking(("close_rate", "whistles_started")),
                                                            rules)]


def test_ties_share_a_rank_break_on_the_next_indicator_and_stay_together_on_a_list() -> None:
    rows = [_row("a", 90.0, 3), _row("b", 100.0, 1), _row("c", 90.0, 5), _row("d", 90.0, 3), _row("e", 50.0, 9),
            _row("f", None, 0)]
    assert _ranked(rows) == [("b", 1, "red"), ("c", 2, "red"), ("a", 3, "black"), ("d", 3, "black"),
                             ("e", 5, "black"), ("f", None, None)]


def test_tied_units_at_the_bottom_are_all_on_the_black_list_and_red_wins_when_few() -> None:
    rows = [_row("a", 100.0, 1), _row("b", 80.0, 1), _row("c", 50.0, 1), _row("d", 50.0, 1)]
    assert [board for _, _, board in _ranked(rows, red=1, black=1)] == ["red", None, "black", "black"]
    assert [board for _, _, board in _ranked(rows[:2], red=2, black=2)] == ["red", "red"]


def test_lower_is_better_indicators_rank_the_smallest_first() -> None:
    rows = [Row(Unit(code=c, name=c), None, {"rework_rate": Figure(v)}) for c, v in (("x", 30.0), ("y", 10.0))]
    ranked = rank("departments", rows, Ranking(("rework_rate",)), load_rules())
    assert [r.row.unit.code for r in ranked] == ["y", "x"]


def test_periods_month_quarter_year_and_their_months() -> None:
    assert Period.parse(quarter="2026-Q4") == Period(date(2026, 10, 1), date(2026, 12, 31))
    assert Period.parse(year="2027") == Period(date(2027, 1, 1), date(2027, 12, 31))
    assert Period.parse(month="2026-02") == Period(date(2026, 2, 1), date(2026, 2, 28))
    months = Period.parse(start="2026-11-15", end="2027-01-10").months()
    assert [(m.first, m.last) for m in months] == [(date(2026, 11, 15), date(2026, 11, 30)),
                                                  (date(2026, 12, 1), date(2026, 12, 31)),
                                                  (date(2027, 1, 1), date(2027, 1, 10))]
    for args, field in (({"quarter": "2026-Q5"}, "quarter"), ({"year": "26"}, "year"), ({"month": "2026-00"}, "month")):
        with pytest.raises(Invalid) as caught:
            Period.parse(**args)
        assert field in caught.value.fields


def test_a_ranking_by_an_unknown_indicator_is_refused_naming_the_field(tmp_path: Path) -> None:
    text = (ROOT / "config" / "assessment.yaml").read_text(encoding="utf-8")
    with pytest.raises(ValueError, match=r"assessment\.yaml: ranking\.units\.by"):
        parse_rules(yaml.safe_load(text.replace("by: [close_rate,", "by: [popularity,")))
    with pytest.raises(ValueError, match=r"ranking\.red_list"):
        parse_rules(yaml.safe_load(text.replace("red_list: 3", "red_list: -1")))
