"""疑似重复件 on the triage task page: the likely duplicates with why, merge buttons for who may triage,
CSRF, and the reporter's tracking page after the merge."""

from __future__ import annotations

import re

from app.models import Case
from tests.conftest import Api
from tests.integration.flow import Flow
from tests.web.pages_client import Pages, text

SAME = {"title": "东门路灯不亮", "description": "和平里小区东门两盏路灯晚上不亮，很黑"}


def test_triage_page_lists_duplicates_and_merges(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    target = flow.report(**SAME)
    other = flow.report(title="夜间施工噪声", description="工地晚上十一点还在施工")
    report = flow.report(**SAME)
    triage = flow.task(report["id"], "triage")
    pages.login("op-dc")
    page = text(pages.get(f"/tasks/{triage['id']}"))
    listed = re.findall(r'data-testid="duplicate" data-case-number="([^"]+)"', page)
    assert listed[0] == target["number"] and other["number"] not in listed
    assert "同一地点" in page and "文字相似 100%" in page and 'data-testid="merge-into"' in page
    # without the CSRF token: refused, nothing merged
    resp = pages.post(f"/intake/tasks/{triage['id']}/merge", {"kind": "merged", "target": target["number"]},
                      token=False)
    assert resp.status_code == 400 and flow.case(report["id"])["status"] == "open"
    bad = pages.post(f"/intake/tasks/{triage['id']}/merge", {"kind": "merged", "target": "NOPE"})
    assert bad.status_code == 422 and "NOPE" in text(bad)
    done = pages.post(f"/intake/tasks/{triage['id']}/merge", {"kind": "merged", "target": target["number"]})
    assert done.status_code == 302 and flow.case(report["id"])["outcome"] == "merged"
    with api.client.application.extensions["whistle.db"].unit_of_work() as s:
        code = s.get(Case, report["id"]).tracking_code
    tracking = text(pages.get(f"/track/{code}"))
    assert 'data-outcome="merged"' in tracking and f'data-testid="merged-into">{target["number"]}' in tracking
    assert 'data-kind="case_merged"' in tracking


def test_other_tasks_and_readers_get_no_merge_buttons(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    flow.report(**SAME)
    report = flow.report(**SAME)
    triage = flow.task(report["id"], "triage")
    pages.login("auditor")
    page = text(pages.get(f"/tasks/{triage['id']}"))
    assert 'data-testid="duplicates"' in page and 'data-testid="merge-into"' not in page
    pages.login("op-dc")
    flow.do("op-dc", report["id"], "triage", {"grade": 2, "matter": "streetlight_broken"})
    dispatched = flow.case(report["id"])["open_tasks"][0]
    assert 'data-testid="duplicates"' not in text(pages.get(f"/tasks/{dispatched['id']}"))
