"""Anchors (外部锚定): a history rewritten by someone with database superuser rights is found.

Each test has a database of its own (it is broken on purpose) and a ledger in its own folder. The
rewrites are what a superuser can do: switch the append-only trigger off, change the record, and
recompute the hash chain and the head so that the chains verify on their own.
"""

from __future__ import annotations

import json
import secrets
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Connection, create_engine, event, select, text
from sqlalchemy.exc import DBAPIError

from app import create_app
from app.cli import run_migrations
from app.definitions.versions import deploy_directory
from app.models import Case, Event
from app.services import anchor, audit, chain
from app.services.org import load_organisation
from app.services.scheduler import TimerScheduler
from app.settings import ROOT, Settings
from tests.conftest import Api
from tests.integration.flow import FORMS, Flow
from tests.integration.test_audit import _raw  # the superuser's connection: triggers off


@pytest.fixture()
def own(own_app: Flask) -> Flask:
    return own_app


@pytest.fixture()
def flow(own: Flask) -> Flow:
    return Flow(Api(own.test_client(), {}))


def _db(app: Flask) -> Any:
    return app.extensions["whistle.db"]


def _ledger_path(app: Flask) -> Path:
    return Path(app.extensions["whistle.settings"].anchor_path)


def _triaged(flow: Flow, title: str = "锚定") -> int:
    case_id = flow.report(title=title)["id"]
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"])
    return case_id


def _cli(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=list(args))
    return result.exit_code, result.output


def _verify(app: Flask, with_anchors: bool = True) -> audit.Verification:
    marks = anchor.read_ledger(_ledger_path(app)).marks if with_anchors else None
    with _db(app).sessions() as s:
        return audit.verify(s, marks=marks)


def _rechain(conn: Connection, case_id: int) -> None:
    """Recompute every hash of the case's chain from its (edited) content, and its head and count:
    the chain is whole again and today's verify cannot tell."""
    table = Event.__table__
    rows = conn.execute(select(table).where(table.c.case_id == case_id).order_by(table.c.seq)).mappings().all()
    prev = chain.GENESIS
    for row in rows:
        digest = chain.row_hash(SimpleNamespace(**(dict(row) | {"prev_hash": prev})))
        conn.execute(table.update().where(table.c.id == row["id"]).values(prev_hash=prev, hash=digest))
        prev = digest
    conn.execute(Case.__table__.update().where(Case.__table__.c.id == case_id)
                 .values(chain_head=prev, event_count=len(rows)))


def _anchor(app: Flask) -> anchor.Anchored:
    anchored = anchor.anchor(_db(app), _ledger_path(app))
    assert anchored is not None
    return anchored


# --- (a) a rewrite that today's verify passes is found by the anchor check ------------------------------


def test_an_old_event_edited_and_the_chain_recomputed_is_found(flow: Flow, own: Flask) -> None:
    case_id = _triaged(flow)
    other = _triaged(flow, "未动的案件")
    _anchor(own)
    with _db(own).sessions() as s:
        seq = s.scalar(select(Event.seq).where(Event.case_id == case_id, Event.type == "task_completed"))
        data = s.scalar(select(Event.data).where(Event.case_id == case_id, Event.seq == seq))
        anchored_length = s.get(Case, case_id).event_count
    data["form"]["grade"] = 2
    with _raw(own) as conn:
        conn.execute(Event.__table__.update().where(Event.case_id == case_id, Event.seq == seq).values(data=data))
        _rechain(conn, case_id)

    assert _verify(own, with_anchors=False).ok  # the chains alone cannot tell
    result = _verify(own)
    assert not result.ok and len(result.anchor_breaks) == 1
    broken = result.anchor_breaks[0]
    assert (broken.case_id, broken.seq, broken.problem) == (case_id, anchored_length, "anchor")
    assert "rewritten after it was anchored" in broken.message and "anchor #1" in broken.message
    assert result.anchored == 3  # both cases and the system chain were checked; the other one holds
    code, out = _cli(own, "verify")
    assert code == 1 and f"BROKEN case {case_id} (" in out and f"seq {anchored_length}: anchor:" in out, out
    assert f"case {other} (" not in out
    assert _cli(own, "verify", "--no-anchors")[0] == 0
    # The next anchor refuses to take the rewritten chain as the new truth: it keeps the old mark.
    code, out = _cli(own, "anchor")
    assert code == 1 and f"CONFLICT case {case_id}:" in out and "rewritten" in out, out
    assert _cli(own, "verify", "--case", str(case_id))[0] == 1


def test_a_dropped_last_event_with_its_head_fixed_is_found(flow: Flow, own: Flask) -> None:
    case_id = _triaged(flow)
    _anchor(own)
    with _db(own).sessions() as s:
        last = s.get(Case, case_id).event_count
    with _raw(own) as conn:
        conn.execute(text("DELETE FROM events WHERE case_id = :c AND seq = :s"), {"c": case_id, "s": last})
        _rechain(conn, case_id)

    assert _verify(own, with_anchors=False).ok
    broken = _verify(own).anchor_breaks
    assert [(b.case_id, b.problem) for b in broken] == [(case_id, "anchor")]
    assert f"filed {last} events, the chain now has {last - 1}" in broken[0].message
    code, out = _cli(own, "verify", "--case", str(case_id))
    assert code == 1 and f"filed {last} events" in out, out


def test_a_deleted_case_is_found(flow: Flow, own: Flask) -> None:
    case_id = _triaged(flow)
    kept = _triaged(flow, "留下的案件")
    _anchor(own)
    with _raw(own) as conn:
        if conn.dialect.name == "postgresql":  # foreign keys and triggers off, as a superuser may
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            conn.execute(text("PRAGMA foreign_keys = OFF"))
        conn.execute(text("DELETE FROM events WHERE case_id = :c"), {"c": case_id})
        conn.execute(text("DELETE FROM cases WHERE id = :c"), {"c": case_id})

    assert _verify(own, with_anchors=False).ok
    broken = _verify(own).anchor_breaks
    assert [(b.case_id, b.problem) for b in broken] == [(case_id, "anchor")]
    assert "no longer exists" in broken[0].message
    assert kept != case_id


# --- (b) the ledger's own chain: a removed or edited line is reported ------------------------------------


def _three_anchors(flow: Flow, own: Flask) -> list[str]:
    case_id = _triaged(flow)
    _anchor(own)
    flow.report(title="第二个")
    _anchor(own)
    flow.do("staff-s1c1", case_id, "prepare_whistle", FORMS["prepare_whistle"])
    _anchor(own)
    return _ledger_path(own).read_text("utf-8").splitlines()


def _write(own: Flask, lines: list[str]) -> None:
    _ledger_path(own).write_text("".join(line + "\n" for line in lines), "utf-8")


def test_a_removed_or_edited_anchor_line_is_reported(flow: Flow, own: Flask) -> None:
    lines = _three_anchors(flow, own)
    assert _cli(own, "verify")[0] == 0

    _write(own, [lines[0], lines[2]])  # the middle anchor removed
    code, out = _cli(own, "verify")
    assert code == 1 and "ledger line 2: anchor #3 names" in out and "removed or replaced" in out, out

    edited = lines[1].replace('"chains":', '"chains":1', 1)
    _write(own, [lines[0], edited, lines[2]])
    code, out = _cli(own, "verify")
    assert code == 1 and "ledger line 2: anchor #2 does not match its hash" in out, out
    with pytest.raises(anchor.AnchorError, match="line 2"):  # nothing is appended to a broken ledger
        anchor.anchor(_db(own), _ledger_path(own))
    assert _cli(own, "anchor")[0] == 2

    _write(own, lines[1:])  # the first anchor removed
    code, out = _cli(own, "verify")
    assert code == 1 and "ledger line 1" in out, out

    # The last line removed: the chain of the ledger cannot tell, the anchor hash the auditor filed can.
    _write(own, lines[:2])
    last_hash = json.loads(lines[2])["hash"]
    assert _cli(own, "verify")[0] == 0
    code, out = _cli(own, "verify", "--expect", last_hash)
    assert code == 1 and f"the filed anchor {last_hash} is not in the ledger" in out, out


def test_an_auditors_copy_is_checked_with_anchors_path(flow: Flow, own: Flask, tmp_path: Path) -> None:
    lines = _three_anchors(flow, own)
    copy = tmp_path / "filed" / "anchors-copy.jsonl"
    copy.parent.mkdir()
    copy.write_text("".join(line + "\n" for line in lines), "utf-8")
    _ledger_path(own).unlink()  # the live ledger is gone: the auditor's copy still checks the chains
    code, out = _cli(own, "verify", "--anchors", str(copy))
    assert code == 0 and "hold what 3 anchors" in out, out
    code, out = _cli(own, "anchor", "--path", str(copy), "--list")
    assert code == 0 and out.count("anchor hash") == 3 and out.startswith("anchor #1 at"), out
    assert _cli(own, "verify", "--anchors", str(tmp_path / "nowhere.jsonl"))[0] == 2


# --- (c) normal activity after an anchor still verifies ----------------------------------------------------


def test_normal_activity_after_an_anchor_still_verifies(flow: Flow, own: Flask) -> None:
    case_id = _triaged(flow)
    first = _anchor(own)
    assert first.summary["changed"] == 2 and first.conflicts == []  # the case and the system chain
    flow.do("staff-s1c1", case_id, "prepare_whistle", FORMS["prepare_whistle"])  # the chain grows
    flow.report(title="锚定之后")  # a new case
    Api(own.test_client(), {}).client.post("/api/tokens", json={"username": "op-dc", "password": "x"})
    result = _verify(own)
    assert result.ok and result.anchored == 2, result.anchor_breaks
    code, out = _cli(own, "verify")
    assert code == 0 and "hold what 1 anchors" in out, out
    second = _anchor(own)
    assert second.summary["changed"] == 3 and second.conflicts == []  # grown case, new case, system
    third = _anchor(own)
    assert third.summary["changed"] == 0  # nothing happened in between: an empty line
    result = _verify(own)
    assert result.ok and result.anchored == 3
    assert result.root == second.summary["root"] == third.summary["root"]


# --- periodic anchoring and concurrent writers -------------------------------------------------------------


def test_concurrent_anchors_make_one_line_each(flow: Flow, own: Flask) -> None:
    _triaged(flow)
    errors: list[BaseException] = []

    def take() -> None:
        try:
            anchor.anchor(_db(own), _ledger_path(own))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ledger = anchor.read_ledger(_ledger_path(own))
    assert ledger.problems == [] and [s["n"] for s in ledger.summaries] == [1, 2, 3, 4]


def test_the_scheduler_anchors_once_per_period(flow: Flow, own: Flask) -> None:
    _triaged(flow)
    runner = TimerScheduler(_db(own), anchor_path=_ledger_path(own), anchor_hours=6)
    runner.anchor()
    runner.anchor()  # a second scheduler (or a restart) within the period adds nothing
    assert len(anchor.read_ledger(_ledger_path(own)).summaries) == 1
    assert _verify(own).ok


# --- the application's database role cannot change the record or switch the triggers off ------------------


def test_the_app_role_runs_the_app_but_cannot_rewrite_the_record(
    backend: str, empty_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip("roles and triggers are PostgreSQL's (docs/audit.md, Roles)")
    role = f"whistle_app_{secrets.token_hex(4)}"
    owner = create_engine(empty_database_url)
    with owner.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" NOLOGIN'))
    try:
        monkeypatch.setenv("WHISTLE_DB_APP_ROLE", role)
        run_migrations(empty_database_url)  # as the owner; ends by granting the app role its privileges
        _the_app_works_as(role, empty_database_url, tmp_path)
        for statement in ("UPDATE events SET actor = 'x'", "DELETE FROM snapshots", "TRUNCATE events",
                          "ALTER TABLE events DISABLE TRIGGER USER", "DELETE FROM alembic_version"):
            with owner.connect() as conn, pytest.raises(DBAPIError, match=r"permission denied|must be (the )?owner"):
                conn.execute(text(f'SET ROLE "{role}"'))
                conn.execute(text(statement))
    finally:
        with owner.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
        owner.dispose()


def _the_app_works_as(role: str, url: str, tmp_path: Path) -> None:
    """Set up, report, triage, anchor and verify with every connection acting as the app role."""
    app = create_app(Settings(database_url=url, testing=True, upload_dir=tmp_path / "uploads",
                              anchor_path=tmp_path / "anchors.jsonl"))
    db = _db(app)

    @event.listens_for(db.engine, "connect")
    def _as_app_role(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f'SET ROLE "{role}"')
        dbapi_connection.commit()

    try:
        with db.unit_of_work() as session:
            assert session.scalar(text("SELECT current_user")) == role
            load_organisation(session, ROOT / "config" / "demo_org.yaml")
            deploy_directory(session, ROOT / "processes", "tests")
        _triaged(Flow(Api(app.test_client(), {})))
        _anchor(app)
        assert _cli(app, "verify")[0] == 0
    finally:
        db.dispose()
