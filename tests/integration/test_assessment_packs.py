"""考核规则 on real cases: each locality pack deployed on a database of its own, its shipped scenarios
played through the JSON API (a fixed set of cases on its own organisation and catalogue), and the
scores, ranks and grades the API gives checked against the figures computed by hand from the
scenarios' forms (docs/assessment.md gives each pack's formulas)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from app.definitions import packs
from app.definitions.scenarios import read_scenarios
from app.services import clock
from tests.integration import test_packs
from tests.integration.test_packs import HttpPlayer

pack_app = test_packs.pack_app  # the pack deployed on a database of its own


def _played(app: Flask, name: str) -> HttpPlayer:
    player = HttpPlayer(app)
    for scenario in read_scenarios(packs.find(name).scenarios_dir):
        player.play(scenario)
    return player


def _rankings(player: HttpPlayer, period: str) -> dict[str, Any]:
    answer = player.api.get("auditor", f"/api/assessment/rankings?{period}")
    assert answer.status_code == 200, answer.get_json()
    return dict(answer.get_json())


def _departments(body: dict[str, Any]) -> list[tuple[str, int | None, float | None, str | None]]:
    return [(r["unit"], r["rank"], r["score"], r["grade"]) for r in body["departments"]["rows"]]


def _units(body: dict[str, Any]) -> dict[str, list[tuple[str, int | None, float | None]]]:
    return {g["level"]: [(r["unit"], r["rank"], r["score"]) for r in g["rows"]] for g in body["units"]}


def _local_today() -> date:
    return clock.now().replace(tzinfo=UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()


def _this_month() -> str:
    return f"month={_local_today():%Y-%m}"


def _varied(name: str, file: str, task: str, form: dict[str, Any]) -> list[Any]:
    """The pack's scenarios, one of them with another form for a step (a rating, a call-back)."""
    scenarios = []
    for scenario in read_scenarios(packs.find(name).scenarios_dir):
        if file in scenario.file:
            steps = [step | {"form": form} if step.get("task") == task else step for step in scenario.steps]
            scenario = replace(scenario, steps=steps)
        scenarios.append(scenario)
    return scenarios


def _play(app: Flask, scenarios: list[Any]) -> HttpPlayer:
    player = HttpPlayer(app)
    for scenario in scenarios:
        player.play(scenario)
    return player


def _street_whistle(player: HttpPlayer, street: str) -> int:
    answer = player.api.get("auditor", f"/api/assessment/units?level=street&{_this_month()}").get_json()
    [row] = [r for r in answer["rows"] if r["unit"] == street]
    [case_id] = row["figures"]["whistles_started"]["cases"]
    return int(case_id)


@pytest.mark.parametrize("pack_app", ["guandu"], indirect=True)
def test_guandu_street_whistles_and_bonus_whistles(pack_app: Flask) -> None:
    player = _play(pack_app, read_scenarios(packs.find("guandu").scenarios_dir))
    # gd-s2: one street whistle closed at once and on time = 3 points, not pushed yet: city 0, district
    # 0.7 × 3 = 2.1; 5 short of the month's 5 pushes: 0.7 × 2.1 − 15 = −13.53. gd-s1: its street whistle
    # escalated (0 points), 5 short → −15.
    assert _units(_rankings(player, _this_month()))["street"] == [("gd-s2", 1, -13.53), ("gd-s1", 2, -15.0)]
    pushed = player.api.post("sec-s2", f"/api/cases/{_street_whistle(player, 'gd-s2')}/push",
                             json={"comment": "一次办结，群众满意"})
    assert pushed.status_code == 201, pushed.get_json()
    body = _rankings(player, _this_month())
    # pushed: 0.3 × 3 + 0.7 × 3 = 3, and 4 short: −12 → −9.
    # Community whistles: gd-s1-c1's closed (+0.5), gd-s1-c2's escalated (0); the district whistle +1.
    assert _units(body) == {"street": [("gd-s2", 1, -9.0), ("gd-s1", 2, -15.0)],
                            "community": [("gd-s1-c1", 1, 0.5), ("gd-s1-c2", 2, 0.0)],
                            "district": [("gd", 1, 1.0)]}
    # departments: nothing late, reworked or sent back: 100 each; ties by 按期办结率, then 按时报到率 —
    # 市场监管 never handled a task in the month, so it comes after the others
    assert {(code, rank, score) for code, rank, score, _ in _departments(body)} == {
        ("dept-cgj", 1, 100.0), ("dept-ga", 1, 100.0), ("dept-hw", 1, 100.0), ("dept-sw", 1, 100.0),
        ("dept-zj", 1, 100.0), ("dept-scjg", 6, 100.0)}


@pytest.mark.parametrize("pack_app", ["dongcheng"], indirect=True)
def test_dongcheng_one_whistle_one_assessment(pack_app: Flask) -> None:
    threes = {"efficiency": 3, "cooperation": 3, "professionalism": 3, "responsibility": 3}
    body = _rankings(_play(pack_app, _varied("dongcheng", "escalated", "evaluate", threes)), _this_month())
    # the district whistle (escalated) rated 3.0: 发改、环卫 20 × 3 / 3 = 20; 公安 only on the street whistle
    # (4.5): 30; 城管执法、交通 on both: 20 × 3.75 / 3 = 25; 市场监管 never rated: no score, unranked
    assert _departments(body) == [("dept-ga", 1, 30.0, None), ("dept-cgzf", 2, 25.0, None),
                                  ("dept-jtys", 2, 25.0, None), ("dept-fg", 4, 20.0, None),
                                  ("dept-hw", 4, 20.0, None), ("dept-scjg", None, None, None)]


@pytest.mark.parametrize("pack_app", ["zhaoyuan"], indirect=True)
def test_zhaoyuan_satisfaction_below_the_weighted_mean(pack_app: Flask) -> None:
    scenarios = _varied("zhaoyuan", "community", "callback", {"satisfaction": "basically_satisfied"})
    body = _rankings(_play(pack_app, scenarios), _this_month())
    # call-backs: the community whistle basically satisfied (0.9): 环卫 0.9/1; 市场监管、综合执法 on both
    # (0.9 + 1)/2; 公安、教育 only the city whistle 1/1. Mean = 100 × 6.7 / 7 = 95.714 %:
    # 环卫 100 − 2 × 5.714 = 88.57; 市场监管、综合执法 100 − 2 × 0.714 = 98.57; 公安、教育 100
    assert _departments(body) == [("dept-ga", 1, 100.0, None), ("dept-jy", 1, 100.0, None),
                                  ("dept-scjg", 3, 98.57, None), ("dept-zhzf", 3, 98.57, None),
                                  ("dept-hw", 5, 88.57, None), ("dept-zj", None, None, None)]


@pytest.mark.parametrize("pack_app", ["zaozhuang"], indirect=True)
def test_zaozhuang_year_end_grades_and_the_quota_check(pack_app: Flask) -> None:
    player = _play(pack_app, read_scenarios(packs.find("zaozhuang").scenarios_dir))
    body = _rankings(player, f"year={_local_today().year}")
    # 社区 szq-t1-c1: 100/6 + 20 × 4.75/6 + 2/3 × 100 = 99.17; 执法中队 szq-t1-zfd: 0.6 × 95 + 0.4 × 100 = 97;
    # 派出所 szq-t2-pcs: 0.6 × 85 + 40 = 91; 执法中队 szq-t2-zfd rated 4.25 and 4.0 (mean 4.12): 89.44.
    # Departments' grading (4 graded): 好 at most 1 → 99.17; the rest 较好, and 差 must take one: the last.
    # Stationed agencies (3 graded): 优秀 at most 40 % → 1.
    assert _departments(body)[:7] == [
        ("szq-t1-c1", 1, 99.17, "好"), ("szq-t2-c1-x1-wy", 2, 97.51, "较好"), ("szq-t1-zfd", 3, 97.0, "优秀"),
        ("dept-jt", 4, 96.67, "较好"), ("szq-t1-c1-x1-wy", 4, 96.67, "差"), ("szq-t2-pcs", 6, 91.0, "称职"),
        ("szq-t2-zfd", 7, 89.44, "称职")]
    assert _rankings(player, _this_month())["departments"]["rows"][0]["grade"] is None  # grades are year-end
    assert _units(body)["town"] == [("szq-t2", 1, 100.0)]
    year = str(_local_today().year)
    refused = player.api.post("sec-szq", "/api/assessment/grades", json={"year": year, "grades": {
        "szq-t1-c1": "好", "szq-t2-c1-x1-wy": "好", "dept-jt": "较好", "szq-t1-c1-x1-wy": "差",
        "szq-t1-zfd": "优秀", "szq-t2-pcs": "优秀"}})
    assert refused.status_code == 422
    message = refused.get_json()["message"]
    assert "部门年度等次: 2 of 4 graded 好; at most 30 % (1) may be" in message
    assert "派驻机构负责人年度等次: 2 of 2 graded 优秀; at most 40 % (0) may be" in message
    accepted = player.api.post("sec-szq", "/api/assessment/grades", json={"year": year, "grades": {
        "szq-t1-c1": "好", "szq-t2-c1-x1-wy": "较好", "dept-jt": "一般", "szq-t1-c1-x1-wy": "差",
        "szq-t1-zfd": "优秀", "szq-t2-pcs": "称职", "szq-t2-zfd": "称职"}})
    assert accepted.status_code == 200, accepted.get_json()
