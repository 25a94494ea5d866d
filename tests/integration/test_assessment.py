"""统计考核: the indicators of a small, hand-computed set of cases, and who may see them.

Three cases in a database of their own:
A  社区哨 illegal_advertising (城管执法 lead, 环卫 cooperating): both report in and handle on time;
   satisfied; 一哨一考 城管 5/4/4/5 (4.5), 环卫 3/3/3/3 (3.0).
B  the same matter: 城管 reports in on time, 环卫 three days late (a 督办 entry, answered by the
   report-in); verification sends it back for rework once; basically satisfied; 城管 4/4/4/4,
   环卫 2/2/2/2.
C  grade 2: dispatched to 城管委 (streetlight), sent back (回退), re-dispatched to 环卫 (public
   toilet), handled; dissatisfied.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from app.assessment.indicators import DEPARTMENT_INDICATORS, UNIT_INDICATORS
from app.db import Database
from app.definitions.scenarios import play_step, report_case
from app.services import clock
from app.settings import ROOT
from tests.conftest import PASSWORD

LATE = timedelta(days=3)
APPROVE = {"decision": "approve"}
REPORT_IN = {"on_site": True, "attendees": "到场人员", "note": "到场"}
HANDLE = {"actions": "已清理", "result": "完成"}


def _rating(*scores: int) -> dict[str, int]:
    return dict(zip(("efficiency", "cooperation", "professionalism", "responsibility"), scores, strict=True))


def _whistle_until_report_in(db: Database) -> int:
    case_id, _ = report_case(db, "grid_worker", {"title": "违规广告", "grid": "dc-s1-c1-g1", "channel": "grid_patrol"})
    for step in ({"task": "triage", "form": {"grade": 3, "matter": "illegal_advertising", "level": "community"}},
                 {"task": "prepare_whistle", "form": {"summary": "违规广告", "situation": "enforcement"}},
                 {"task": "review", "role": "section_head", "form": APPROVE},
                 {"task": "review", "role": "deputy_leader", "form": APPROVE},
                 {"task": "review_head", "form": APPROVE}):
        play_step(db, case_id, step)
    return case_id


def _whistle_to_the_end(db: Database, case_id: int, satisfaction: str, cgzf: tuple[int, ...], hw: tuple[int, ...],
                        rework: bool = False) -> None:
    coordinate = {"meeting_held": True, "attendees": ["社区"], "decisions": "分工", "decision": "proceed"}
    steps: list[dict[str, Any]] = [{"task": "coordinate", "form": coordinate},
                                   {"task": "handle", "each": True, "form": HANDLE},
                                   {"task": "lead_confirm", "form": {"summary": "完成"}}]
    if rework:
        steps += [{"task": "verify", "form": {"fixed": False, "note": "仍有残留"}},
                  {"task": "handle", "each": True, "form": HANDLE},
                  {"task": "lead_confirm", "form": {"summary": "完成"}}]
    steps += [{"task": "verify", "form": {"fixed": True, "note": "通过"}},
              {"task": "feedback", "form": {"feedback": "已反馈", "contacted": True}},
              {"task": "callback", "form": {"satisfaction": satisfaction}},
              {"task": "evaluate", "dept": "dept-cgzf", "form": _rating(*cgzf)},
              {"task": "evaluate", "dept": "dept-hw", "form": _rating(*hw)}]
    for step in steps:
        play_step(db, case_id, step)


@contextmanager
def assessed_cases(app: Flask) -> Iterator[Flask]:
    """Cases A, B and C played on the app's database; the clock stays three days on while in use."""
    db = app.extensions["whistle.db"]
    case_c, _ = report_case(db, "grid_worker", {"title": "路灯不亮", "grid": "dc-s1-c1-g2", "channel": "app_photo"})
    for step in ({"task": "triage", "form": {"grade": 2, "matter": "streetlight_broken"}},
                 {"task": "handle_dispatched", "form": {"action": "returned", "reason": "不属于本部门职责"}},
                 {"task": "triage", "form": {"grade": 2, "matter": "public_toilet_fault"}},
                 {"task": "handle_dispatched", "form": {"action": "handled", "result": "已修复"}},
                 {"task": "verify_dispatched", "form": {"fixed": True, "note": "核查"}},
                 {"task": "feedback_dispatched", "form": {"feedback": "已反馈", "contacted": True}},
                 {"task": "callback", "form": {"satisfaction": "dissatisfied"}}):
        play_step(db, case_c, step)
    case_a = _whistle_until_report_in(db)
    play_step(db, case_a, {"task": "report_in", "each": True, "form": REPORT_IN})
    _whistle_to_the_end(db, case_a, "satisfied", (5, 4, 4, 5), (3, 3, 3, 3))
    case_b = _whistle_until_report_in(db)
    play_step(db, case_b, {"task": "report_in", "unit": "dept-cgzf", "form": REPORT_IN})
    clock.advance(LATE)
    try:
        play_step(db, case_b, {"task": "report_in", "unit": "dept-hw", "form": REPORT_IN})
        _whistle_to_the_end(db, case_b, "basically_satisfied", (4, 4, 4, 4), (2, 2, 2, 2), rework=True)
        yield app
    finally:
        clock.advance(-LATE)


@pytest.fixture()
def assessed(own_app: Flask) -> Iterator[Flask]:
    with assessed_cases(own_app) as app:
        yield app


def _get(app: Flask, user: str, path: str) -> Any:
    client = app.test_client()
    token = client.post("/api/tokens", json={"username": user, "password": PASSWORD}).get_json()["token"]
    return client.get(path, headers={"Authorization": f"Bearer {token}"})


def period_query() -> str:
    today = clock.now().date()
    return f"start={(today - timedelta(days=40)).isoformat()}&end={(today + timedelta(days=40)).isoformat()}"


def _values(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["unit"]: {code: figure["value"] for code, figure in row["figures"].items()} for row in body["rows"]}


def test_department_indicators_match_the_hand_computed_figures(assessed: Flask) -> None:
    response = _get(assessed, "sec-dc", f"/api/assessment/departments?{period_query()}")
    assert response.status_code == 200, response.get_json()
    values = _values(response.get_json())
    assert {k: values["dept-cgzf"][k] for k in (
        "summoned", "report_in_rate", "on_time_report_in_rate", "handled_on_time_rate", "rework_rate",
        "supervised", "efficiency", "evaluation_score", "satisfaction_rate")} == {
        "summoned": 2, "report_in_rate": 100.0, "on_time_report_in_rate": 100.0, "handled_on_time_rate": 100.0,
        "rework_rate": 50.0, "supervised": 0, "efficiency": 4.5, "evaluation_score": 4.25, "satisfaction_rate": 95.0}
    assert {k: values["dept-hw"][k] for k in (
        "summoned", "report_in_rate", "on_time_report_in_rate", "supervised", "supervised_open",
        "evaluation_score", "sent_back_rate", "satisfaction_rate")} == {
        "summoned": 2, "report_in_rate": 100.0, "on_time_report_in_rate": 50.0, "supervised": 1,
        "supervised_open": 0, "evaluation_score": 2.5, "sent_back_rate": 0.0, "satisfaction_rate": 63.3}
    assert values["dept-cgw"]["sent_back_rate"] == 100.0 and values["dept-cgw"]["satisfaction_rate"] == 0.0
    assert values["dept-cgw"]["report_in_rate"] is None  # never summoned: no rate, not 0 %
    hw_late = values["dept-hw"]["report_in_hours_p90"]
    assert hw_late is not None and hw_late > values["dept-cgzf"]["report_in_hours_p90"]


def test_every_figure_names_its_cases_and_formula(assessed: Flask) -> None:
    body = _get(assessed, "sec-dc", f"/api/assessment/departments?{period_query()}").get_json()
    formulas = {i["code"]: i["formula_zh"] for i in body["indicators"]}
    assert formulas["report_in_rate"] == "已报到 ÷ 被召集"
    [hw] = [row for row in body["rows"] if row["unit"] == "dept-hw"]
    figure = hw["figures"]["on_time_report_in_rate"]
    assert (figure["numerator"], figure["denominator"], len(figure["cases"])) == (1, 2, 2)


def test_whistling_units_close_rate_and_closed_at_once(assessed: Flask) -> None:
    body = _get(assessed, "sec-s1", f"/api/assessment/units?{period_query()}&level=community").get_json()
    [row] = body["rows"]
    assert (row["unit"], row["level"]) == ("dc-s1-c1", "community")
    values = {code: figure["value"] for code, figure in row["figures"].items()}
    assert {k: values[k] for k in ("whistles_started", "whistles_closed", "close_rate", "closed_at_once_rate",
                                   "escalated")} == {
        "whistles_started": 2, "whistles_closed": 2, "close_rate": 100.0, "closed_at_once_rate": 50.0,
        "escalated": 0}


def test_a_department_sees_only_its_own_figures_and_bad_periods_are_refused(assessed: Flask) -> None:
    body = _get(assessed, "hw-head", f"/api/assessment/departments?{period_query()}").get_json()
    assert [row["unit"] for row in body["rows"]] == ["dept-hw"]
    assert _get(assessed, "gw-s1c1g1", f"/api/assessment/departments?{period_query()}").get_json()["rows"] == []
    for query, field in (("month=2026-13", "month"), ("month=11/2026", "month"), ("start=2026-02-30&end=2026-03-01",
                                                                                   "start"),
                         ("start=2026-05-01&end=2026-04-01", "end")):
        answer = _get(assessed, "sec-dc", f"/api/assessment/departments?{query}")
        assert answer.status_code == 422 and field in answer.get_json()["fields"], (query, answer.get_json())


def test_the_docs_give_every_indicator_with_its_formula() -> None:
    text = (ROOT / "docs" / "assessment.md").read_text(encoding="utf-8")
    for indicator in (*DEPARTMENT_INDICATORS, *UNIT_INDICATORS):
        assert f"| `{indicator.code}` | {indicator.zh} | {indicator.en} | {indicator.formula_zh} |" in text, indicator
