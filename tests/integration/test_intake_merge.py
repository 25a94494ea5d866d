"""Closing a report at triage into an open case (并案 / 重复件): both chains record it, the report's
process ends and replays, the reporter's tracking page follows the target, and bad input or the
wrong user changes nothing."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from app.models import Case, Event, Timer
from app.services.replay import replay_case
from app.services.tracking import public_updates, rating_task
from tests.conftest import Api
from tests.integration.flow import Flow

SAME = {"title": "北门垃圾桶满溢", "description": "和平里小区北门垃圾桶三天没人清运"}


def _pair(api: Api) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    flow = Flow(api)
    target, report = flow.report(**SAME), flow.report(**SAME)
    return target, report, flow.task(report["id"], "triage")


def _merge(api: Api, user: str, task_id: int, **body: Any) -> Any:
    return api.post(user, f"/api/tasks/{task_id}/merge", json=body)


def _events(app: Flask, case_id: int) -> list[Event]:
    with app.extensions["whistle.db"].unit_of_work() as s:
        return list(s.scalars(select(Event).where(Event.case_id == case_id).order_by(Event.seq)))


def test_merge_closes_the_report_into_the_target(app: Flask, api: Api) -> None:
    target, report, triage = _pair(api)
    resp = _merge(api, "op-dc", triage["id"], kind="merged", target=target["number"], note="同一问题")
    assert resp.status_code == 201, resp.get_json()
    flow = Flow(api)
    closed = flow.case(report["id"])
    assert (closed["status"], closed["outcome"], closed["open_tasks"]) == ("closed", "merged", [])
    assert flow.open_types(target["id"]) == ["triage"]  # the target goes on as before
    mine = [e.type for e in _events(app, report["id"])]
    assert mine.index("case_merged") < mine.index("process_cancelled") < mine.index("case_closed")
    theirs = [e for e in _events(app, target["id"]) if e.type == "report_merged_in"]
    assert [e.data for e in theirs] == [{"case": report["number"], "note": "同一问题"}]
    with app.extensions["whistle.db"].unit_of_work() as s:
        assert replay_case(s, report["id"]).ok and replay_case(s, target["id"]).ok
        assert s.get(Case, report["id"]).closed_at is not None
        waiting = s.scalars(select(Timer).where(Timer.case_id == report["id"], Timer.status == "waiting")).all()
        assert waiting == []  # the triage's deadline timers went with it


def test_the_reporter_follows_the_target_case(app: Flask, api: Api) -> None:
    target, report, triage = _pair(api)
    assert _merge(api, "op-dc", triage["id"], kind="duplicate", target=target["number"]).status_code == 201
    Flow(api).do("op-dc", target["id"], "triage", {"grade": 2, "matter": "streetlight_broken"})
    with app.extensions["whistle.db"].unit_of_work() as s:
        report_case = s.get(Case, report["id"])
        kinds = [(u.kind, u.text) for u in public_updates(s, report_case)]
        assert ("marked_duplicate", target["number"]) in kinds
        assert ("dispatched", None) in kinds  # the target's progress, on the report's page
        assert rating_task(s, report_case) is None  # the target's call-back asks its own reporter
        code = report_case.tracking_code
    page = app.test_client().get(f"/track/{code}").get_data(as_text=True)
    assert 'data-testid="merged-into">' + target["number"] in page and 'data-outcome="duplicate"' in page


def test_bad_input_and_wrong_users_change_nothing(app: Flask, api: Api) -> None:
    target, report, triage = _pair(api)
    before = len(_events(app, report["id"])), len(_events(app, target["id"]))
    bad = [({"kind": "joined", "target": target["number"]}, "kind"), ({"kind": "merged"}, "target"),
           ({"kind": "merged", "target": "NO-SUCH-CASE"}, "target"),
           ({"kind": "merged", "target": report["number"]}, "target"),
           ({"kind": "merged", "target": target["number"], "note": "x" * 501}, "note")]
    for body, field in bad:
        resp = _merge(api, "op-dc", triage["id"], **body)
        assert resp.status_code == 422 and field in resp.get_json()["fields"], (body, resp.get_json())
    assert (len(_events(app, report["id"])), len(_events(app, target["id"]))) == before
    assert Flow(api).open_types(report["id"]) == ["triage"] and Flow(api).case(report["id"])["status"] == "open"


def test_who_may_merge(app: Flask, api: Api) -> None:
    target, report, triage = _pair(api)
    events = len(_events(app, report["id"]))
    assert _merge(api, "gw-s1c1g1", triage["id"], kind="merged", target=target["number"]).status_code == 403
    assert _merge(api, "auditor", triage["id"], kind="merged", target=target["number"]).status_code == 403
    assert _merge(api, "gw-s2c1g1", triage["id"], kind="merged", target=target["number"]).status_code == 404
    assert _merge(api, "op-dc", 10**9, kind="merged", target=target["number"]).status_code == 404
    assert len(_events(app, report["id"])) == events and Flow(api).open_types(report["id"]) == ["triage"]
    # a task that is not a triage: refused, whoever may complete it
    Flow(api).do("op-dc", target["id"], "triage", {"grade": 2, "matter": "streetlight_broken"})
    dispatched = Flow(api).case(target["id"])["open_tasks"][0]
    other = Flow(api).report(**SAME)
    resp = _merge(api, "op-dc", dispatched["id"], kind="merged", target=other["number"])
    assert resp.status_code in (403, 409)
    # a closed target, and a report already merged
    assert _merge(api, "op-dc", triage["id"], kind="merged", target=other["number"]).status_code == 201
    again = Flow(api).task(other["id"], "triage")
    assert _merge(api, "op-dc", again["id"], kind="merged", target=report["number"]).status_code == 422
    assert _merge(api, "op-dc", triage["id"], kind="merged", target=other["number"]).status_code == 409
