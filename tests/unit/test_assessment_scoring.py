"""考核规则: each locality pack's scoring rules on a fixed set of figures, scores and ranks computed by
hand (docs/assessment.md gives the formulas); grades held to the quotas; bad rules named by line."""

from __future__ import annotations

import pytest

from app.assessment.indicators import DEPARTMENT_INDICATORS, UNIT_INDICATORS, Rules
from app.assessment.ranking import department_ranking, unit_rankings
from app.assessment.scoring import grading_for, parse_scoring, propose, quota_problems
from app.assessment.service import Counted, Figure, Period, Row, scored
from app.definitions import configuration, packs
from app.models import Unit

MONTH = Period.parse(month="2026-11")


def pack_rules(name: str, replace: tuple[str, str] | None = None) -> Rules:
    files = packs.find(name).files()
    config = {key.removeprefix("config/"): text for key, text in files.items() if key.startswith("config/")}
    if replace:
        config["assessment.yaml"] = config["assessment.yaml"].replace(*replace, 1)
    return configuration.Configuration(config, name).get("assessment")  # type: ignore[no-any-return]


def _rate(hits: int, total: int, first_case: int = 1) -> Figure:
    rows = [Counted(first_case + i, i < hits) for i in range(total)]
    return Figure(round(100 * hits / total, 1) if total else None, hits, total, rows)


def _count(n: int) -> Figure:
    return Figure(n, rows=[Counted(i + 1) for i in range(n)])


def department(code: str, kind: str = "department", **figures: Figure) -> Row:
    empty = {i.code: Figure(None) for i in DEPARTMENT_INDICATORS} | {"supervised": _count(0)}
    return Row(Unit(code=code, name=code, kind=kind), None, empty | figures)


def whistles(code: str, level: str, cases: int, closed: set[int], at_once: set[int], on_time: set[int],
             pushed: set[int] | None = None) -> Row:
    """A whistling unit's row with whistles 1..cases; the rates count the closed ones, as the service does;
    ``pushed`` the closed ones recorded as pushed to the city."""
    ids = range(1, cases + 1)
    figures = {i.code: Figure(None) for i in UNIT_INDICATORS} | {
        "whistles_started": Figure(cases, rows=[Counted(c) for c in ids]),
        "whistles_closed": Figure(len(closed), rows=[Counted(c) for c in sorted(closed)]),
        "close_rate": Figure(None, len(closed), cases, [Counted(c, c in closed) for c in ids]),
        "closed_at_once_rate": Figure(None, rows=[Counted(c, c in at_once) for c in sorted(closed)]),
        "closed_on_time_rate": Figure(None, rows=[Counted(c, c in on_time) for c in sorted(closed)]),
        "whistles_pushed": Figure(len(pushed or ()), rows=[Counted(c) for c in sorted(pushed or ())]),
    }
    return Row(Unit(code=code, name=code, kind="whistling"), level, figures)


def _scores(rows: list[Row]) -> dict[str, float | None]:
    return {row.unit.code: row.figures["score"].value for row in rows}


def test_guandu_street_whistles_pushed_at_full_the_rest_at_70_percent_city_30_district_70() -> None:
    rules = pack_rules("guandu")
    # street a: 7 whistles, 1–6 closed; 1–4 closed at once; 1, 2, 3, 5 on time → points 3 3 3 2 2 1 0;
    # pushed 1–5: city = 3+3+3+2+2 = 13; district = 13 + 0.7 × 1 = 13.7; 5 pushed: 0.3 × 13 + 0.7 × 13.7 = 13.49.
    a = whistles("a", "street", 7, {1, 2, 3, 4, 5, 6}, {1, 2, 3, 4}, {1, 2, 3, 5}, pushed={1, 2, 3, 4, 5})
    # street b: 3 whistles, all 3 points, all pushed: city 9, district 9; 2 short of 5: 2.7 + 6.3 − 6 = 3.0.
    b = whistles("b", "street", 3, {1, 2, 3}, {1, 2, 3}, {1, 2, 3}, pushed={1, 2, 3})
    # community c: 4 whistles, 3 closed: bonus 0.5 each = 1.5; district d: 2 closed: 1 each = 2.
    c = whistles("c", "community", 4, {1, 2, 3}, set(), set())
    d = whistles("d", "district", 2, {1, 2}, {1, 2}, {1, 2})
    rows = scored("units", [a, b, c, d], rules, MONTH)
    assert _scores(rows) == {"a": 13.49, "b": 3.0, "c": 1.5, "d": 2.0}
    assert [(p.label[:4], p.points) for p in a.figures["score"].parts] == [
        ("市级考核", 3.9), ("区级考核", 9.59), ("推送目标", 0.0)]
    ranked = unit_rankings(rows, rules)
    assert [(r.row.unit.code, r.rank) for r in ranked["street"]] == [("a", 1), ("b", 2)]


def test_guandu_target_is_per_month_of_the_period() -> None:
    rules = pack_rules("guandu")
    quarter = Period.parse(quarter="2026-Q4")  # 15 pushes needed: b's 3 are 12 short: 9 − 36 = −27
    [b] = scored("units", [whistles("b", "street", 3, {1, 2, 3}, {1, 2, 3}, {1, 2, 3}, {1, 2, 3})], rules, quarter)
    assert b.figures["score"].value == -27.0


def test_guandu_scores_the_whistles_recorded_as_pushed_not_the_best() -> None:
    rules = pack_rules("guandu")
    # the same street a, the street pushed 1, 2, 3 and 6 (3+3+3+1 = 10): the rest 2, 2, 0 at 70 %.
    # city 10; district 10 + 0.7 × 4 = 12.8; 1 short of 5 pushed: 0.3 × 10 + 0.7 × 12.8 − 3 = 8.96.
    a = whistles("a", "street", 7, {1, 2, 3, 4, 5, 6}, {1, 2, 3, 4}, {1, 2, 3, 5}, pushed={1, 2, 3, 6})
    # nothing pushed: city 0, district 0.7 × 14 = 9.8; 5 short: 0.7 × 9.8 − 15 = −8.14
    none = whistles("n", "street", 7, {1, 2, 3, 4, 5, 6}, {1, 2, 3, 4}, {1, 2, 3, 5})
    assert _scores(scored("units", [a, none], rules, MONTH)) == {"a": 8.96, "n": -8.14}


def test_whistles_chosen_by_best_are_refused_in_the_rules() -> None:
    raw = {"units": {"terms": [{"kind": "whistles", "criteria": ["closed"], "best": 5}]}}
    with pytest.raises(configuration.ConfigurationError, match=r"scoring\.units\.terms\.0\.best: whistles pushed are"):
        parse_scoring(raw, {}, {"units": set(), "departments": set()})


def test_guandu_departments_lose_points_from_100() -> None:
    rules = pack_rules("guandu")
    # d1: 1 of 4 handling tasks late (−2), 1 case reworked (−2), 1 report-in late (−1), 1 督办 (−1) → 94
    d1 = department("d1", handled_on_time_rate=_rate(3, 4), rework_rate=_rate(1, 3), sent_back_rate=_rate(0, 2),
                    on_time_report_in_rate=_rate(2, 3), supervised=_count(1))
    d2 = department("d2", handled_on_time_rate=_rate(2, 2), on_time_report_in_rate=_rate(2, 2))  # → 100
    d3 = department("d3", handled_on_time_rate=_rate(1, 3), sent_back_rate=_rate(1, 1))  # −4 −1 → 95
    rows = scored("departments", [d1, d2, d3], rules, MONTH)
    assert _scores(rows) == {"d1": 94.0, "d2": 100.0, "d3": 95.0}
    assert [(r.row.unit.code, r.rank) for r in department_ranking(rows, rules)] == [("d2", 1), ("d3", 2), ("d1", 3)]


def test_dongcheng_one_whistle_one_assessment_weighs_a_third() -> None:
    rules = pack_rules("dongcheng")
    rows = scored("departments", [department("cgzf", evaluation_score=Figure(4.25, rows=[Counted(1, value=4.25)])),
                                  department("hw", evaluation_score=Figure(2.5, rows=[Counted(2, value=2.5)])),
                                  department("cgw")], rules, MONTH)
    # 20 × 4.25 / 3 = 28.33; 20 × 2.5 / 3 = 16.67; never rated: no score, unranked
    assert _scores(rows) == {"cgzf": 28.33, "hw": 16.67, "cgw": None}
    assert [(r.row.unit.code, r.rank) for r in department_ranking(rows, rules)] == [
        ("cgzf", 1), ("hw", 2), ("cgw", None)]


def _satisfaction(weight: float, callbacks: int) -> Figure:
    return Figure(round(100 * weight / callbacks, 1), weight, callbacks, [Counted(i + 1) for i in range(callbacks)])


def test_zhaoyuan_points_lost_below_the_weighted_mean_of_all_units() -> None:
    rules = pack_rules("zhaoyuan")
    # mean = 100 × (9.9 + 28.8 + 10) / (10 + 30 + 10) = 97.4; d2 at 96.0 is 1.4 below: 100 − 2 × 1.4 = 97.2
    rows = scored("departments", [department("d1", satisfaction_rate=_satisfaction(9.9, 10)),
                                  department("d2", satisfaction_rate=_satisfaction(28.8, 30)),
                                  department("d3", satisfaction_rate=_satisfaction(10, 10))], rules, MONTH)
    assert _scores(rows) == {"d1": 100.0, "d2": 97.2, "d3": 100.0}
    assert [(r.row.unit.code, r.rank) for r in department_ranking(rows, rules)] == [("d3", 1), ("d1", 2), ("d2", 3)]


def test_zaozhuang_report_in_a_third_and_the_town_60_percent_of_a_stationed_agency() -> None:
    rules = pack_rules("zaozhuang")
    dept = department("dept", on_time_report_in_rate=_rate(9, 10), evaluation_score=Figure(4.5),
                      handled_on_time_rate=_rate(4, 5))
    squad = department("squad", "squad", evaluation_score=Figure(4.0), handled_on_time_rate=_rate(5, 5))
    # dept: 90/6 + 20 × 4.5 / 6 + 2/3 × 80 = 15 + 15 + 53.33; squad: 0.6 × 80 + 0.4 × 100 = 88
    assert _scores(scored("departments", [dept, squad], rules, MONTH)) == {"dept": 83.33, "squad": 88.0}
    assert rules.scoring.period == "quarter"


def test_zaozhuang_grades_held_to_the_quotas() -> None:
    scoring = pack_rules("zaozhuang").scoring
    departments = grading_for(scoring, "department")
    assert departments is not None
    scores = [(f"d{i}", s) for i, s in enumerate([95, 94, 93, 92, 85, 80, 70, 65, 62, 61])]
    given = propose(departments, scores)
    # four reach 好 but 30 % of 10 is 3: 92 goes to 较好; nobody is below 60 yet 差 takes a share: 61
    assert [given[f"d{i}"] for i in range(10)] == [*["好"] * 3, *["较好"] * 3, *["一般"] * 3, "差"]
    assert quota_problems(departments, given) == []
    heads = grading_for(scoring, "police_station")
    assert heads is not None and heads is not departments
    given = propose(heads, [("a", 95), ("b", 92), ("c", 91), ("d", 80), ("e", 50)])
    assert given == {"a": "优秀", "b": "优秀", "c": "称职", "d": "称职", "e": "不称职"}  # 40 % of 5 = 2


def test_grades_given_against_the_quotas_are_refused_with_the_quota_named() -> None:
    departments = grading_for(pack_rules("zaozhuang").scoring, "department")
    assert departments is not None
    given = {f"d{i}": "好" if i < 4 else "一般" for i in range(10)}
    assert quota_problems(departments, given) == [
        "部门年度等次: 4 of 10 graded 好; at most 30 % (3) may be",
        "部门年度等次: 0 of 10 graded 较好; at least 1 must be",
        "部门年度等次: 0 of 10 graded 差; at least 1 must be"]


@pytest.mark.parametrize(("replace", "message"), [
    (("indicator: whistles_pushed\n        at_least", "indicator: popularity\n        at_least"),
     "scoring.units.terms.2.indicator: one of"),
    (("pushed: true  ", "pushed: maybe"), "scoring.units.terms.0.pushed: true or false"),
    (("kind: target", "kind: guess"), "scoring.units.terms.2.kind: one of"),
    (("points: -3", "points: many"), "scoring.units.terms.2.points: a number"),
])
def test_bad_rules_are_refused_naming_file_line_and_field(replace: tuple[str, str], message: str) -> None:
    text = (packs.find("guandu").config_dir / "assessment.yaml").read_text(encoding="utf-8")
    line = text[:text.index(replace[0])].count("\n") + 1
    with pytest.raises(configuration.ConfigurationError) as refused:
        pack_rules("guandu", replace)
    assert str(refused.value).startswith(f"assessment.yaml line {line}: {message}"), str(refused.value)


def test_quota_percentages_and_band_order_are_checked() -> None:
    with pytest.raises(configuration.ConfigurationError, match=r"line \d+: scoring\.grades\.1\.quotas\.0\.at_most"):
        pack_rules("zaozhuang", ("at_most: 30", "at_most: 130"))
    with pytest.raises(configuration.ConfigurationError, match=r"scoring\.grades\.1\.grades: minimum scores must fall"):
        pack_rules("zaozhuang", ("较好: 75", "较好: 95"))


def test_every_pack_ships_its_own_scoring_rules() -> None:
    for name in ("guandu", "dongcheng", "zaozhuang", "zhaoyuan"):
        assert (packs.find(name).config_dir / "assessment.yaml").is_file()
        assert pack_rules(name).scoring.schemes, name


@pytest.mark.parametrize(("period", "kind"), [
    ({"month": "2026-11"}, "month"), ({"quarter": "2026-Q4"}, "quarter"), ({"year": "2026"}, "year"),
    ({"start": "2026-01-01", "end": "2026-12-31"}, "year"), ({"start": "2026-02-01", "end": "2026-04-30"}, "range"),
    ({"start": "2026-02-01", "end": "2027-01-31"}, "range"), ({"start": "2026-11-02", "end": "2026-11-30"}, "range"),
])
def test_a_period_knows_whether_it_is_a_month_quarter_or_year(period: dict[str, str], kind: str) -> None:
    assert Period.parse(**period).kind == kind  # grades are proposed for the grading's kind only


def test_the_push_rule_names_a_known_capability_and_levels() -> None:
    rule = pack_rules("guandu").push
    assert rule is not None and rule.capability == "assess" and rule.levels == {"street"}
    assert pack_rules("dongcheng").push is None  # a locality that pushes nothing
    with pytest.raises(ValueError, match="push: give a capability"):
        pack_rules("guandu", ("capability: assess", "capability: fly"))
