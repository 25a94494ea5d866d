"""Pages for deadlines with the clock driven: the 挂账督办 ledger, my notifications with the unread
badge, and the admins' timer incidents; who may see what, CSRF, escaping, local times."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask, session
from sqlalchemy import select

from app.db import Database
from app.models import Timer
from app.services import clock
from app.services.timers import MAX_ATTEMPTS
from app.services.worktime import load_calendar
from app.web.deadlines import late_label
from app.web.labels import when
from handlers import HANDLERS
from tests.conftest import Api
from tests.integration.flow import FORMS, TWO_DEPTS, Flow
from tests.integration.test_deadlines import COOP, LEAD, beijing, travel
from tests.integration.test_deadlines import at_monday_morning as at_monday_morning  # the fixture
from tests.web.pages_client import Pages, text

XSS = "<script>alert(1)</script>"


def late_case(api: Api, title: str) -> int:
    """A whistle at report-in where the lead department reports in on time and dept-hw does not."""
    flow = Flow(api)
    case_id = int(flow.report(title=title, matter=TWO_DEPTS)["id"])
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"])
    flow.review_chain(case_id, "community")
    flow.do("cgzf-staff", case_id, "report_in", FORMS["report_in"], unit=LEAD)
    return case_id


def rows(html: str, testid: str) -> list[tuple[dict[str, str], str]]:
    """(data-* attributes, inner HTML) of each table row with this test id."""
    found = re.findall(rf'<tr data-testid="{testid}"([^>]*)>(.*?)</tr>', html, re.S)
    return [(dict(re.findall(r'data-([a-z-]+)="([^"]*)"', attrs)), inner) for attrs, inner in found]


def ledger(pages: Pages, user: str, case_id: int, query: str = "") -> list[tuple[dict[str, str], str]]:
    pages.logout()
    pages.login(user)
    resp = pages.get(f"/supervision{query}")
    assert resp.status_code == 200
    return [(attrs, inner) for attrs, inner in rows(text(resp), "ledger-row") if attrs["case-id"] == str(case_id)]


def notes(pages: Pages, case_id: int) -> list[tuple[dict[str, str], str]]:
    html = text(pages.get("/notifications"))
    return [(attrs, inner) for attrs, inner in rows(html, "notification-row") if attrs["case-id"] == str(case_id)]


def badge(pages: Pages) -> int:
    match = re.search(r'data-testid="unread-badge"[^>]*>(\d+)<', text(pages.get("/notifications")))
    return int(match.group(1)) if match else 0


def test_a_late_department_is_on_the_ledger_and_its_head_is_notified(
    app: Flask, api: Api, pages: Pages, at_monday_morning: None
) -> None:
    db: Database = app.extensions["whistle.db"]
    case_id = late_case(api, f"督办台账 {XSS}")
    travel(db, beijing(8, 16, 31))  # the report-in was due at 15:00 (Beijing): 90 minutes late

    [(entry, inner)] = ledger(pages, "hw-head", case_id, "?status=open")
    assert (entry["unit"], entry["status"]) == (COOP, "open") and entry["late-minutes"] in ("90", "91")
    assert "环境卫生服务中心" in inner and "部门报到" in inner
    assert '<td data-label="办理时限" data-testid="due">2026-06-08 15:00</td>' in inner  # local time
    assert re.search(r"超时 1小时3[01]分", inner)
    assert XSS not in text(pages.get("/supervision")) and "&lt;script&gt;alert(1)&lt;/script&gt;" in inner
    assert f'href="/cases/{case_id}"' in inner
    assert ledger(pages, "hw-head", case_id, "?status=cleared") == []

    # the head got the 80 % reminder and the 督办 notice, unread, with the badge in the navigation
    head_notes = notes(pages, case_id)
    assert [(n["kind"], n["read"]) for n, _ in head_notes] == [("supervision", "no"), ("reminder", "no")]
    assert all("2026-06-08 15:00" in inner for _, inner in head_notes)
    assert badge(pages) >= 2
    assert XSS not in text(pages.get("/notifications"))

    # units not on the case do not see its entry; the district's auditor reads every unit below it
    assert ledger(pages, "zj-head", case_id) == [] and ledger(pages, "sec-s3c2", case_id) == []
    assert [e["status"] for e, _ in ledger(pages, "auditor", case_id)] == ["open"]

    task = Flow(api).task(case_id, "report_in", COOP)  # the task page shows the same local deadline
    pages.logout()
    pages.login("hw-staff")
    assert "截止 2026-06-08 15:00" in text(pages.get(f"/tasks/{task['id']}"))

    Flow(api).do("hw-staff", case_id, "report_in", FORMS["report_in"], unit=COOP)  # the late work: 销号
    assert ledger(pages, "auditor", case_id, "?status=open") == []
    [(cleared, inner)] = ledger(pages, "auditor", case_id, "?status=cleared")
    assert cleared["entry-id"] == entry["entry-id"] and "已销号" in inner
    assert pages.get("/supervision?status=late").status_code == 422
    timeline = text(pages.get(f"/cases/{case_id}"))  # the case's timeline names what the deadlines did
    for label in ("时限提醒", "挂账督办", "督办销号"):
        assert label in timeline, label
    assert "<b>supervision_opened</b>" not in timeline and "<b>挂账督办</b>" in timeline


def test_the_ledger_shows_the_heads_answer_and_the_transfer_to_the_level_above(
    app: Flask, api: Api, pages: Pages, at_monday_morning: None
) -> None:
    """督办回复 on the entry; past the second limit the whistle goes up and the entry is 已转办 with
    the new case's number — in Chinese and in English."""
    db: Database = app.extensions["whistle.db"]
    case_id = late_case(api, "督办 回复")
    travel(db, beijing(8, 15, 2))
    [(entry, inner)] = ledger(pages, "hw-head", case_id, "?status=open")
    assert entry["answered"] == "no" and "未下达督办" in inner
    flow = Flow(api)
    flow.do("hw-head", case_id, "report_in_head_supervise", {"verdict": "press", "note": f"请说明 {XSS}"})
    [(entry, inner)] = ledger(pages, "hw-head", case_id, "?status=open")
    assert "第 1 轮督办" in inner and "请说明 &lt;script&gt;" in inner and "待回复" in inner and XSS not in inner
    answer = {"reason": f"人员在外执法 {XSS}", "measures": "已增派两名队员", "promised_date": "2026-06-09"}
    flow.do("hw-staff", case_id, "report_in_supervise_answer", answer)
    flow.do("hw-head", case_id, "report_in_head_supervise", {"verdict": "press", "note": "再落实", "answer_hours": 2})
    flow.do("hw-staff", case_id, "report_in_supervise_answer", {**answer, "measures": "队员已到场"})
    flow.do("hw-head", case_id, "report_in_head_supervise", {"verdict": "accept", "note": "认可"})

    [(entry, inner)] = ledger(pages, "hw-head", case_id, "?status=open")
    assert entry["answered"] == "yes" and entry["status"] == "open"
    assert "人员在外执法 &lt;script&gt;" in inner and XSS not in inner
    assert "已增派两名队员" in inner and "2026-06-09" in inner and "队员已到场" in inner
    # each round: issued, answered, then pressed again (再次督办) or closed (督办办结)
    assert re.findall(r'data-round="(\d)" data-verdict="(\w*)"', inner) == [("1", "pressed"), ("2", "accepted")]
    assert "再次督办" in inner and "督办办结" in inner and "第 2 轮督办" in inner
    assert "熊桂兰 · 2026-06-08 15:0" in inner  # the head issued it

    travel(db, beijing(9, 10, 1))  # the second limit: the whistle goes to the street
    new_number = Flow(api).case(case_id)["escalated_to"][0]
    assert ledger(pages, "hw-head", case_id, "?status=open") == []
    [(moved, inner)] = ledger(pages, "hw-head", case_id, "?status=transferred")
    assert (moved["entry-id"], moved["status"], moved["transferred-to"]) == (entry["entry-id"], "transferred",
                                                                            new_number)
    [target] = [e["transferred_to"] for e in api.get("hw-head", "/api/supervision").get_json()["items"]
                if e["case_id"] == case_id]
    assert target["case_number"] == new_number
    assert "已转办" in inner and f'转至 <a href="/cases/{target["case_id"]}">{new_number}</a>' in inner
    assert "队员已到场" in inner  # the answers stay
    assert re.search(r"超时 19小时(1分)?</span>", inner)  # how late when it was taken away (Mon 15:00 → Tue 10:01)
    html = text(pages.get("/supervision?status=transferred"))
    assert re.search(r'class="chip active" data-testid="filter-transferred"', html)
    assert "督办转办" in text(pages.get(f"/cases/{case_id}"))  # the timeline names it

    pages.get("/lang/en?next=/supervision")
    [(_, inner)] = [r for r in rows(text(pages.get("/supervision?status=transferred")), "ledger-row")
                    if r[0]["case-id"] == str(case_id)]
    assert "Transferred" in inner and "Moved to" in inner and "Why late" in inner
    assert "Measures" in inner and "Promised by" in inner and "已转办" not in inner
    assert "Supervision round 2" in inner and "Supervision closed" in inner and "Pressed again" in inner
    assert pages.get("/supervision?status=closed").status_code == 422


def test_mark_read_is_for_the_owner_and_needs_the_csrf_token(
    app: Flask, api: Api, pages: Pages, at_monday_morning: None
) -> None:
    db: Database = app.extensions["whistle.db"]
    case_id = late_case(api, "提醒 已读")
    travel(db, beijing(8, 14, 13))  # 80 % of the report-in's 4 working hours
    pages.login("hw-staff")
    [(note, _inner)] = notes(pages, case_id)
    assert (note["kind"], note["read"]) == ("reminder", "no")
    unread = badge(pages)
    path = f"/notifications/{note['notification-id']}/read"

    assert pages.post(path, token=False).status_code == 400  # no CSRF token: refused
    pages.logout()
    pages.login("hw-head")
    pages.get("/notifications")
    assert pages.post(path).status_code == 404  # somebody else's notification
    pages.logout()
    pages.login("auditor")
    pages.get("/notifications")
    assert pages.post(path).status_code == 403  # auditors read only
    pages.logout()
    pages.login("hw-staff")
    pages.get("/notifications")
    assert [n["read"] for n, _ in notes(pages, case_id)] == ["no"]

    resp = pages.post(path)
    assert resp.status_code == 302 and resp.location.endswith("/notifications")
    assert [n["read"] for n, _ in notes(pages, case_id)] == ["yes"]
    assert badge(pages) == unread - 1
    states = [n["read"] for n, _ in rows(text(pages.get("/notifications")), "notification-row")]
    assert states == sorted(states)  # unread ("no") first


def test_incidents_are_for_admins_who_retry_the_failed_timer(
    app: Flask, api: Api, pages: Pages, at_monday_morning: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    db: Database = app.extensions["whistle.db"]
    case_id = late_case(api, "定时器 异常")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("SMS gateway <down>")

    monkeypatch.setitem(HANDLERS, "send_reminder", broken)
    travel(db, beijing(8, 14, 13))
    for _attempt in range(1, MAX_ATTEMPTS):
        with db.unit_of_work() as s:
            retry_at = s.scalar(select(Timer.fire_at).where(Timer.case_id == case_id, Timer.status == "waiting")
                                .order_by(Timer.fire_at).limit(1))
        assert retry_at is not None
        travel(db, retry_at + timedelta(seconds=1))
    monkeypatch.undo()

    for user in ("hw-head", "auditor"):
        pages.logout()
        pages.login(user)
        assert pages.get("/incidents").status_code == 403
        assert 'data-testid="nav-incidents"' not in text(pages.get("/"))
    pages.logout()
    pages.login("admin")
    html = text(pages.get("/incidents?status=open"))
    assert 'data-testid="nav-incidents"' in html
    [(incident, inner)] = [r for r in rows(html, "incident-row") if r[0]["case-id"] == str(case_id)]
    assert "SMS gateway &lt;down&gt;" in inner and 'data-testid="retry"' in inner
    warnings = load_calendar().warnings(clock.now().date())
    assert html.count('data-testid="warning"') == len(warnings)
    path = f"/incidents/{incident['incident-id']}/retry"

    assert pages.post(path, token=False).status_code == 400
    pages.logout()
    pages.login("hw-head")
    pages.get("/")
    assert pages.post(path).status_code == 403
    pages.logout()
    pages.login("admin")
    pages.get("/incidents")
    assert pages.post(path).status_code == 302
    assert "已重新排队" in text(pages.get("/incidents"))
    [(retried, _inner)] = [r for r in rows(text(pages.get("/incidents")), "incident-row")
                           if r[0]["case-id"] == str(case_id)]
    assert retried["status"] == "retried"
    resp = pages.post(path)  # twice: said on the list, nothing changes
    assert resp.status_code == 302 and 'class="flash error"' in text(pages.get(resp.location))

    travel(db, clock.now() + timedelta(seconds=1))  # the timer fires again: the reminder goes out
    pages.logout()
    pages.login("hw-head")
    assert [n["kind"] for n, _ in notes(pages, case_id)] == ["reminder"]


def test_the_pages_need_a_login(pages: Pages) -> None:
    for path in ("/supervision", "/notifications", "/incidents"):
        resp = pages.get(path)
        assert resp.status_code == 302 and "/login?next=" in resp.location, path


def test_times_are_local_and_lateness_reads_in_days_hours_minutes(app: Flask) -> None:
    with app.test_request_context("/"):
        assert when(datetime(2026, 6, 8, 7, 0)) == "2026-06-08 15:00"  # UTC 07:00 is 15:00 in Beijing
        assert when("2026-06-08T16:30:00+00:00") == "2026-06-09 00:30"
        assert load_calendar().zone.key == "Asia/Shanghai"
        assert late_label(90) == "超时 1小时30分"
        assert late_label(24 * 60 + 5) == "超时 1天5分"
        assert late_label(0) == "超时 0分"
    with app.test_request_context("/"):
        session["lang"] = "en"
        assert late_label(24 * 60 + 90) == "1 d 1 h 30 min late"
