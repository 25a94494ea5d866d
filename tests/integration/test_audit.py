"""吹哨全留痕: hash chains that expose tampering, snapshots per step, replay, auditors, dossiers."""

from __future__ import annotations

import copy
import hashlib
import inspect
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Connection, func, select, text
from sqlalchemy.exc import DBAPIError

from app.models import AuditChain, Case, Event, Snapshot
from app.services import audit, chain, snapshots
from app.services.replay import replay_case
from tests.conftest import Api
from tests.integration import test_lifecycle as lifecycle
from tests.integration.flow import FORMS, Flow


@pytest.fixture()
def flow(api: Api) -> Flow:
    return Flow(api)


def _db(app: Flask) -> Any:
    return app.extensions["whistle.db"]


def _max_case(app: Flask) -> int:
    with _db(app).sessions() as s:
        return s.scalar(select(func.max(Case.id))) or 0


def _new_cases(app: Flask, after: int) -> list[int]:
    with _db(app).sessions() as s:
        return list(s.scalars(select(Case.id).where(Case.id > after).order_by(Case.id)))


def _verify(app: Flask, case_id: int) -> audit.Verification:
    with _db(app).sessions() as s:
        return audit.verify(s, [case_id], snapshots=True, system=False)


def _triaged(flow: Flow, title: str = "违规广告 留痕") -> int:
    case_id = flow.report(title=title)["id"]
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"])
    return case_id


# --- every lifecycle variant replays with zero divergence ------------------------------------------


def _variants() -> list[Any]:
    params = []
    for name, func_ in inspect.getmembers(lifecycle, inspect.isfunction):
        if not name.startswith("test_"):
            continue
        marks = [m for m in getattr(func_, "pytestmark", []) if m.name == "parametrize"]
        values = marks[0].args[1] if marks else [None]
        params += [pytest.param(func_, value, id=f"{name}[{value}]" if value else name) for value in values]
    return params


@pytest.mark.parametrize(("variant", "value"), _variants())
def test_every_lifecycle_variant_replays_with_zero_divergence(flow: Flow, app: Flask, variant: Any,
                                                               value: Any) -> None:
    before = _max_case(app)
    kwargs = {"flow": flow, "app": app}
    names = inspect.signature(variant).parameters
    args = {name: kwargs.get(name, value) for name in names}
    variant(**args)
    cases = _new_cases(app, before)
    assert cases
    with _db(app).sessions() as s:
        results = [replay_case(s, case_id) for case_id in cases]
        verification = audit.verify(s, cases, snapshots=True, system=False)
    assert [r.line() for r in results if not r.ok] == []
    assert all(r.engine_steps >= 1 for r in results)
    assert verification.ok, verification.first_break


# --- tampering is detected at the right event -------------------------------------------------------


@contextmanager
def _raw(app: Flask) -> Iterator[Connection]:
    """A connection that may change the record, as an attacker with database access would (on
    PostgreSQL the append-only triggers are switched off for it)."""
    with _db(app).engine.begin() as conn:
        pg = conn.dialect.name == "postgresql"
        if pg:
            conn.execute(text("ALTER TABLE events DISABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE snapshots DISABLE TRIGGER USER"))
        yield conn
        if pg:
            conn.execute(text("ALTER TABLE events ENABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE snapshots ENABLE TRIGGER USER"))


def _event_row(app: Flask, case_id: int, seq: int) -> dict[str, Any]:
    table = Event.__table__
    with _db(app).engine.connect() as conn:
        return dict(conn.execute(select(table).where(table.c.case_id == case_id, table.c.seq == seq))
                    .mappings().one())


def _seq_of(app: Flask, case_id: int, type_: str) -> int:
    with _db(app).sessions() as s:
        return s.scalar(select(func.min(Event.seq)).where(Event.case_id == case_id, Event.type == type_))


def _cli(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=list(args))
    return result.exit_code, result.output


def test_an_untouched_chain_verifies_by_service_cli_and_api(flow: Flow, app: Flask, api: Api) -> None:
    case_id = _triaged(flow)
    assert _verify(app, case_id).ok
    code, out = _cli(app, "verify", "--case", str(case_id))
    assert code == 0 and out.startswith("ok:"), out
    body = api.get("auditor", f"/api/audit/verify?case={case_id}").get_json()
    assert body["ok"] and body["first_break"] is None and body["events"] > 5 and body["snapshots"] == 2


def test_one_edited_byte_is_found_at_its_event(flow: Flow, app: Flask, api: Api) -> None:
    case_id = _triaged(flow)
    seq = _seq_of(app, case_id, "task_completed")
    original = _event_row(app, case_id, seq)["actor"]
    with _raw(app) as conn:
        conn.execute(text("UPDATE events SET actor = :a WHERE case_id = :c AND seq = :s"),
                     {"a": original[:-1] + chr(ord(original[-1]) + 1), "c": case_id, "s": seq})
    try:
        broken = _verify(app, case_id).first_break
        assert broken is not None and (broken.case_id, broken.seq, broken.problem) == (case_id, seq, "altered")
        code, out = _cli(app, "verify", "--case", str(case_id))
        assert code == 1
        assert f"case {case_id} (" in out and f"seq {seq}: altered" in out and "task_completed" in out
        body = api.get("auditor", f"/api/audit/verify?case={case_id}").get_json()
        assert not body["ok"] and body["first_break"]["seq"] == seq
    finally:
        with _raw(app) as conn:
            conn.execute(text("UPDATE events SET actor = :a WHERE case_id = :c AND seq = :s"),
                         {"a": original, "c": case_id, "s": seq})
    assert _verify(app, case_id).ok


def test_an_edited_form_value_is_found_at_its_event(flow: Flow, app: Flask) -> None:
    case_id = _triaged(flow)
    seq = _seq_of(app, case_id, "task_completed")
    with _raw(app) as conn:
        cast = "::text" if conn.dialect.name == "postgresql" else ""
        back = "::json" if cast else ""
        conn.execute(text(f"UPDATE events SET data = replace(data{cast}, :old, :new){back} "
                          "WHERE case_id = :c AND seq = :s"),
                     {"c": case_id, "s": seq, "old": '"grade":3', "new": '"grade":2'})
    try:
        broken = _verify(app, case_id).first_break
        assert broken is not None and (broken.seq, broken.problem) == (seq, "altered")
        with _db(app).sessions() as s:  # the replay of the altered record diverges at that step too
            result = replay_case(s, case_id)
        assert not result.ok and result.divergence is not None
        assert result.divergence.step == 2  # grade 2 takes another path: other handlers are called
    finally:
        with _raw(app) as conn:
            conn.execute(text(f"UPDATE events SET data = replace(data{cast}, :old, :new){back} "
                              "WHERE case_id = :c AND seq = :s"),
                         {"c": case_id, "s": seq, "old": '"grade":2', "new": '"grade":3'})
    assert _verify(app, case_id).ok


@contextmanager
def _deleted(app: Flask, case_id: int, seq: int) -> Iterator[None]:
    """The event at ``seq`` deleted from the database for the block, then put back as it was."""
    row = _event_row(app, case_id, seq)
    with _raw(app) as conn:
        conn.execute(text("DELETE FROM events WHERE id = :i"), {"i": row["id"]})
    try:
        yield
    finally:
        with _raw(app) as conn:
            conn.execute(Event.__table__.insert().values(**row))
    assert _verify(app, case_id).ok


def test_a_deleted_event_is_found_where_the_chain_jumps(flow: Flow, app: Flask) -> None:
    case_id = _triaged(flow)
    seq = _seq_of(app, case_id, "handler_called")
    with _deleted(app, case_id, seq):
        broken = _verify(app, case_id).first_break
        assert broken is not None and (broken.seq, broken.problem) == (seq, "missing")
        assert f"seq {seq} is missing" in broken.message


def test_a_deleted_last_event_is_found_by_the_count_and_head(flow: Flow, app: Flask) -> None:
    case_id = _triaged(flow)
    with _db(app).sessions() as s:
        last = s.get(Case, case_id).event_count
    with _deleted(app, case_id, last):
        broken = _verify(app, case_id).first_break
        assert broken is not None and broken.problem == "count" and f"after seq {last - 1}" in broken.message


def test_two_reordered_events_are_found_at_the_first(flow: Flow, app: Flask) -> None:
    case_id = _triaged(flow)
    seq = _seq_of(app, case_id, "task_completed")

    def swap() -> None:
        with _raw(app) as conn:
            params = {"c": case_id, "a": seq, "b": seq + 1}
            conn.execute(text("UPDATE events SET seq = -1 WHERE case_id = :c AND seq = :a"), params)
            conn.execute(text("UPDATE events SET seq = :a WHERE case_id = :c AND seq = :b"), params)
            conn.execute(text("UPDATE events SET seq = :b WHERE case_id = :c AND seq = -1"), params)

    swap()
    try:
        broken = _verify(app, case_id).first_break
        assert broken is not None and (broken.seq, broken.problem) == (seq, "reordered")
        assert f"recorded as seq {seq + 1}" in broken.message
    finally:
        swap()
    assert _verify(app, case_id).ok


def test_a_head_that_does_not_match_is_found(flow: Flow, app: Flask) -> None:
    case_id = _triaged(flow)
    with _db(app).sessions() as s:
        head = s.get(Case, case_id).chain_head
    cases = Case.__table__
    with _db(app).engine.begin() as conn:
        conn.execute(cases.update().where(cases.c.id == case_id).values(chain_head="0" * 64))
    try:
        broken = _verify(app, case_id).first_break
        assert broken is not None and broken.problem == "head"
    finally:
        with _db(app).engine.begin() as conn:
            conn.execute(cases.update().where(cases.c.id == case_id).values(chain_head=head))
    assert _verify(app, case_id).ok


def test_a_head_written_as_hex_text_by_hand_is_found(flow: Flow, app: Flask) -> None:
    """The digests are stored as bytes (migration 0020): the right head typed in as its hex text is
    other bytes, and verify reports it instead of failing to read it."""
    case_id = _triaged(flow)
    with _db(app).sessions() as s:
        head = s.get(Case, case_id).chain_head
    with _db(app).engine.begin() as conn:
        conn.execute(text("UPDATE cases SET chain_head = :h WHERE id = :c"), {"h": head, "c": case_id})
    try:
        broken = _verify(app, case_id).first_break
        assert broken is not None and broken.problem == "head"
    finally:
        cases = Case.__table__
        with _db(app).engine.begin() as conn:
            conn.execute(cases.update().where(cases.c.id == case_id).values(chain_head=head))
    assert _verify(app, case_id).ok


def test_an_edited_snapshot_is_found(flow: Flow, app: Flask) -> None:
    case_id = _triaged(flow)
    with _db(app).sessions() as s:
        snap = s.scalar(select(Snapshot).where(Snapshot.case_id == case_id, Snapshot.state_version == 2))
        original, was_delta = snap.state, snap.is_delta
        state = snapshots.state(s, case_id, 2)
    assert state is not None
    edited = zlib.compress(state.replace('"grade":3', '"grade":2').encode())  # stored whole, edited
    assert zlib.decompress(edited).decode() != state
    with _raw(app) as conn:
        conn.execute(Snapshot.__table__.update().where(Snapshot.__table__.c.id == snap.id)
                     .values(state=edited, is_delta=False))
    try:
        broken = _verify(app, case_id).first_break
        assert broken is not None and broken.problem == "snapshot" and "step 2" in broken.message
    finally:
        with _raw(app) as conn:
            conn.execute(Snapshot.__table__.update().where(Snapshot.__table__.c.id == snap.id)
                         .values(state=original, is_delta=was_delta))
    assert _verify(app, case_id).ok


def test_the_database_refuses_to_update_or_delete_events(backend: str, flow: Flow, app: Flask) -> None:
    if backend != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL's (docs/audit.md)")
    case_id = _triaged(flow)
    for statement in ("UPDATE events SET actor = 'x' WHERE case_id = :c",
                      "DELETE FROM events WHERE case_id = :c",
                      "UPDATE snapshots SET state_hash = 'x' WHERE case_id = :c",
                      "DELETE FROM snapshots WHERE case_id = :c",
                      "TRUNCATE events CASCADE"):
        with pytest.raises(DBAPIError, match="append-only"), _db(app).engine.begin() as conn:
            conn.execute(text(statement), {"c": case_id})
    assert _verify(app, case_id).ok


# --- replay reports a divergence at the step whose record was changed -----------------------------------


def _detached(events: list[Event]) -> list[Any]:
    return [SimpleNamespace(**{c.key: copy.deepcopy(getattr(e, c.key)) for c in Event.__table__.columns})
            for e in events]


def _recorded(app: Flask, case_id: int) -> list[Any]:
    with _db(app).sessions() as s:
        return _detached(list(s.scalars(select(Event).where(Event.case_id == case_id).order_by(Event.seq))))


def test_a_tampered_form_value_in_the_record_is_a_divergence(flow: Flow, app: Flask) -> None:
    case_id = _triaged(flow)
    flow.do("staff-s1c1", case_id, "prepare_whistle", FORMS["prepare_whistle"])
    events = _recorded(app, case_id)
    completion = [e for e in events if e.type == "task_completed"][-1]
    completion.data["form"]["summary"] = "被篡改的材料"
    with _db(app).sessions() as s:
        result = replay_case(s, case_id, events)
        untouched = replay_case(s, case_id)
    assert untouched.ok
    assert not result.ok and result.divergence is not None
    assert result.divergence.step == completion.state_version
    assert "prepare_whistle" in result.divergence.message and "被篡改的材料" in result.divergence.message


def test_a_tampered_handler_result_is_a_divergence(flow: Flow, app: Flask) -> None:
    case_id = _triaged(flow)
    events = _recorded(app, case_id)
    call = next(e for e in events if e.type == "handler_called" and e.data["handler"] == "lookup_catalogue")
    call.data["result"]["lead"] = "dept-hw"
    with _db(app).sessions() as s:
        result = replay_case(s, case_id, events)
    assert not result.ok and result.divergence is not None and result.divergence.step == call.state_version


def test_a_handler_call_missing_from_the_record_is_a_divergence(flow: Flow, app: Flask) -> None:
    case_id = _triaged(flow)
    events = [e for e in _recorded(app, case_id)
              if not (e.type == "handler_called" and e.data["handler"] == "lookup_catalogue")]
    with _db(app).sessions() as s:
        result = replay_case(s, case_id, events)
    assert not result.ok and result.divergence is not None
    assert "lookup_catalogue" in result.divergence.message and "lacks" in result.divergence.message


def test_replay_command_and_api(flow: Flow, app: Flask, api: Api) -> None:
    case_id = _triaged(flow)
    code, out = _cli(app, "replay", "--case", str(case_id))
    assert code == 0 and "1 of 1 cases replayed without divergence" in out, out
    body = api.get("auditor", f"/api/cases/{case_id}/replay").get_json()
    assert body["ok"] and body["engine_steps"] == 2 and body["divergence"] is None
    assert _cli(app, "replay", "--case", "999999")[0] != 0


# --- time travel: the state at step k is the live state after step k ----------------------------------


def test_state_at_each_step_equals_the_live_state_after_it(flow: Flow, app: Flask, api: Api) -> None:
    case_id = flow.report(title="时间旅行")["id"]
    live: dict[int, tuple[str, list[tuple[str, str | None]]]] = {}

    def capture() -> None:
        with _db(app).sessions() as s:
            case = s.get(Case, case_id)
            view = flow.case(case_id)
            live[case.version] = (case.state, sorted((t["task_type"], t["assignee"]) for t in view["open_tasks"]))

    capture()
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"])
    capture()
    task = flow.task(case_id, "prepare_whistle")
    assert api.post("staff-s1c1", f"/api/tasks/{task['id']}/claim").status_code == 200
    capture()
    flow.do("staff-s1c1", case_id, "prepare_whistle", FORMS["prepare_whistle"])
    capture()
    flow.do("section-s1c1", case_id, "review", {"decision": "return", "reason": "材料不全"})
    capture()
    assert sorted(live) == [1, 2, 3, 4, 5]
    for step, (state, open_tasks) in live.items():
        at = api.get("auditor", f"/api/cases/{case_id}/history/{step}").get_json()
        assert at["step"] == step
        assert at["state_hash"] == hashlib.sha256(state.encode()).hexdigest() and at["snapshot_intact"]
        assert sorted((t["task_type"], t["holder"]) for t in at["open_tasks"]) == open_tasks
    at_claim = api.get("auditor", f"/api/cases/{case_id}/history/3").get_json()
    assert at_claim["snapshot_step"] == 2  # a claim changes who holds the task, not the engine state
    assert at_claim["open_tasks"][0]["holder"] == "staff-s1c1"
    first = api.get("auditor", f"/api/cases/{case_id}/history/1").get_json()
    assert "triage" in first["elements"]["case"]["active"]
    second = api.get("auditor", f"/api/cases/{case_id}/history/2").get_json()
    assert "triage" in second["elements"]["case"]["completed"]
    assert "prepare_whistle" in second["elements"]["whistle"]["active"]
    assert second["data"]["grade"] == 3
    assert api.get("auditor", f"/api/cases/{case_id}/history/6").status_code == 404
    assert api.get("auditor", f"/api/cases/{case_id}/history/0").status_code == 404


def test_history_lists_events_and_steps_with_the_chain_verified(flow: Flow, app: Flask, api: Api) -> None:
    case_id = _triaged(flow)
    flow.review_chain(case_id, "community")
    body = api.get("auditor", f"/api/cases/{case_id}/history").get_json()
    assert body["verification"]["ok"]
    types = [e["type"] for e in body["events"]]
    for expected in ("case_created", "process_started", "task_ready", "task_completed", "handler_called",
                     "review_approved", "whistle_started", "state_saved"):
        assert expected in types, expected
    assert [e["seq"] for e in body["events"]] == list(range(1, len(types) + 1))
    assert all(e["prev_hash"] == p["hash"] for p, e in zip(body["events"], body["events"][1:], strict=False))
    assert body["case"]["chain_head"] == body["events"][-1]["hash"]
    steps = body["steps"]
    assert [s["step"] for s in steps] == list(range(1, len(steps) + 1))
    assert steps[1]["kind"] == "task_completed" and steps[1]["task"] == "triage"
    call = next(e for e in body["events"] if e["type"] == "handler_called")
    assert {"task", "handler", "params", "result"} <= set(call["data"])
    diagrams = api.get("auditor", f"/api/cases/{case_id}/diagrams").get_json()
    assert diagrams["processes"]["case"] == "case.bpmn" and "<bpmn:definitions" in diagrams["files"]["case.bpmn"]


# --- events of every kind, and of no case --------------------------------------------------------------


def test_claims_returns_and_filings_are_events(flow: Flow, app: Flask, api: Api) -> None:
    case_id = flow.report(title="街道哨 留痕")["id"]
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"] | {"level": "street"})
    task = flow.task(case_id, "prepare_whistle")
    api.post("staff-s1", f"/api/tasks/{task['id']}/claim")
    api.post("staff-s1", f"/api/tasks/{task['id']}/unclaim")
    flow.do("staff-s1", case_id, "prepare_whistle", FORMS["prepare_whistle"])
    flow.do("section-s1", case_id, "review", {"decision": "return", "reason": "补充"})
    flow.review_chain(case_id, "street")
    events = api.get("auditor", f"/api/cases/{case_id}/history").get_json()["events"]
    types = [e["type"] for e in events]
    for expected in ("task_claimed", "task_unclaimed", "review_returned", "whistle_filed"):
        assert expected in types, expected
    completed = next(e for e in events if e["type"] == "task_completed" and e["data"]["task"] == "triage")
    assert completed["data"]["form"]["matter"] == FORMS["triage_whistle"]["matter"]
    assert (completed["actor"], completed["role"], completed["unit"]) == ("op-dc", "platform_operator", "dc")
    assert completed["process_version_id"] is not None and completed["state_version"] == 2


def test_login_failures_and_deploys_are_chained_without_a_case(app: Flask, api: Api) -> None:
    with _db(app).sessions() as s:
        before = s.get(AuditChain, "system")
        length = before.length if before else 0
    # from an address of its own: failures are recorded per address (the first of its hour, then powers of ten)
    resp = api.client.post("/api/tokens", json={"username": "op-dc", "password": "wrong"},
                           environ_base={"REMOTE_ADDR": "198.51.100.17"})
    assert resp.status_code == 401
    with _db(app).sessions() as s:
        head = s.get(AuditChain, "system")
        event = s.scalar(select(Event).where(Event.case_id.is_(None), Event.seq == head.length))
        assert head.length == length + 1 and head.head == event.hash
        assert (event.type, event.data["username"]) == ("login_failed", "op-dc")
        deployed = s.scalar(select(Event).where(Event.case_id.is_(None), Event.type == "process_deployed"))
        assert deployed is not None and deployed.data["version"] >= 1
        result = audit.verify(s, [], system=True)
    assert result.ok, result.first_break


# --- auditors: read everything visible, write nothing ----------------------------------------------------


WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Not acting as the auditor: logging in or out, and the public's anonymous report (no principal).
NOT_AS_AUDITOR = {"/api/login", "/api/logout", "/api/tokens", "/api/public/reports"}


def test_every_write_endpoint_refuses_the_auditor(app: Flask, api: Api, flow: Flow) -> None:
    case_id = flow.report(title="审计只读")["id"]
    task_id = flow.task(case_id, "triage")["id"]
    ids = {"task_id": task_id, "case_id": case_id, "step": 1}
    writes = [(rule, method) for rule in app.url_map.iter_rules() if rule.rule.startswith("/api")
              for method in sorted((rule.methods or set()) & WRITE_METHODS) if rule.rule not in NOT_AS_AUDITOR]
    assert len(writes) >= 6
    with _db(app).sessions() as s:
        events_before = s.scalar(select(func.count()).select_from(Event))
    for rule, method in writes:
        path = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", lambda m: str(ids.get(m.group(1), 1)), rule.rule)
        resp = api.call(method, "auditor", path, json={})
        assert resp.status_code == 403, (method, path, resp.get_json())
        assert resp.get_json()["error"] == "forbidden"
    with _db(app).sessions() as s:
        assert s.scalar(select(func.count()).select_from(Event)) == events_before


def test_the_auditor_opens_the_history_of_every_units_cases(flow: Flow, api: Api) -> None:
    here = flow.report(title="和平街道", grid="dc-s1-c1-g1")["id"]
    there = flow.report(title="另一街道", grid="dc-s2-c1-g1")["id"]
    for case_id in (here, there):
        for path in ("history", "history/1", "dossier.json", "replay", "diagrams"):
            assert api.get("auditor", f"/api/cases/{case_id}/{path}").status_code == 200, path
    assert api.get("op-s1", f"/api/cases/{there}/history").status_code == 404  # another street's case
    assert api.get("op-dc", f"/api/audit/verify?case={here}").status_code == 403
    assert api.get("auditor", "/api/audit/verify?case=abc").status_code == 422
    assert api.get("auditor", "/api/audit/verify").get_json()["ok"] in (True, False)


# --- dossier ------------------------------------------------------------------------------------------------


def test_dossier_json_carries_the_chain_and_checks(flow: Flow, api: Api) -> None:
    case_id = _triaged(flow)
    body = api.get("auditor", f"/api/cases/{case_id}/dossier.json").get_json()
    assert body["format"] == "whistle-dossier/1"
    assert body["verification"]["ok"] and body["replay"]["ok"]
    assert body["chain"]["head"] == body["events"][-1]["hash"] and body["chain"]["length"] == len(body["events"])
    assert [s["step"] for s in body["snapshots"]] == [1, 2]
    for event in body["events"]:  # an auditor can recheck every hash from the dossier alone
        row = SimpleNamespace(**{k: event[k] for k in ("seq", "type", "actor", "role", "data", "prev_hash",
                                                        "actor_id", "unit_id", "process_version_id",
                                                        "state_version")},
                              case_id=case_id, created_at=datetime.fromisoformat(event["created_at"]))
        assert chain.row_hash(row) == event["hash"]
    rest = {k: v for k, v in body.items() if k != "dossier_hash"}
    assert chain.sha256_text(chain.canonical_json(rest)) == body["dossier_hash"]


def test_dossier_html_is_escaped_and_self_contained(flow: Flow, api: Api) -> None:
    case_id = flow.report(title="<script>alert('x')</script> 垃圾")["id"]
    resp = api.get("auditor", f"/api/cases/{case_id}/dossier.html")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert "哈希链完整 chain intact" in page and "@media print" in page
    assert not re.search(r"<(script|link|img)\b|src=|href=\"http", page)
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]


def test_the_projection_of_a_stored_state_equals_the_live_one(flow: Flow, app: Flask) -> None:
    """Replay checks the live workflow's projection; the history reads stored snapshots: both agree."""
    from app.engine import projection_hash
    from app.services import workflow

    case_id = _triaged(flow)
    flow.review_chain(case_id, "community")
    flow.report_in_all(case_id, ["dept-cgzf"])
    with _db(app).sessions() as s:
        case = s.get(Case, case_id)
        instance = workflow.load(s, case)
        assert instance.projection_hash() == projection_hash(case.state)
        snaps = s.scalars(select(Snapshot).where(Snapshot.case_id == case_id)).all()
        texts = snapshots.states(s, case_id, [snap.state_version for snap in snaps])
        for snap in snaps:
            assert projection_hash(texts[snap.state_version]) == snap.projection_hash, snap.state_version


def test_audit_responses_match_the_openapi_document(flow: Flow, api: Api, client: Any) -> None:
    from tests.integration.test_openapi import Checker

    check = Checker(api, client.get("/api/openapi.json").get_json())
    case_id = _triaged(flow)
    check("auditor", "get", "/api/audit/verify", 200, query_string={"case": case_id})
    check("auditor", "get", "/api/audit/verify", 422, query_string={"case": "x"})
    check("auditor", "get", "/api/audit/verify", 404, query_string={"case": 10**9})
    check("op-dc", "get", "/api/audit/verify", 403)
    check("auditor", "get", "/api/cases/{case_id}/history", 200, case_id=case_id)
    check("auditor", "get", "/api/cases/{case_id}/history/{step}", 200, case_id=case_id, step=2)
    check("auditor", "get", "/api/cases/{case_id}/history/{step}", 404, case_id=case_id, step=99)
    check("auditor", "get", "/api/cases/{case_id}/replay", 200, case_id=case_id)
    check("auditor", "get", "/api/cases/{case_id}/diagrams", 200, case_id=case_id)
    check("auditor", "get", "/api/cases/{case_id}/dossier.json", 200, case_id=case_id)
    check("auditor", "get", "/api/cases/{case_id}/replay", 404, case_id=10**9)
