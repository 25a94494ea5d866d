"""Alembic is the only way the schema is made: models and migrations agree, and both directions run."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from app.cli import run_migrations
from app.models import Base


def _diff(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_migrations_match_the_models(empty_database_url: str) -> None:
    run_migrations(empty_database_url)
    assert _diff(empty_database_url) == []
    assert _tables(empty_database_url) == set(Base.metadata.tables)


def test_downgrade_to_base_and_upgrade_again(empty_database_url: str) -> None:
    run_migrations(empty_database_url)
    run_migrations(empty_database_url, "base", "downgrade")
    assert _tables(empty_database_url) == set()
    run_migrations(empty_database_url)
    assert _diff(empty_database_url) == []


def test_the_audit_migration_chains_events_recorded_before_it(empty_database_url: str) -> None:
    """Events written before 0004_audit get their hash chain (and canonical data) in the upgrade."""
    from datetime import datetime

    from sqlalchemy import MetaData, Table

    from app.db import Database
    from app.services.audit import verify

    run_migrations(empty_database_url, "0001")
    engine = create_engine(empty_database_url)
    try:
        meta = MetaData()
        tables = {name: Table(name, meta, autoload_with=engine)
                  for name in ("units", "process_versions", "cases", "events")}
        now = datetime(2026, 11, 1, 8, 0, 0, 5)
        with engine.begin() as conn:
            conn.execute(tables["units"].insert(), [{"id": 1, "code": "dc", "name": "区", "kind": "district"}])
            conn.execute(tables["process_versions"].insert(), [{"id": 1, "version": 1, "content_hash": "x",
                                                                "files": {}, "deployed_at": now,
                                                                "deployed_by": "t"}])
            conn.execute(tables["cases"].insert(), [{
                "id": 1, "number": "N1", "tracking_code": "T1", "process_id": "case", "process_version_id": 1,
                "title": "旧案件", "description": "", "channel": "web", "address": "", "reporter_name": "",
                "reporter_phone": "", "grid_id": 1, "community_id": 1, "street_id": 1, "district_id": 1,
                "status": "open", "current_step": "", "rework_count": 0, "return_count": 0, "urgent": False,
                "created_at": now, "updated_at": now, "event_count": 2, "serializer_version": "", "state": "",
                "version": 2}])
            conn.execute(tables["events"].insert(), [
                {"case_id": 1, "seq": 1, "type": "case_created", "actor": "gw", "data": {"标题": "旧", "b": 1},
                 "created_at": now, "state_version": 1, "process_version_id": 1},
                {"case_id": 1, "seq": 2, "type": "task_completed", "actor": "op", "data": {"form": {"grade": 2}},
                 "created_at": now, "state_version": 2, "process_version_id": 1},
                {"case_id": None, "seq": 0, "type": "login_failed", "actor": "x", "data": {}, "created_at": now,
                 "state_version": None, "process_version_id": None},
            ])
    finally:
        engine.dispose()
    run_migrations(empty_database_url)
    db = Database(empty_database_url)
    try:
        with db.sessions() as s:
            result = verify(s, snapshots=True)
        assert result.ok, result.first_break
        assert (result.chains, result.events) == (2, 3)
    finally:
        db.dispose()
