"""回访未接通: the call-back comes back after calendar.yaml's retry hours (working time), and after the
configured number of attempts ends as not reached — no satisfaction recorded, so 满意率 counts only
the call-backs that reached the reporter. 解决情况 is recorded apart from 满意度."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask

from app.db import Database
from app.services import clock
from app.services.deadlines import load_rules
from app.services.worktime import add_working_hours
from tests.integration.flow import FORMS, Flow
from tests.integration.test_deadlines import at_monday_morning as at_monday_morning  # the fixture
from tests.integration.test_deadlines import events, travel
from tests.integration.test_dispatched_limit import timers
from tests.integration.test_supervise_task import replays_cleanly

NOT_REACHED = {"contact": "not_reached", "comment": "无人接听"}
REACHED = {"contact": "reached", "resolution": "partly_resolved", "satisfaction": "satisfied", "comment": "基本好了"}
RETRY_TIMER = "retry_timer"


def at_callback(flow: Flow) -> int:
    case_id = int(flow.report(title="路灯不亮")["id"])
    flow.do("op-dc", case_id, "triage", {"grade": 2, "matter": "streetlight_broken"})
    flow.do("cgw-staff", case_id, "handle_dispatched", {"action": "handled", "result": "已更换灯泡"})
    flow.do("op-dc", case_id, "verify_dispatched", FORMS["verify_ok"])
    flow.do("op-s1", case_id, "feedback_dispatched", FORMS["feedback"])
    assert flow.open_types(case_id) == ["callback"]
    return case_id


def test_a_call_back_not_reached_comes_back_after_the_retry_hours(app: Flask, api: Any,
                                                                 at_monday_morning: None) -> None:
    db: Database = app.extensions["whistle.db"]
    flow = Flow(api)
    case_id = at_callback(flow)
    retry = load_rules().retries["callback"]
    called_at = clock.now()
    flow.do("callback", case_id, "callback", NOT_REACHED)
    assert flow.open_types(case_id) == []  # nothing to do until the retry is due
    due = timers(db, case_id)[RETRY_TIMER]
    # working time, from the config (the test's clock runs on by the request's seconds)
    assert abs(due - add_working_hours(called_at, retry.hours)) < timedelta(minutes=1)
    (failed,) = events(db, case_id, "attempt_failed")
    assert (failed.data["attempt"], failed.data["attempts"], failed.data["note"]) == (1, retry.attempts, "无人接听")
    travel(db, due - timedelta(minutes=1))
    assert flow.open_types(case_id) == []
    travel(db, due + timedelta(minutes=1))
    assert flow.open_types(case_id) == ["callback"]
    flow.do("callback", case_id, "callback", REACHED)
    view = flow.case(case_id)
    assert (view["status"], view["outcome"], view["satisfaction"]) == ("closed", "closed", "satisfied")
    (rated,) = events(db, case_id, "satisfaction")
    assert (rated.data["resolution"], rated.data["satisfaction"]) == ("partly_resolved", "satisfied")
    replays_cleanly(db, case_id)


def test_never_reached_ends_after_the_attempts_and_is_not_a_valid_call_back(app: Flask, api: Any,
                                                                          at_monday_morning: None) -> None:
    db: Database = app.extensions["whistle.db"]
    flow = Flow(api)
    retry = load_rules().retries["callback"]
    rated = at_callback(flow)
    flow.do("callback", rated, "callback", REACHED | {"resolution": "resolved"})
    silent = at_callback(flow)
    for attempt in range(1, retry.attempts + 1):
        flow.do("callback", silent, "callback", NOT_REACHED)
        if attempt < retry.attempts:
            travel(db, timers(db, silent)[RETRY_TIMER] + timedelta(minutes=1))
    view = flow.case(silent)
    assert (view["status"], view["outcome"], view["satisfaction"]) == ("closed", "closed", None)
    assert len(events(db, silent, "attempt_failed")) == retry.attempts - 1
    assert len(events(db, silent, "attempts_exhausted")) == 1 and not events(db, silent, "satisfaction")
    # 满意率 over valid call-backs only: the reached one (satisfied), not the unreached one
    today = clock.now().date()
    query = f"start={(today - timedelta(days=5)).isoformat()}&end={(today + timedelta(days=5)).isoformat()}"
    body = api.get("sec-dc", f"/api/assessment/departments?{query}").get_json()
    (row,) = [r for r in body["rows"] if r["unit"] == "dept-cgw"]
    assert row["figures"]["satisfaction_rate"]["value"] == 100.0
    replays_cleanly(db, silent)


def test_a_call_back_needs_its_satisfaction_when_reached(api: Any) -> None:
    flow = Flow(api)
    case_id = at_callback(flow)
    body = flow.do("callback", case_id, "callback", {"contact": "reached", "resolution": "resolved"}, expect=422)
    assert "satisfaction" in str(body)
    flow.do("callback", case_id, "callback", {"contact": "reached", "resolution": "maybe",
                                              "satisfaction": "satisfied"}, expect=422)
    assert flow.open_types(case_id) == ["callback"]
