"""The 挂账督办 ledger complete: the late unit's head's answer is stored on its entry (found through the
督办 task's own data, whichever unit the task goes to), and late work taken away unfinished — past
the second limit the whistle goes to the level above — leaves the open ledger as transferred (转办),
with how late it was and the whistle that took it over. Clock-driven; every case replays cleanly."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.db import Database
from app.models import SupervisionEntry, Task, Unit, User
from app.services import deadlines
from tests.integration.flow import FORMS, TWO_DEPTS, Flow
from tests.integration.test_deadlines import COOP, LEAD, beijing, events, travel, whistle_at_report_in
from tests.integration.test_deadlines import at_monday_morning as at_monday_morning  # the fixture
from tests.integration.test_openapi import Checker
from tests.integration.test_openapi import doc as doc  # the fixture
from tests.integration.test_supervise_task import (
    ANSWER,
    ISSUE,
    answer_tasks,
    late_cooperating_department,
    replays_cleanly,
    supervise_tasks,
)


def ledger(api: Any, case_id: int, status: str | None = None, user: str = "auditor") -> list[dict[str, Any]]:
    query = {"status": status} if status else {}
    resp = api.get(user, "/api/supervision", query_string=query)
    assert resp.status_code == 200, resp.get_json()
    return [e for e in resp.get_json()["items"] if e["case_id"] == case_id]


@pytest.fixture()
def cancelled_rows(monkeypatch: pytest.MonkeyPatch) -> dict[int, list[list[str]]]:
    """Per case, the task types of the rows each step hands to the 转办 hook (it is called only when
    a step cancels rows, so a step that cancels none costs no query)."""
    calls: dict[int, list[list[str]]] = {}
    hook = deadlines.transfer_supervision

    def spy(session: Any, case: Any, cancelled: list[Task], actor: Any, now: Any) -> None:
        calls.setdefault(case.id, []).append(sorted(row.task_type for row in cancelled))
        hook(session, case, cancelled, actor, now)

    monkeypatch.setattr(deadlines, "transfer_supervision", spy)
    return calls


def test_the_heads_answer_is_stored_on_the_entry(app: Flask, api: Any, at_monday_morning: None) -> None:
    db, flow, case_id = late_cooperating_department(app, api)
    [entry] = ledger(api, case_id, "open")
    assert entry["answer"] is None
    [task] = supervise_tasks(api, "hw-head", case_id)
    assert api.post("hw-head", f"/api/tasks/{task['id']}/complete", json=ISSUE).status_code == 200
    [issued] = ledger(api, case_id, "open")[0]["rounds"]
    assert (issued["number"], issued["note"], issued["issued_by_name"], issued["answered_at"]) == (
        1, ISSUE["note"], "熊桂兰", None)
    [reply] = answer_tasks(api, "hw-staff", case_id)

    bad = api.post("hw-staff", f"/api/tasks/{reply['id']}/complete", json={**ANSWER, "promised_date": "2026-02-30"})
    assert bad.status_code == 422 and "promised_date" in bad.get_json()["fields"]  # no such day: nothing stored
    assert ledger(api, case_id)[0]["answer"] is None and events(db, case_id, "supervision_answered") == []
    assert len(answer_tasks(api, "hw-staff", case_id)) == 1

    travel(db, beijing(8, 15, 40))
    assert api.post("hw-staff", f"/api/tasks/{reply['id']}/complete", json=ANSWER).status_code == 200
    [entry] = ledger(api, case_id, "open", user="hw-head")  # answered, still open: only the work clears it
    answer = entry["answer"]
    assert {k: answer[k] for k in ("reason", "measures", "promised_date")} == ANSWER
    assert answer["answered_by"] == "hw-staff" and answer["answered_by_name"]
    assert answer["answered_at"].startswith(beijing(8, 15, 40).isoformat()[:16])
    assert {k: entry["rounds"][0][k] for k in ("reason", "measures", "promised_date")} == ANSWER
    [answered] = events(db, case_id, "supervision_answered")
    assert answered.data == {"entry": entry["id"], "task": "report_in", "round": 1, **ANSWER}

    flow.do("hw-staff", case_id, "report_in", FORMS["report_in"], unit=COOP)  # 销号 keeps the answer
    [cleared] = ledger(api, case_id, "cleared")
    assert cleared["answer"] == answer and cleared["closed_at"] == cleared["cleared_at"]
    assert cleared["transferred_to"] is None
    replays_cleanly(db, case_id)


def test_the_answer_finds_its_entry_through_the_task_data_whoever_answers(
    app: Flask, api: Any, at_monday_morning: None
) -> None:
    """The 督办 task may go to another unit than the late one (the secretary of the unit above, say):
    the entry is the one open_supervision put into the task's data, not one looked up by unit."""
    db, _, case_id = late_cooperating_department(app, api)
    [task] = supervise_tasks(api, "hw-head", case_id)
    [entry] = ledger(api, case_id, "open")
    with db.unit_of_work() as s:
        row = s.get(Task, task["id"])
        assert row is not None
        # the fallback for tasks whose data names no entry: the latest of the task's unit and stage
        assert deadlines.supervised_entry(s, row, {}).id == entry["id"]  # type: ignore[union-attr]
        row.unit_id = int(s.scalar(select(Unit.id).where(Unit.code == LEAD)))  # type: ignore[arg-type]
        assert deadlines.supervised_entry(s, row, {}) is None  # by unit, another unit's head finds nothing
    assert api.post("cgzf-head", f"/api/tasks/{task['id']}/complete", json=ISSUE).status_code == 200
    [issued] = ledger(api, case_id, "open")
    assert issued["id"] == entry["id"] and issued["unit"] == COOP
    assert [r["issued_by_name"] for r in issued["rounds"]] == [_name(db, "cgzf-head")]
    assert events(db, case_id, "supervision_issued")[0].data["entry"] == entry["id"]
    replays_cleanly(db, case_id)


def test_escalation_past_the_second_limit_transfers_the_late_entry(
    app: Flask, api: Any, doc: dict[str, Any], at_monday_morning: None, cancelled_rows: dict[int, list[list[str]]]
) -> None:
    db, flow, case_id = late_cooperating_department(app, api)
    assert case_id not in cancelled_rows  # the reminder and the 督办 steps cancel nothing: no hook, no query
    [task] = supervise_tasks(api, "hw-head", case_id)
    assert api.post("hw-head", f"/api/tasks/{task['id']}/complete", json=ISSUE).status_code == 200
    flow.do("hw-staff", case_id, "report_in_supervise_answer", ANSWER, unit=COOP)
    [entry] = ledger(api, case_id, "open")

    travel(db, beijing(9, 9, 59))  # the second limit is Tue 10:00
    assert [e["id"] for e in ledger(api, case_id, "open")] == [entry["id"]]
    travel(db, beijing(9, 10, 1))
    [escalated] = events(db, case_id, "escalated")
    new_number = escalated.data["new_case"]
    assert flow.case(case_id)["escalated_to"] == [new_number]
    # the late department's report-in, taken away unfinished, and the head's 督办 waiting on its answer
    assert cancelled_rows[case_id] == [["report_in", "report_in_head_supervise"]]

    assert ledger(api, case_id, "open") == [] and ledger(api, case_id, "cleared") == []
    [moved] = ledger(api, case_id, "transferred", user="hw-head")
    assert (moved["id"], moved["unit"], moved["status"], moved["cleared_at"]) == (entry["id"], COOP, "transferred",
                                                                                  None)
    assert moved["closed_at"].startswith(beijing(9, 10, 1).isoformat()[:16])
    assert moved["late_minutes"] in (19 * 60, 19 * 60 + 1)  # Mon 15:00 → Tue 10:01, as the clock runs
    assert moved["transferred_to"]["case_number"] == new_number
    assert flow.case(moved["transferred_to"]["case_id"])["parent_case"] == flow.case(case_id)["number"]
    assert moved["answer"] == entry["answer"]  # the head's answer stays on the record
    [event] = events(db, case_id, "supervision_transferred")
    assert event.data == {"entry": entry["id"], "task": "report_in", "late_minutes": moved["late_minutes"],
                          "to_case": new_number}
    assert (event.actor, event.unit_id) == ("system", _unit_id(db, COOP))
    documented = Checker(api, doc)("hw-head", "get", "/api/supervision", 200, query_string={"status": "transferred"})
    assert moved in documented["items"]  # answer and transfer as the OpenAPI document says

    travel(db, beijing(12, 17))  # days later the entry is still transferred, not late any more
    assert ledger(api, case_id, "transferred")[0]["late_minutes"] == moved["late_minutes"]
    assert len(events(db, case_id, "supervision_transferred")) == 1
    replays_cleanly(db, case_id)
    replays_cleanly(db, moved["transferred_to"]["case_id"])


def test_an_unanswered_supervision_is_transferred_too_and_its_task_withdrawn(
    app: Flask, api: Any, at_monday_morning: None
) -> None:
    db, _, case_id = late_cooperating_department(app, api)
    [task] = supervise_tasks(api, "hw-head", case_id)
    travel(db, beijing(9, 10, 1))
    [moved] = ledger(api, case_id, "transferred")
    assert moved["answer"] is None and moved["transferred_to"] is not None
    with db.unit_of_work() as s:
        statuses = dict(s.execute(select(Task.task_type, Task.status).where(
            Task.case_id == case_id, Task.task_type.in_(["report_in_head_supervise"]))).all())
    assert statuses == {"report_in_head_supervise": "cancelled"}
    assert api.post("hw-head", f"/api/tasks/{task['id']}/complete", json=ISSUE).status_code == 409
    replays_cleanly(db, case_id)


def test_a_district_whistle_goes_on_to_handling_and_its_late_report_in_is_transferred_nowhere(
    app: Flask, api: Any, at_monday_morning: None
) -> None:
    """A district whistle has no level above: past the second limit the report-in stage ends and the
    departments handle. The late report-in leaves the open ledger as transferred, with no target."""
    db: Database = app.extensions["whistle.db"]
    flow = Flow(api)
    case_id = int(flow.report(title="区级哨 违规广告", matter=TWO_DEPTS)["id"])
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"] | {"level": "district"})
    flow.review_chain(case_id, "district")
    flow.do("cgzf-staff", case_id, "report_in", FORMS["report_in"], unit=LEAD)
    travel(db, beijing(8, 15, 2))
    [entry] = ledger(api, case_id, "open")
    travel(db, beijing(9, 10, 1))
    assert events(db, case_id, "escalated") == [] and flow.case(case_id)["status"] == "open"
    assert "handle" in flow.open_types(case_id) and "report_in" not in flow.open_types(case_id)
    [moved] = ledger(api, case_id, "transferred")
    assert (moved["id"], moved["transferred_to"]) == (entry["id"], None)
    assert events(db, case_id, "supervision_transferred")[0].data["to_case"] is None
    replays_cleanly(db, case_id)


def test_work_done_in_time_or_late_is_never_transferred(
    app: Flask, api: Any, at_monday_morning: None, cancelled_rows: dict[int, list[list[str]]]
) -> None:
    """On time: no entry at all. Late but done: struck off (cleared) — the step also withdraws the
    unanswered 督办 task, which the hook sees, and transfers nothing."""
    db: Database = app.extensions["whistle.db"]
    flow = Flow(api)
    on_time = whistle_at_report_in(flow)
    flow.report_in_all(on_time, [LEAD, COOP])
    _, flow, late = late_cooperating_department(app, api)
    assert on_time not in cancelled_rows and late not in cancelled_rows
    flow.do("hw-staff", late, "report_in", FORMS["report_in"], unit=COOP)
    assert cancelled_rows[late] == [["report_in_head_supervise"]]
    travel(db, beijing(12, 17))  # long past every second limit
    assert ledger(api, on_time) == []
    [cleared] = ledger(api, late)
    assert cleared["status"] == "cleared" and cleared["transferred_to"] is None
    for case_id in (on_time, late):
        assert events(db, case_id, "supervision_transferred") == [] and events(db, case_id, "escalated") == []
    with db.unit_of_work() as s:
        done = s.scalars(select(Task.status).where(Task.case_id.in_([on_time, late]), Task.task_type == "report_in"))
        assert set(done) == {"completed"}
        assert s.scalar(select(SupervisionEntry.status).where(SupervisionEntry.case_id == late)) == "cleared"
    replays_cleanly(db, late)


def test_the_ledger_filter_knows_three_statuses(app: Flask, api: Any, at_monday_morning: None) -> None:
    for status in deadlines.LEDGER_STATUSES:
        assert api.get("auditor", "/api/supervision", query_string={"status": status}).status_code == 200
    for status in ("closed", "late", "Transferred", "open,cleared"):
        resp = api.get("auditor", "/api/supervision", query_string={"status": status})
        assert resp.status_code == 422 and resp.get_json()["fields"] == {"status": "open or cleared or transferred"}


def _unit_id(db: Database, code: str) -> int:
    with db.unit_of_work() as s:
        return int(s.scalar(select(Unit.id).where(Unit.code == code)))  # type: ignore[arg-type]


def _name(db: Any, username: str) -> str:
    with db.unit_of_work() as s:
        return str(s.scalar(select(User.name).where(User.username == username)))
