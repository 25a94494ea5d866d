"""The case page's timeline in people's words: names, not codes; one entry per review; the reporter's
rating credited to the reporter."""

from __future__ import annotations

import re

from tests.conftest import Api
from tests.integration.flow import FORMS, Flow
from tests.web.pages_client import Pages, text

DEPTS = ["dept-cgzf", "dept-hw"]


def _entries(html: str) -> list[dict[str, str]]:
    items = re.findall(r'<li data-event="([^"]+)" data-seq="\d+">(.*?)</li>', html, re.S)
    return [{"type": kind, "body": " ".join(re.sub(r"<[^>]+>", " ", body).split())} for kind, body in items]


def _whistle(flow: Flow) -> int:
    case_id = flow.report(title="时间线 人话")["id"]
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"])
    flow.review_chain(case_id, "community")
    return case_id


def test_the_timeline_names_matters_people_and_units_not_codes(pages: Pages, api: Api) -> None:
    case_id = _whistle(Flow(api))
    pages.login("auditor")
    html = text(pages.get(f"/cases/{case_id}"))
    timeline = html[html.index('data-testid="timeline"'):]
    triage = next(e for e in _entries(timeline) if "研判分级" in e["body"])
    assert "违法违规广告" in triage["body"] or "广告" in triage["body"]
    assert "illegal_advertising" not in timeline
    assert "陈文博" in triage["body"] and "op-dc" not in triage["body"]  # op-dc's name
    assert "社区哨" in triage["body"]
    created = _entries(timeline)[0]
    assert "网格巡查" in created["body"] and "grid_patrol" not in created["body"]


def test_one_entry_per_review_decision(pages: Pages, api: Api) -> None:
    case_id = _whistle(Flow(api))
    pages.login("auditor")
    entries = _entries(text(pages.get(f"/cases/{case_id}")))
    reviews = [e for e in entries if "审核通过" in e["body"]]
    assert len(reviews) == 3  # section head, deputy, secretary: one entry each
    assert not any(e["type"] == "review_approved" for e in entries)
    assert all("审核意见" not in e["body"] for e in reviews)


def test_the_reporters_rating_on_the_tracking_page_is_credited_to_the_reporter(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    report = {"title": "群众评价 人话", "grid": "dc-s1-c1-g1", "channel": "web"}
    resp = api.post(None, "/api/public/reports", json=report)
    code = resp.get_json()["tracking_code"]
    case_id = next(i["id"] for i in api.get("auditor", "/api/cases?q=" + "群众评价 人话").get_json()["items"]
                   if i["number"] == resp.get_json()["number"])
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"])
    flow.review_chain(case_id, "community")
    flow.report_in_all(case_id, DEPTS)
    flow.do("staff-s1c1", case_id, "coordinate", FORMS["coordinate"])
    flow.handle_all(case_id, DEPTS)
    flow.do("op-s1", case_id, "verify", FORMS["verify_ok"])
    flow.do("staff-s1c1", case_id, "feedback", FORMS["feedback"])
    assert pages.post(f"/track/{code}/rate", {"satisfaction": "satisfied", "comment": "很快"}).status_code == 302
    pages.login("auditor")
    entries = _entries(text(pages.get(f"/cases/{case_id}")))
    rating = [e for e in entries if "满意度回访" in e["body"]]
    assert len(rating) == 1  # the completion and the recorded rating are one entry
    assert "上报群众" in rating[0]["body"] and "系统" not in rating[0]["body"] and "system" not in rating[0]["body"]
    assert "满意：很快" in rating[0]["body"]
