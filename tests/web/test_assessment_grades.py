"""等次评定 stored: grades a leader gives are kept only when every quota holds (over the period's grades
as they would stand), as versions with their history and an audit event each; shown on the grading
page, the ranking and department pages, the rankings API and the Excel export. 枣庄's pack: 部门年度等次
好 at most 30 %, at least one 较好 and one 差 (config/localities/zaozhuang/assessment.yaml)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import date
from io import BytesIO
from typing import Any

import pytest
from flask import Flask
from openpyxl import load_workbook
from sqlalchemy import func, select

from app.models import AssessmentGrade, Event
from tests.conftest import Api, _fresh_database
from tests.integration.test_packs import pack_application
from tests.web.pages_client import Pages, text

GOOD = {"dept-zj": "好", "dept-jt": "较好", "dept-wj": "一般", "szq-t1-c1": "差"}


@pytest.fixture(scope="module")
def zaozhuang(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    for url in _fresh_database(backend, tmp_path_factory):
        app = pack_application("zaozhuang", url, tmp_path_factory.mktemp("grades"))
        yield app
        app.extensions["whistle.db"].dispose()


def _api(app: Flask) -> Api:
    return Api(app.test_client(), {})


def _count(app: Flask, model: Any, *where: Any) -> int:
    with app.extensions["whistle.db"].unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _history(api: Api, year: str) -> list[tuple[str, str, int, bool]]:
    answer = api.get("sec-szq", f"/api/assessment/grades?year={year}")
    assert answer.status_code == 200, answer.get_json()
    return [(g["unit"], g["grade"], g["version"], g["current"]) for g in answer.get_json()["grades"]]


def test_grades_breaking_a_quota_are_refused_and_nothing_is_stored(zaozhuang: Flask) -> None:
    api = _api(zaozhuang)
    events = _count(zaozhuang, Event, Event.type == "grades_given")
    refused = api.post("sec-szq", "/api/assessment/grades", json={"year": "2025", "grades": GOOD | {"dept-jt": "好"}})
    assert refused.status_code == 422
    assert "部门年度等次: 2 of 4 graded 好; at most 30 % (1) may be" in refused.get_json()["message"]
    month = api.post("sec-szq", "/api/assessment/grades", json={"month": "2025-12", "grades": GOOD})
    assert month.status_code == 422 and "given for a year" in month.get_json()["message"]
    assert _count(zaozhuang, AssessmentGrade) == 0
    assert _count(zaozhuang, Event, Event.type == "grades_given") == events


def test_grades_are_stored_as_versions_with_history_and_audit_events(zaozhuang: Flask) -> None:
    api = _api(zaozhuang)
    events = _count(zaozhuang, Event, Event.type == "grades_given")
    first = api.post("sec-szq", "/api/assessment/grades", json={"year": "2024", "grades": GOOD})
    assert first.status_code == 200, first.get_json()
    assert sorted(_history(api, "2024")) == sorted((c, g, 1, True) for c, g in GOOD.items())
    # one unit regraded: the quota counts the period's other stored grades too (2 好 of 4)
    again = api.post("sec-szq", "/api/assessment/grades", json={"year": "2024", "grades": {"dept-jt": "好"}})
    assert again.status_code == 422 and "2 of 4 graded 好" in again.get_json()["message"]
    regraded = api.post("sec-szq", "/api/assessment/grades", json={
        "year": "2024", "grades": {"dept-wj": "较好"}, "reasons": {"dept-wj": "年底复核"}})
    assert regraded.status_code == 200, regraded.get_json()
    history = _history(api, "2024")
    assert [h for h in history if h[0] == "dept-wj"] == [("dept-wj", "较好", 2, True), ("dept-wj", "一般", 1, False)]
    assert len(history) == 5  # the first version kept
    assert _count(zaozhuang, Event, Event.type == "grades_given") == events + 2
    with zaozhuang.extensions["whistle.db"].unit_of_work() as s:
        last = s.scalars(select(Event).where(Event.type == "grades_given").order_by(Event.id.desc())).first()
        assert last is not None and last.actor == "sec-szq"
        assert last.data["grades"] == {"dept-wj": {"grade": "较好", "version": 2, "reason": "年底复核",
                                                   "grading": "部门年度等次"}}
    assert api.get("auditor", "/api/audit/verify").get_json()["ok"] is True
    ranking = api.get("sec-szq", "/api/assessment/rankings?year=2024").get_json()
    assert {r["unit"]: r["given_grade"] for r in ranking["departments"]["rows"]}["dept-wj"] == "较好"


def test_only_who_may_assess_grades(zaozhuang: Flask) -> None:
    api = _api(zaozhuang)
    for user in ("jt-head", "auditor"):
        answer = api.post(user, "/api/assessment/grades", json={"year": "2023", "grades": GOOD})
        assert answer.status_code == 403, (user, answer.get_json())
    # a town's secretary grades within the town only
    stranger = api.post("sec-t1", "/api/assessment/grades", json={"year": "2023", "grades": {"dept-jt": "好"}})
    assert stranger.status_code == 422 and "not a department you assess: dept-jt" in stranger.get_json()["message"]
    assert _count(zaozhuang, AssessmentGrade, AssessmentGrade.period_start == date(2023, 1, 1)) == 0
    assert api.post("sec-szq", "/api/assessment/grades", json={"year": "2020", "grades": GOOD}).status_code == 200
    own = api.get("jt-head", "/api/assessment/grades?year=2020").get_json()["grades"]
    assert [(g["unit"], g["grade"]) for g in own] == [("dept-jt", "较好")]  # its own grade, not its peers'


def _pages(app: Flask, user: str) -> Pages:
    pages = Pages(app.test_client())
    pages.login(user)
    return pages


def _exported(pages: Pages, what: str, query: dict[str, str]) -> bytes:
    """A year's export: made in the background, downloaded when done."""
    job = pages.post("/assessment/exports", {"what": what, **query}).headers["Location"]
    for _attempt in range(600):
        if pages.get(job + ".json").get_json()["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    return bytes(pages.get(job + "/download").data)


def test_the_grading_page_shows_the_quota_message_and_stores_grades(zaozhuang: Flask) -> None:
    pages = _pages(zaozhuang, "sec-szq")
    form = pages.get("/assessment/grades?kind=year&year=2022")
    assert form.status_code == 200 and 'data-testid="grades-form"' in text(form)
    assert "好 不超过 30%" in text(form)
    entered = {"kind": "year", "year": "2022", **{f"grade-{c}": g for c, g in GOOD.items()}}
    refused = pages.post("/assessment/grades", entered | {"grade-dept-wj": "好"})
    assert refused.status_code == 422
    assert "2 of 4 graded 好; at most 30 % (1) may be" in text(refused)
    assert _count(zaozhuang, AssessmentGrade, AssessmentGrade.period_start == date(2022, 1, 1)) == 0
    saved = pages.post("/assessment/grades", entered | {"reason-dept-zj": "<b>全年无超期</b>"})
    assert saved.status_code == 302
    shown = text(pages.get("/assessment/grades?kind=year&year=2022"))
    assert sorted(re.findall(r'data-testid="given-grade">([^<\s]+)', shown)) == sorted(GOOD.values())
    sheet = load_workbook(BytesIO(_exported(pages, "rankings", {"kind": "year", "year": "2022"})))["部门排名"]
    header = [c.value for c in sheet[1]]
    grades = {row[2]: row[header.index("评定等次")] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert {code: grades[code] for code in GOOD} == GOOD
    own = text(_pages(zaozhuang, "jt-head").get("/assessment/departments/dept-jt?kind=year&year=2022"))
    assert 'data-testid="own-given-grade">较好' in own
    assert _pages(zaozhuang, "jt-head").get("/assessment/grades").status_code == 403


def test_the_grading_page_reads_in_english(zaozhuang: Flask) -> None:
    pages = _pages(zaozhuang, "sec-szq")
    pages.get("/lang/en")
    page = text(pages.get("/assessment/grades?kind=year&year=2021"))
    assert "Grades" in page and "Save grades" in page
