"""Deadlines with the clock driven: 80 % reminder, 挂账督办 at the deadline, escalation past the
second limit — each exactly once, for the late department only; 销号 when the late work is done;
failing timers back off and become incidents an admin can retry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.db import Database
from app.models import Case, Event, Timer, Unit
from app.services import clock
from app.services.timers import MAX_ATTEMPTS, backoff, fire_due
from handlers import HANDLERS
from tests.integration.flow import FORMS, TWO_DEPTS, Flow
from tests.integration.test_openapi import Checker
from tests.integration.test_openapi import doc as doc  # the fixture

LEAD, COOP = "dept-cgzf", "dept-hw"  # illegal_advertising: report-in within 4 working hours
MONDAY_0900 = datetime(2026, 6, 8, 1, 0)  # Beijing 09:00 on Monday 2026-06-08, as stored (UTC)


def beijing(day: int, hour: int, minute: int = 0) -> datetime:
    """A Beijing wall-clock time in June 2026, as the naive UTC the database stores."""
    return datetime(2026, 6, day, hour, minute) - timedelta(hours=8)


@pytest.fixture()
def at_monday_morning() -> Iterator[None]:
    clock.advance(MONDAY_0900 - clock.now())
    yield
    clock.reset()


def travel(db: Database, moment: datetime) -> None:
    """Let time pass to ``moment`` and fire what fell due, as the scheduler would."""
    clock.advance(moment - clock.now())
    fire_due(db)


def events(db: Database, case_id: int, type_: str) -> list[Event]:
    with db.unit_of_work() as s:
        return list(s.scalars(select(Event).where(Event.case_id == case_id, Event.type == type_).order_by(Event.seq)))


def unit_id(db: Database, code: str) -> int:
    with db.unit_of_work() as s:
        return int(s.scalar(select(Unit.id).where(Unit.code == code)))  # type: ignore[arg-type]


def whistle_at_report_in(flow: Flow) -> int:
    case = flow.report(title="违规广告", matter=TWO_DEPTS)
    flow.do("op-dc", case["id"], "triage", FORMS["triage_whistle"])
    flow.review_chain(case["id"], "community")
    return int(case["id"])


def test_late_department_gets_reminder_then_supervision_then_escalation_once_each(
    app: Flask, api: Any, at_monday_morning: None
) -> None:
    db: Database = app.extensions["whistle.db"]
    flow = Flow(api)
    case_id = whistle_at_report_in(flow)
    report_in = flow.task(case_id, "report_in", COOP)
    # 4 working hours from 09:00: 12:00, then lunch, then 15:00 (stored in UTC)
    assert report_in["due_at"].startswith(beijing(8, 15).isoformat()[:16])  # the clock runs on meanwhile
    flow.do("cgzf-staff", case_id, "report_in", FORMS["report_in"], unit=LEAD)  # on time

    travel(db, beijing(8, 14, 11))  # 80 % of 4 h = 3.2 h: 12:00 + 12 min = 14:12
    assert events(db, case_id, "reminder") == []
    travel(db, beijing(8, 14, 13))
    [reminder] = events(db, case_id, "reminder")
    assert reminder.unit_id == unit_id(db, COOP) and reminder.data["users"] == ["hw-head", "hw-staff"]
    for user in ("hw-staff", "hw-head"):
        notes = api.get(user, "/api/notifications").get_json()["items"]
        assert [(n["kind"], n["case_id"]) for n in notes if n["case_id"] == case_id] == [("reminder", case_id)]
    assert not [n for n in api.get("cgzf-staff", "/api/notifications").get_json()["items"]
                if n["case_id"] == case_id]

    travel(db, beijing(8, 15, 2))
    [opened] = events(db, case_id, "supervision_opened")
    assert opened.data["unit"] == COOP and opened.data["due_at"].startswith(beijing(8, 15).isoformat()[:16])
    ledger = api.get("hw-head", "/api/supervision", query_string={"status": "open"}).get_json()["items"]
    [entry] = [e for e in ledger if e["case_id"] == case_id]
    assert (entry["unit"], entry["task_type"], entry["status"]) == (COOP, "report_in", "open")
    assert entry["late_minutes"] in (1, 2)  # who is late, and by how much
    heads = api.get("hw-head", "/api/notifications").get_json()["items"]
    assert [n["kind"] for n in heads if n["case_id"] == case_id] == ["supervision", "reminder"]
    assert [e["case_id"] for e in api.get("auditor", "/api/supervision").get_json()["items"]].count(case_id) == 1

    fire_due(db)  # nothing is due twice
    travel(db, beijing(9, 9, 59))  # second limit: 8 working hours from Mon 09:00 = Tue 10:00
    assert events(db, case_id, "escalated") == []
    travel(db, beijing(9, 10, 1))
    [escalated] = events(db, case_id, "escalated")
    assert escalated.data["level"] == "street"
    assert flow.case(case_id)["status"] == "closed" and flow.case(case_id)["outcome"] == "escalated"

    travel(db, beijing(12, 17))  # days later: nothing fires again
    assert [len(events(db, case_id, t)) for t in ("reminder", "supervision_opened", "escalated")] == [1, 1, 1]
    fired = events(db, case_id, "timer_fired")
    assert sorted(e.data["timer"] for e in fired) == sorted(
        ["report_in_remind_timer", "report_in_overdue_timer", "report_in_limit_timer"])
    assert all(e.data["fired_at"] > e.data["due_at"] for e in fired)
    lead = unit_id(db, LEAD)
    assert not [e for t in ("reminder", "supervision_opened") for e in events(db, case_id, t) if e.unit_id == lead]
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Timer).where(
            Timer.case_id == case_id, Timer.status == "waiting")) == 0


def test_late_work_done_clears_the_ledger_entry(app: Flask, api: Any, at_monday_morning: None) -> None:
    db: Database = app.extensions["whistle.db"]
    flow = Flow(api)
    case_id = whistle_at_report_in(flow)
    flow.do("cgzf-staff", case_id, "report_in", FORMS["report_in"], unit=LEAD)
    travel(db, beijing(8, 16, 31))  # 90 minutes late
    [entry] = [e for e in api.get("auditor", "/api/supervision", query_string={"status": "open"}).get_json()["items"]
               if e["case_id"] == case_id]
    assert entry["late_minutes"] in (90, 91)
    flow.do("hw-staff", case_id, "report_in", FORMS["report_in"], unit=COOP)  # 销号
    assert not [e for e in api.get("auditor", "/api/supervision", query_string={"status": "open"}).get_json()["items"]
                if e["case_id"] == case_id]
    [cleared] = [e for e in api.get("auditor", "/api/supervision", query_string={"status": "cleared"})
                 .get_json()["items"] if e["case_id"] == case_id]
    assert cleared["id"] == entry["id"] and cleared["late_minutes"] in (90, 91)
    [event] = events(db, case_id, "supervision_cleared")
    assert event.data == {"entry": entry["id"], "task": "report_in", "late_minutes": cleared["late_minutes"]}
    # the whistle goes on: coordination is open, and the report-in's second limit is gone with it
    assert flow.open_types(case_id) == ["coordinate"]
    with db.unit_of_work() as s:
        names = set(s.scalars(select(Timer.name).where(Timer.case_id == case_id, Timer.status == "waiting")))
    assert names == set()
    assert api.get("auditor", "/api/supervision", query_string={"status": "late"}).status_code == 422


def test_a_failing_timer_backs_off_then_becomes_an_incident_an_admin_retries(
    app: Flask, api: Any, at_monday_morning: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    db: Database = app.extensions["whistle.db"]
    flow = Flow(api)
    case_id = whistle_at_report_in(flow)
    flow.do("cgzf-staff", case_id, "report_in", FORMS["report_in"], unit=LEAD)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("SMS gateway down")

    monkeypatch.setitem(HANDLERS, "send_reminder", broken)
    travel(db, beijing(8, 14, 13))
    for attempt in range(1, MAX_ATTEMPTS):
        with db.unit_of_work() as s:
            timer = s.scalar(select(Timer).where(Timer.case_id == case_id, Timer.status == "waiting")
                             .order_by(Timer.fire_at).limit(1))
            assert timer is not None and timer.attempts == attempt and "SMS gateway down" in (timer.last_error or "")
            retry_at = timer.fire_at
        assert retry_at - clock.now() <= backoff(attempt) + timedelta(seconds=1)
        travel(db, retry_at + timedelta(seconds=1))
    assert events(db, case_id, "reminder") == []
    [incident] = [i for i in api.get("admin", "/api/incidents", query_string={"status": "open"}).get_json()["items"]
                  if i["case_id"] == case_id]
    assert incident["attempts"] == MAX_ATTEMPTS and "SMS gateway down" in incident["error"]
    assert api.get("hw-head", "/api/incidents").status_code == 403

    monkeypatch.undo()
    assert api.post("admin", f"/api/incidents/{incident['id']}/retry").get_json()["status"] == "retried"
    assert api.post("admin", f"/api/incidents/{incident['id']}/retry").status_code == 409
    travel(db, clock.now() + timedelta(seconds=1))
    assert len(events(db, case_id, "reminder")) == 1
    assert len(events(db, case_id, "incident_opened")) == 1


def test_a_failing_timer_does_not_hold_back_the_other_cases_fired_with_it(
    app: Flask, api: Any, at_monday_morning: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduler fires due cases in batches (one transaction on PostgreSQL): one case whose
    step fails gets its failed attempt, the others in the batch still fire, each exactly once."""
    db: Database = app.extensions["whistle.db"]
    flow = Flow(api)
    case_ids = [whistle_at_report_in(flow) for _ in range(3)]
    for case_id in case_ids:
        flow.do("cgzf-staff", case_id, "report_in", FORMS["report_in"], unit=LEAD)
    broken_case = case_ids[1]
    send_reminder = HANDLERS["send_reminder"]

    def broken_for_one(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        if ctx.case.id == broken_case:
            raise RuntimeError("SMS gateway down")
        return send_reminder(ctx, *args, **kwargs)

    monkeypatch.setitem(HANDLERS, "send_reminder", broken_for_one)
    travel(db, beijing(8, 14, 13))
    assert [len(events(db, case_id, "reminder")) for case_id in case_ids] == [1, 0, 1]
    with db.unit_of_work() as s:
        timer = s.scalar(select(Timer).where(Timer.case_id == broken_case, Timer.status == "waiting")
                         .order_by(Timer.fire_at).limit(1))
        assert timer is not None and timer.attempts == 1 and "SMS gateway down" in (timer.last_error or "")
        fired = s.scalars(select(Timer).where(Timer.case_id.in_(case_ids), Timer.status == "fired")).all()
        assert sorted(t.case_id for t in fired) == [case_ids[0], case_ids[2]] and {t.attempts for t in fired} == {1}


def test_notifications_are_marked_read_by_their_owner_only(app: Flask, api: Any, at_monday_morning: None) -> None:
    db: Database = app.extensions["whistle.db"]
    case_id = whistle_at_report_in(Flow(api))
    travel(db, beijing(8, 14, 13))
    [note] = [n for n in api.get("hw-staff", "/api/notifications", query_string={"unread": "1"}).get_json()["items"]
              if n["case_id"] == case_id]
    assert api.post("hw-head", f"/api/notifications/{note['id']}/read").status_code == 404
    assert api.post("hw-staff", f"/api/notifications/{note['id']}/read").get_json()["read_at"]
    unread = api.get("hw-staff", "/api/notifications", query_string={"unread": "1"}).get_json()["items"]
    assert note["id"] not in [n["id"] for n in unread]


def test_deadline_responses_match_the_documented_schemas(app: Flask, api: Any, doc: dict[str, Any],
                                                         at_monday_morning: None) -> None:
    db: Database = app.extensions["whistle.db"]
    case_id = whistle_at_report_in(Flow(api))
    travel(db, beijing(8, 15, 1))
    check = Checker(api, doc)
    notes = check("hw-head", "get", "/api/notifications", 200, query_string={"unread": "true"})
    check("hw-head", "post", "/api/notifications/{notification_id}/read", 200,
          notification_id=notes["items"][0]["id"])
    check("hw-head", "post", "/api/notifications/{notification_id}/read", 404, notification_id=10**9)
    assert [e for e in check("auditor", "get", "/api/supervision", 200)["items"] if e["case_id"] == case_id]
    check("auditor", "get", "/api/supervision", 422, query_string={"status": "x"})
    incidents = check("admin", "get", "/api/incidents", 200)
    assert any("2027" in warning for warning in incidents["warnings"])  # no holiday table for 2027 yet
    check("auditor", "get", "/api/incidents", 403)
    check("admin", "get", "/api/incidents", 422, query_string={"status": "x"})
    check("admin", "post", "/api/incidents/{incident_id}/retry", 404, incident_id=10**9)
    with db.unit_of_work() as s:
        assert s.get(Case, case_id) is not None
