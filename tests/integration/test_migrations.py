"""Alembic is the only way the schema is made: models and migrations agree, and both directions run."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text

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


def test_the_ledger_migration_keeps_answers_and_transfers_stranded_entries(empty_database_url: str) -> None:
    """0005_ledger: an entry answered before it gets the answer from its event; an open entry whose
    late task was cancelled by an escalation is transferred to the escalated whistle; down again, a
    transferred entry is open (0004 knows no other) and a cleared one keeps its time."""
    from datetime import date, datetime

    from sqlalchemy import MetaData, Table, select

    run_migrations(empty_database_url, "0004_audit")
    engine = create_engine(empty_database_url)
    now = datetime(2026, 6, 8, 7, 0)
    try:
        meta = MetaData()
        t = {name: Table(name, meta, autoload_with=engine) for name in (
            "units", "users", "process_versions", "cases", "tasks", "supervision_entries", "events")}
        case = {"process_id": "whistle", "process_version_id": 1, "title": "违规广告", "description": "",
                "channel": "web", "address": "", "reporter_name": "", "reporter_phone": "", "grid_id": 1,
                "community_id": 1, "street_id": 1, "district_id": 1, "status": "closed", "current_step": "",
                "rework_count": 0, "return_count": 0, "urgent": False, "created_at": now, "updated_at": now,
                "event_count": 1, "serializer_version": "", "state": "", "version": 1, "chain_head": ""}
        task = {"title": "部门报到", "stage": "report_in", "role": "dept_staff", "unit_id": 1, "form": "",
                "context": {}, "created_at": now}
        entry = {"unit_id": 1, "task_type": "report_in", "stage": "report_in", "due_at": now, "opened_at": now}
        with engine.begin() as conn:
            conn.execute(t["units"].insert(), [{"id": 1, "code": "dept-hw", "name": "环卫", "kind": "department"}])
            conn.execute(t["users"].insert(), [{"id": 7, "username": "hw-head", "name": "环卫一把手",
                                                "password_hash": "x", "active": True}])
            conn.execute(t["process_versions"].insert(), [{"id": 1, "version": 1, "content_hash": "x", "files": {},
                                                           "deployed_at": now, "deployed_by": "t"}])
            conn.execute(t["cases"].insert(), [
                {**case, "id": 1, "number": "N1", "tracking_code": "T1", "outcome": "escalated",
                 "parent_case_id": None},
                {**case, "id": 2, "number": "N2", "tracking_code": "T2", "outcome": None, "parent_case_id": 1,
                 "status": "open"}])
            conn.execute(t["tasks"].insert(), [
                {**task, "id": 1, "case_id": 1, "engine_task_id": "late", "task_type": "report_in",
                 "status": "cancelled", "completed_at": datetime(2026, 6, 9, 2, 1)},
                {**task, "id": 2, "case_id": 1, "engine_task_id": "done", "task_type": "report_in",
                 "status": "completed", "completed_at": datetime(2026, 6, 8, 8, 30)}])
            conn.execute(t["supervision_entries"].insert(), [
                {**entry, "id": 1, "case_id": 1, "task_id": 1, "status": "open", "cleared_at": None,
                 "late_minutes": None},
                {**entry, "id": 2, "case_id": 1, "task_id": 2, "status": "cleared",
                 "cleared_at": datetime(2026, 6, 8, 8, 30), "late_minutes": 90}])
            conn.execute(t["events"].insert(), [{
                "case_id": 1, "seq": 1, "type": "supervision_answered", "actor": "hw-head", "actor_id": 7,
                "data": {"entry": 2, "task": "report_in", "reason": "在外执法", "measures": "增派人员",
                         "promised_date": "2026-06-09"},
                "created_at": datetime(2026, 6, 8, 7, 30), "state_version": 1, "process_version_id": 1,
                "prev_hash": "", "hash": ""}])

        run_migrations(empty_database_url, "0005_ledger")
        entries = Table("supervision_entries", MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            rows = {row.id: row for row in conn.execute(select(entries))}
        transferred, answered = rows[1], rows[2]
        assert (transferred.status, transferred.closed_at, transferred.transferred_to_id) == (
            "transferred", datetime(2026, 6, 9, 2, 1), 2)
        assert transferred.late_minutes == 19 * 60 + 1 and transferred.answered_at is None
        assert (answered.status, answered.closed_at, answered.late_minutes) == (
            "cleared", datetime(2026, 6, 8, 8, 30), 90)
        assert (answered.answer_reason, answered.answer_measures, answered.promised_date) == (
            "在外执法", "增派人员", date(2026, 6, 9))
        assert (answered.answered_at, answered.answered_by_id) == (datetime(2026, 6, 8, 7, 30), 7)

        run_migrations(empty_database_url, "0004_audit", "downgrade")
        entries = Table("supervision_entries", MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            rows = {row.id: row for row in conn.execute(select(entries))}
        assert (rows[1].status, rows[1].cleared_at) == ("open", None)
        assert (rows[2].status, rows[2].cleared_at) == ("cleared", datetime(2026, 6, 8, 8, 30))
        assert "answer_reason" not in entries.c
    finally:
        engine.dispose()


def test_the_case_path_migration_keeps_each_cases_four_units_as_its_path(empty_database_url: str) -> None:
    """0006_case_path: a case's grid, community, street and district become its place and its path
    (depths 0–3) — including one whose path link was missing — and come back on the way down."""
    from datetime import datetime

    from sqlalchemy import MetaData, Table, select

    run_migrations(empty_database_url, "0005_ledger")
    engine = create_engine(empty_database_url)
    now = datetime(2026, 6, 8, 7, 0)
    units = [(1, "dc", "district", None), (2, "dc-s1", "street", 1), (3, "dc-s1-c1", "community", 2),
             (4, "dc-s1-c1-g1", "grid", 3), (5, "dept-hw", "department", 1)]
    try:
        meta = MetaData()
        t = {name: Table(name, meta, autoload_with=engine) for name in (
            "units", "process_versions", "cases", "case_units")}
        with engine.begin() as conn:
            conn.execute(t["units"].insert(), [{"id": i, "code": c, "name": c, "kind": k, "parent_id": p}
                                               for i, c, k, p in units])
            conn.execute(t["process_versions"].insert(), [{"id": 1, "version": 1, "content_hash": "x", "files": {},
                                                           "deployed_at": now, "deployed_by": "t"}])
            conn.execute(t["cases"].insert(), [{
                "id": 1, "number": "N1", "tracking_code": "T1", "process_id": "case", "process_version_id": 1,
                "title": "路灯不亮", "description": "", "channel": "web", "address": "", "reporter_name": "",
                "reporter_phone": "", "grid_id": 4, "community_id": 3, "street_id": 2, "district_id": 1,
                "status": "open", "current_step": "", "rework_count": 0, "return_count": 0, "urgent": False,
                "created_at": now, "updated_at": now, "event_count": 0, "serializer_version": "", "state": "",
                "version": 1, "chain_head": ""}])
            # the district's link is missing; the department was linked by a dispatch
            conn.execute(t["case_units"].insert(), [{"case_id": 1, "unit_id": u} for u in (4, 3, 2, 5)])
        run_migrations(empty_database_url, "0006_case_path")
        meta = MetaData()
        cases, links = (Table(n, meta, autoload_with=engine) for n in ("cases", "case_units"))
        with engine.connect() as conn:
            assert conn.execute(select(cases.c.place_id)).scalar_one() == 4
            depths = dict(conn.execute(select(links.c.unit_id, links.c.depth)).all())
        assert depths == {4: 0, 3: 1, 2: 2, 1: 3, 5: None}
        run_migrations(empty_database_url, "0005_ledger", "downgrade")
        meta = MetaData()
        cases = Table("cases", meta, autoload_with=engine)
        with engine.connect() as conn:
            row = conn.execute(select(cases.c.grid_id, cases.c.community_id, cases.c.street_id,
                                      cases.c.district_id)).one()
        assert tuple(row) == (4, 3, 2, 1)
    finally:
        engine.dispose()


def test_the_binary_hashes_migration_keeps_every_hash_exactly(empty_database_url: str) -> None:
    """0020_binary_hashes: the hex digests become their 32 bytes ("" the empty bytes), read back as the
    same hex text, and the downgrade restores the hex text exactly; the case_id indexes go and come back."""
    from datetime import datetime

    from sqlalchemy import MetaData, Table

    run_migrations(empty_database_url, "0019_assessment_partial_indexes")
    engine = create_engine(empty_database_url)
    now = datetime(2026, 12, 4, 9, 0)
    head, state, projection = "ab" * 32, "0f" * 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    hexes = {"events": [("", "12" * 32), ("12" * 32, head)], "snapshots": [(state, projection)],
             "cases": [(head,)]}
    try:
        meta = MetaData()
        t = {name: Table(name, meta, autoload_with=engine) for name in (
            "units", "process_versions", "cases", "events", "snapshots")}
        with engine.begin() as conn:
            conn.execute(t["units"].insert(), [{"id": 1, "code": "u", "name": "u", "kind": "k"}])
            conn.execute(t["process_versions"].insert(), [{"id": 1, "version": 1, "content_hash": "x", "files": {},
                                                           "deployed_at": now, "deployed_by": "t"}])
            conn.execute(t["cases"].insert(), [{
                "id": 1, "number": "N1", "tracking_code": "T1", "process_id": "case", "process_version_id": 1,
                "title": "t", "description": "", "channel": "web", "address": "", "reporter_name": "",
                "reporter_phone": "", "place_id": 1, "status": "open", "current_step": "", "rework_count": 0,
                "return_count": 0, "urgent": False, "created_at": now, "updated_at": now, "event_count": 2,
                "serializer_version": "", "state": "", "version": 1, "chain_head": head}])
            conn.execute(t["events"].insert(), [
                {"case_id": 1, "seq": seq, "type": "x", "actor": "a", "data": {}, "created_at": now,
                 "prev_hash": prev, "hash": digest} for seq, (prev, digest) in enumerate(hexes["events"], 1)])
            conn.execute(t["snapshots"].insert(), [{
                "case_id": 1, "state_version": 1, "serializer_version": "1", "state": b"z", "is_delta": False,
                "state_hash": state, "projection_hash": projection, "created_at": now}])
        run_migrations(empty_database_url)
        assert _stored(engine) == {table: [tuple(bytes.fromhex(h) for h in row) for row in rows]
                                   for table, rows in hexes.items()}
        assert not {"ix_events_case_id", "ix_snapshots_case_id"} & _indexes(engine)
        _read_as_hex(empty_database_url, hexes)
        run_migrations(empty_database_url, "0019_assessment_partial_indexes", "downgrade")
        assert _stored(engine) == hexes
        assert {"ix_events_case_id", "ix_snapshots_case_id"} <= _indexes(engine)
    finally:
        engine.dispose()


def _stored(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """The raw values of the hash columns, as the database holds them."""
    queries = {"events": "SELECT prev_hash, hash FROM events ORDER BY seq",
               "snapshots": "SELECT state_hash, projection_hash FROM snapshots",
               "cases": "SELECT chain_head FROM cases"}
    with engine.connect() as conn:
        return {table: [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                        for row in conn.execute(text(query))] for table, query in queries.items()}


def _indexes(engine: Engine) -> set[str]:
    found = inspect(engine)
    return {ix["name"] for table in ("events", "snapshots") for ix in found.get_indexes(table)}


def _read_as_hex(url: str, hexes: dict[str, list[tuple[str, ...]]]) -> None:
    """Through the models the hashes are the hex text they were, and the chain code sees no change."""
    from sqlalchemy import select

    from app.db import Database
    from app.models import Case, Event, Snapshot

    db = Database(url)
    try:
        with db.sessions() as s:
            assert [tuple(r) for r in s.execute(select(Event.prev_hash, Event.hash).order_by(Event.seq))] \
                == hexes["events"]
            assert [tuple(r) for r in s.execute(select(Snapshot.state_hash, Snapshot.projection_hash))] \
                == hexes["snapshots"]
            assert s.get(Case, 1).chain_head == hexes["cases"][0][0]
    finally:
        db.dispose()


def test_the_compressed_state_migration_keeps_every_state_exactly(empty_database_url: str) -> None:
    """0021_compressed_state: a stored state reads back as the same text before and after the case's
    next write (which compresses it), and the downgrade gives back the text of each."""
    from datetime import datetime

    from sqlalchemy import MetaData, Table

    from app import compression
    from app.db import Database
    from app.models import Case

    run_migrations(empty_database_url, "0020_binary_hashes")
    engine = create_engine(empty_database_url)
    now = datetime(2026, 12, 4, 9, 0)
    states = {1: '{"data":{"title":"占道经营 夜市"},"tasks":{}}', 2: "", 3: '{"data":{"n":1}}' * 500}
    try:
        meta = MetaData()
        t = {name: Table(name, meta, autoload_with=engine) for name in ("units", "process_versions", "cases")}
        with engine.begin() as conn:
            conn.execute(t["units"].insert(), [{"id": 1, "code": "u", "name": "u", "kind": "k"}])
            conn.execute(t["process_versions"].insert(), [{"id": 1, "version": 1, "content_hash": "x", "files": {},
                                                           "deployed_at": now, "deployed_by": "t"}])
            conn.execute(t["cases"].insert(), [{
                "id": case_id, "number": f"N{case_id}", "tracking_code": f"T{case_id}", "process_id": "case",
                "process_version_id": 1, "title": "t", "description": "", "channel": "web", "address": "",
                "reporter_name": "", "reporter_phone": "", "place_id": 1, "status": "open", "current_step": "",
                "rework_count": 0, "return_count": 0, "urgent": False, "created_at": now, "updated_at": now,
                "event_count": 0, "serializer_version": "", "state": state, "version": 1, "chain_head": b""}
                for case_id, state in states.items()])
        run_migrations(empty_database_url)
        db = Database(empty_database_url)
        try:
            with db.unit_of_work() as s:
                assert {case_id: s.get(Case, case_id).state for case_id in states} == states
                s.get(Case, 3).state = states[3] + " "  # the case's next step writes it compressed
            with db.sessions() as s:
                assert s.get(Case, 3).state == states[3] + " "
        finally:
            db.dispose()
        with engine.connect() as conn:
            stored = dict(conn.execute(text("SELECT id, state FROM cases")).all())
        assert bytes(stored[1]) == states[1].encode() and compression.is_zstd(bytes(stored[3]))
        assert len(bytes(stored[3])) * 20 < len(states[3])
        run_migrations(empty_database_url, "0020_binary_hashes", "downgrade")
        with engine.connect() as conn:
            assert dict(conn.execute(text("SELECT id, state FROM cases")).all()) == states | {3: states[3] + " "}
    finally:
        engine.dispose()
