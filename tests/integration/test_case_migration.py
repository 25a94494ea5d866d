"""迁移 Moving running cases onto another process version: the dry run, the migration step in the
case's chain, the new task in the inbox, and replay across the migration. Each test has a database
of its own (own_app): it deploys versions."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from app.models import Case, Event, ProcessVersion, Task, User
from app.services import migration
from app.services.replay import replay_case
from tests.conftest import Api
from tests.integration.flow import FORMS, Flow
from tests.integration.migration_fixtures import deploy_files, files_of, triage_as_script, with_confirm_task


def _case_row(app: Flask, case_id: int) -> tuple[int, int, str, str]:
    with app.extensions["whistle.db"].unit_of_work() as s:
        case = s.get(Case, case_id)
        assert case is not None
        return case.process_version.version, case.version, case.chain_head, case.current_step


def _migrate(app: Flask, case_id: int, to: int) -> migration.CaseReport:
    db = app.extensions["whistle.db"]
    with db.unit_of_work() as s:
        admin = s.scalar(select(User).where(User.username == "admin"))
        assert admin is not None
        admin_id = admin.id
    [report] = migration.migrate_cases(db.unit_of_work, [case_id], to, admin_id)
    return report


def test_a_case_waiting_at_triage_moves_onto_a_version_with_a_new_task_after_it(own_app: Flask) -> None:
    api = Api(own_app.test_client(), {})
    flow = Flow(api)
    case_id = flow.report()["id"]
    assert flow.open_types(case_id) == ["triage"]
    v2 = deploy_files(own_app, with_confirm_task(files_of(own_app, 1)), "研判后加复核")
    db = own_app.extensions["whistle.db"]
    with db.unit_of_work() as s:
        chosen = migration.choose(s, migration.Selection(from_version=1, step="triage"), {u for u in range(1, 10_000)})
        assert case_id in [c.id for c in chosen]
        [dry] = migration.dry_run(s, [c for c in chosen if c.id == case_id], v2)
    assert dry.ok and dry.reason is None
    assert _case_row(own_app, case_id)[0] == 1  # the dry run stored nothing

    report = _migrate(own_app, case_id, v2)
    assert report.ok and report.migrated, report
    assert _case_row(own_app, case_id)[0] == v2
    with db.unit_of_work() as s:
        moved = s.scalar(select(Event).where(Event.case_id == case_id, Event.type == "case_migrated"))
        assert moved is not None
        assert (moved.actor, moved.data["from_version"], moved.data["to_version"]) == ("admin", 1, v2)

    flow.do("op-dc", case_id, "triage", {"grade": 2, "matter": "garbage_overflow", "urgent": False})
    assert flow.open_types(case_id) == ["triage_confirm"]
    flow.do("op-dc", case_id, "triage_confirm", {"feedback": "复核无误"})
    assert "triage_confirm" not in flow.open_types(case_id)
    with db.unit_of_work() as s:
        result = replay_case(s, case_id)
    assert result.ok, result.line()


def test_a_case_that_cannot_move_is_refused_with_its_reason_and_left_unchanged(own_app: Flask) -> None:
    flow = Flow(Api(own_app.test_client(), {}))
    case_id = flow.report()["id"]
    v2 = deploy_files(own_app, triage_as_script(files_of(own_app, 1)), "自动研判")
    before = _case_row(own_app, case_id)
    db = own_app.extensions["whistle.db"]
    with db.unit_of_work() as s:
        case = s.get(Case, case_id)
        assert case is not None
        [dry] = migration.dry_run(s, [case], v2)
    assert not dry.ok and "triage" in (dry.reason or "") and "kind" in (dry.reason or ""), dry

    report = _migrate(own_app, case_id, v2)
    assert not report.ok and not report.migrated and report.reason == dry.reason
    assert _case_row(own_app, case_id) == before  # version column, step, chain head: as they were
    with db.unit_of_work() as s:
        assert s.scalar(select(Event).where(Event.case_id == case_id, Event.type == "case_migrated")) is None
        assert [t.task_type for t in s.scalars(select(Task).where(Task.case_id == case_id, Task.status == "open"))] \
            == ["triage"]
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"])  # it goes on, on version 1


def test_replay_refuses_a_version_column_moved_without_a_recorded_migration(own_app: Flask) -> None:
    flow = Flow(Api(own_app.test_client(), {}))
    case_id = flow.report()["id"]
    deploy_files(own_app, with_confirm_task(files_of(own_app, 1)), "v2")
    db = own_app.extensions["whistle.db"]
    with db.unit_of_work() as s:
        case = s.get(Case, case_id)
        assert case is not None
        case.process_version_id = s.scalar(select(ProcessVersion.id).where(ProcessVersion.version == 2))
    with db.unit_of_work() as s:
        result = replay_case(s, case_id)
    assert not result.ok and result.divergence is not None and "pinned to" in result.divergence.message
