"""English mode: form choices, categories, matters, channels and timeline values in English, from the
process bundle (form choices' descriptions) and the catalogue (name_en)."""

from __future__ import annotations

from tests.conftest import Api
from tests.integration.flow import FORMS, Flow
from tests.web.pages_client import Pages, text


def _english(pages: Pages, user: str) -> None:
    pages.login(user)
    pages.get("/lang/en?next=/")


def test_form_choices_and_matters_in_english(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = flow.report(title="英文 选项")["id"]
    task = flow.task(case_id, "triage")
    _english(pages, "op-dc")
    html = text(pages.get(f"/tasks/{task['id']}"))
    assert "Grade 2: dispatch to one responsible department" in html and "二级：派单" not in html
    assert "Overflowing or dumped garbage" in html and "垃圾满溢 / 垃圾堆放" not in html  # the matter picker
    assert "Grid patrol" in html and "网格巡查" not in html  # the channel


def test_review_choice_is_english_not_chinese_with_the_code(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = flow.report(title="英文 审核")["id"]
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"])
    flow.do("staff-s1c1", case_id, "prepare_whistle", FORMS["prepare_whistle"])
    task = flow.task(case_id, "review")
    _english(pages, "section-s1c1")
    html = text(pages.get(f"/tasks/{task['id']}"))
    assert "Approve" in html and "Return for changes" in html and "(approve)" not in html


def test_the_case_list_and_timeline_in_english(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = flow.report(title="英文 时间线")["id"]
    flow.do("op-dc", case_id, "triage", {"grade": 2, "matter": "garbage_overflow"})
    _english(pages, "auditor")
    listing = text(pages.get("/cases?q=" + "英文 时间线"))
    assert "City management" in listing and "Overflowing or dumped garbage" in listing
    page = text(pages.get(f"/cases/{case_id}"))
    timeline = page[page.index('data-testid="timeline"'):]
    assert "Grade 2: dispatch to one responsible department" in timeline
    assert "Overflowing or dumped garbage" in timeline and "垃圾满溢" not in timeline
    assert "Grid patrol" in timeline and "网格巡查" not in timeline
