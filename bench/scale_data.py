"""Fill a PostgreSQL database with a district's volume: 1,000,000 closed cases, 100,000 open tasks.

    .venv/bin/python -m bench.scale_data                        # full scale into database whistle_scale
    .venv/bin/python -m bench.scale_data --scale 0.01           # 10,000 closed cases, 1,000 open tasks
    .venv/bin/python -m bench.scale_data --database-url postgresql+psycopg://postgres@127.0.0.1:5432/mine

The database (created, or emptied if it exists) gets the migrations, the demo organisation and
``processes/``; then the simulator drives ``--templates`` real cases through the services (every kind
of task, 督办 entries, events and snapshots), and their rows are multiplied in SQL (INSERT … SELECT
generate_series), so the volume costs minutes, not hours. The shape is in bench/README.md.

Generated rows are for reading (inbox, lists, ledger, case pages): they carry no engine state and no
events; the template cases keep theirs, so a case page or history page is timed on a template.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url

from app import create_app
from app.cli import run_migrations
from app.db import Database
from app.definitions.versions import deploy_directory
from app.services.org import load_organisation
from app.services.simulate import leave_open_work, run_simulation
from app.settings import ROOT, Settings

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/whistle_scale"
CLOSED_CASES = 1_000_000
OPEN_TASKS = 100_000
HUGE_SHARE = 0.77  # of the open tasks, for the district platform's triage and verification (issue 17: 77,224)
BIG_SHARE = 0.15  # for the busiest department's staff (issue 17: 32,308 of them for one department)
SUPERVISED_SHARE = 0.05  # of the closed cases, that had a 督办 entry (struck off)
DAYS = 730  # closed cases reported over the last two years


@dataclass
class Shape:
    closed_cases: int
    open_tasks: int
    closed_tasks: int
    supervision: int
    seconds: float

    def lines(self) -> list[str]:
        return [f"{self.closed_cases:,} closed cases, {self.open_tasks:,} open tasks (one open case each), "
                f"{self.closed_tasks:,} completed tasks, {self.supervision:,} 督办 entries, in {self.seconds:.0f} s"]


def fill(url: str, scale: float = 1.0, templates: int = 60, closed_tasks_per_case: int = 2) -> Shape:
    """Migrate ``url``, drive template cases through the services, then multiply them in SQL."""
    started = time.perf_counter()
    run_migrations(url)
    app = create_app(Settings(database_url=url, testing=True, upload_dir=Path(tempfile.mkdtemp())))
    db: Database = app.extensions["whistle.db"]
    with db.unit_of_work() as s:
        load_organisation(s, ROOT / "config" / "demo_org.yaml")
        deploy_directory(s, ROOT / "processes", "scale")
    run_simulation(db, templates, seed=7)
    leave_open_work(db)
    db.dispose()
    closed, open_tasks = int(CLOSED_CASES * scale), int(OPEN_TASKS * scale)
    engine = create_engine(url)
    with engine.begin() as conn:
        # a bulk load: the rows are copies of rows that passed the foreign keys, so their per-row
        # triggers are skipped (needs a superuser, as the local test server's postgres is)
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        _templates(conn)
        _closed_cases(conn, closed, closed_tasks_per_case)
        _open_work(conn, open_tasks)
        _supervision(conn, int(closed * SUPERVISED_SHARE))
        _reset_sequences(conn)
        shape = Shape(closed, open_tasks, _count(conn, "tasks WHERE status = 'completed'"),
                      _count(conn, "supervision_entries"), 0.0)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    shape.seconds = time.perf_counter() - started
    return shape


def _run(conn: Connection, script: str, params: dict[str, int] | None = None) -> None:
    """Each statement of ``script`` in turn (a driver prepares one statement at a time)."""
    for statement in script.split(";\n"):
        if statement.strip():
            conn.execute(text(statement), {k: v for k, v in (params or {}).items() if f":{k}" in statement})


def _count(conn: Connection, what: str) -> int:
    return int(conn.scalar(text(f"SELECT count(*) FROM {what}")) or 0)


def _templates(conn: Connection) -> None:
    """Numbered copies of the simulated rows to multiply: closed cases, the grids (places), and the
    open tasks grouped by who holds them (the district platform, the busiest department, the rest)."""
    _run(conn, """
        CREATE TEMP TABLE t_closed AS SELECT row_number() OVER (ORDER BY id) - 1 AS rn, id FROM cases
        WHERE status = 'closed';
        CREATE TEMP TABLE t_grid AS SELECT row_number() OVER (ORDER BY id) - 1 AS rn, id FROM units
        WHERE NOT EXISTS (SELECT 1 FROM units c WHERE c.parent_id = units.id) AND kind <> 'department';
        CREATE TEMP TABLE t_gridpath AS WITH RECURSIVE up(place, unit_id, parent, depth) AS (
            SELECT id, id, parent_id, 0 FROM units WHERE id IN (SELECT id FROM t_grid)
            UNION ALL SELECT up.place, u.id, u.parent_id, up.depth + 1 FROM up JOIN units u ON u.id = up.parent)
        SELECT place, unit_id, depth FROM up;
        CREATE TEMP TABLE t_path AS SELECT case_id AS tmpl, unit_id, depth FROM case_units;
        CREATE TEMP TABLE t_open AS SELECT t.id, t.role, t.unit_id, t.task_type, u.parent_id IS NULL AS top,
            u.kind = 'department' AS dept FROM tasks t JOIN units u ON u.id = t.unit_id WHERE t.status = 'open';
    """)
    if not conn.scalar(text("SELECT count(*) FROM t_open")):
        raise RuntimeError("the template cases left no open task")


def _closed_cases(conn: Connection, n: int, per_case: int) -> None:
    """``n`` closed cases copied from the closed templates, on every grid, over the last two years;
    each with its path in case_units and ``per_case`` of its template's completed tasks."""
    base = int(conn.scalar(text("SELECT coalesce(max(id), 0) FROM cases")) or 0)
    _run(conn, f"""
        CREATE TEMP TABLE g_closed AS
        SELECT {base} + g AS id, g, (SELECT id FROM t_closed WHERE rn = g % (SELECT count(*) FROM t_closed)) AS tmpl,
               (SELECT id FROM t_grid WHERE rn = (g * 7) % (SELECT count(*) FROM t_grid)) AS place,
               now() AT TIME ZONE 'utc' - make_interval(secs => (g::float / :n) * {DAYS} * 86400 + 3600 * 30)
                 AS reported
        FROM generate_series(1, :n) AS g;
        ANALYZE g_closed;
        {_CASE_INSERT} SELECT g.id, 'S' || lpad(g.g::text, 9, '0'), md5('closed' || g.g), c.process_id,
            c.process_version_id, c.title, c.description, c.channel, c.address, c.reporter_name,
            '1380000' || lpad((g.g % 10000)::text, 4, '0'), c.reported_by_id, g.place, c.whistle_unit_id, NULL,
            c.matter, c.category, c.grade, c.level, c.urgent, 'closed', c.outcome, c.current_step, NULL,
            c.rework_count, c.return_count, c.satisfaction, g.reported, g.reported + interval '3 days',
            g.reported + interval '3 days', 0, '', c.serializer_version, '', 1
        FROM g_closed g JOIN cases c ON c.id = g.tmpl;
        INSERT INTO case_units (case_id, unit_id, depth)
        SELECT g.id, p.unit_id, p.depth FROM g_closed g JOIN t_gridpath p ON p.place = g.place;
        INSERT INTO case_units (case_id, unit_id, depth)
        SELECT g.id, p.unit_id, NULL FROM g_closed g JOIN t_path p ON p.tmpl = g.tmpl WHERE p.depth IS NULL
        ON CONFLICT DO NOTHING;
        CREATE TEMP TABLE t_ctask AS SELECT * FROM (SELECT row_number() OVER (PARTITION BY case_id ORDER BY id) AS rn,
            * FROM tasks WHERE status = 'completed' AND case_id IN (SELECT id FROM t_closed)) x WHERE rn <= :per_case;
        ANALYZE g_closed;
        ANALYZE t_ctask;
        INSERT INTO tasks (case_id, engine_task_id, task_type, title, stage, role, unit_id, form, context, status,
                           assignee_id, due_at, created_at, completed_at, completed_by_id)
        SELECT g.id, md5('ct' || g.g || '.' || t.id), t.task_type, t.title, t.stage, t.role, t.unit_id, t.form,
               '{{}}', 'completed', t.assignee_id, g.reported + interval '1 day', g.reported,
               g.reported + interval '1 day', t.completed_by_id
        FROM g_closed g JOIN t_ctask t ON t.case_id = g.tmpl;
    """, {"n": n, "per_case": per_case})


_CASE_INSERT = """INSERT INTO cases (id, number, tracking_code, process_id, process_version_id, title, description,
    channel, address, reporter_name, reporter_phone, reported_by_id, place_id, whistle_unit_id, parent_case_id,
    matter, category, grade, level, urgent, status, outcome, current_step, due_at, rework_count, return_count,
    satisfaction, created_at, updated_at, closed_at, event_count, chain_head, serializer_version, state,
    version)"""


def _open_work(conn: Connection, n: int) -> None:
    """``n`` open tasks, each on its own open case copied from the open task's template case: 77 % for the
    district platform (of the groups at the top unit, the one holding the most kinds of task: triage,
    verification, filing …), 15 % for the busiest department's group, the rest spread over every other group.
    Deadlines fall on the hour from 5 days overdue to 10 days ahead (ties are common, as in life)."""
    base = int(conn.scalar(text("SELECT coalesce(max(id), 0) FROM cases")) or 0)
    _run(conn, """
        CREATE TEMP TABLE t_group AS SELECT role, unit_id, bool_or(top) AS top, bool_or(dept) AS dept,
            array_agg(id ORDER BY id) AS ids, count(DISTINCT task_type) AS types FROM t_open GROUP BY role, unit_id;
        CREATE TEMP TABLE t_pick AS SELECT row_number() OVER (ORDER BY kind, role, unit_id) - 1 AS rn, * FROM (
            SELECT CASE WHEN top AND row_number() OVER (PARTITION BY top ORDER BY types DESC, role, unit_id) = 1 THEN 0
                        WHEN dept AND row_number() OVER (PARTITION BY dept ORDER BY cardinality(ids) DESC, role,
                                                         unit_id) = 1 THEN 1 ELSE 2 END AS kind, * FROM t_group) x;
    """)
    shares = {0: HUGE_SHARE, 1: BIG_SHARE}
    kinds = dict(conn.execute(text("SELECT kind, count(*) FROM t_pick GROUP BY kind")).all())
    huge_n = int(n * shares[0]) if kinds.get(0) else 0
    big_n = int(n * shares[1]) if kinds.get(1) else 0
    _run(conn, f"""
        CREATE TEMP TABLE g_open AS
        SELECT {base} + g AS id, g, (SELECT p.ids[1 + g % cardinality(p.ids)] FROM t_pick p WHERE p.rn = (
            CASE WHEN g <= :huge THEN (SELECT min(rn) FROM t_pick WHERE kind = 0)
                 WHEN g <= :huge + :big THEN (SELECT min(rn) FROM t_pick WHERE kind = 1)
                 ELSE (SELECT min(rn) FROM t_pick WHERE kind = 2) + g % greatest(1, (SELECT count(*) FROM t_pick
                                                                                 WHERE kind = 2)) END)) AS task,
            date_trunc('hour', now() AT TIME ZONE 'utc') + make_interval(hours => (g * 37) % 360 - 120) AS due
        FROM generate_series(1, :n) AS g;
        ANALYZE g_open;
        {_CASE_INSERT} SELECT g.id, 'O' || lpad(g.g::text, 9, '0'), md5('open' || g.g), c.process_id,
            c.process_version_id, c.title, c.description, c.channel, c.address, c.reporter_name,
            '1390000' || lpad((g.g % 10000)::text, 4, '0'), c.reported_by_id, c.place_id, c.whistle_unit_id, NULL,
            c.matter, c.category, c.grade, c.level, c.urgent, 'open', NULL, c.current_step, g.due,
            c.rework_count, c.return_count, NULL, g.due - interval '5 days', g.due - interval '4 days', NULL, 0, '',
            c.serializer_version, '', 1
        FROM g_open g JOIN tasks t ON t.id = g.task JOIN cases c ON c.id = t.case_id;
        INSERT INTO case_units (case_id, unit_id, depth)
        SELECT g.id, p.unit_id, p.depth FROM g_open g JOIN tasks t ON t.id = g.task JOIN t_path p ON p.tmpl = t.case_id;
        INSERT INTO tasks (case_id, engine_task_id, task_type, title, stage, role, unit_id, form, context, status,
                           assignee_id, due_at, created_at)
        SELECT g.id, md5('ot' || g.g), t.task_type, t.title, t.stage, t.role, t.unit_id, t.form, t.context, 'open',
               CASE WHEN g.g % 50 = 0 THEN t.assignee_id END, g.due, g.due - interval '5 days'
        FROM g_open g JOIN tasks t ON t.id = g.task;
    """, {"n": n, "huge": huge_n, "big": big_n})


def _supervision(conn: Connection, n: int) -> None:
    """督办: an open entry for every open task overdue by more than a day outside the district platform,
    and ``n`` struck-off entries spread over the closed cases."""
    _run(conn, """
        INSERT INTO supervision_entries (case_id, task_id, unit_id, task_type, stage, due_at, opened_at, status)
        SELECT t.case_id, t.id, t.unit_id, t.task_type, t.stage, t.due_at, t.due_at, 'open'
        FROM g_open g JOIN tasks t ON t.case_id = g.id
        WHERE t.due_at < now() AT TIME ZONE 'utc' - interval '1 day'
          AND t.role || '@' || t.unit_id NOT IN (SELECT role || '@' || unit_id FROM t_pick WHERE kind = 0);
        INSERT INTO supervision_entries (case_id, task_id, unit_id, task_type, stage, due_at, opened_at, status,
                                         closed_at, late_minutes)
        SELECT g.id, NULL, t.unit_id, t.task_type, t.stage, g.reported + interval '1 day',
               g.reported + interval '1 day', 'cleared', g.reported + interval '30 hours', 360
        FROM g_closed g JOIN t_ctask t ON t.case_id = g.tmpl AND t.rn = 1
        WHERE g.g % greatest(1, (SELECT count(*) FROM g_closed) / greatest(:n, 1)) = 0;
    """, {"n": n})


def _reset_sequences(conn: Connection) -> None:
    for table in ("cases", "case_units", "tasks", "supervision_entries"):
        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                          f"(SELECT coalesce(max(id), 1) FROM {table}))"))


def recreate(url: str) -> None:
    """An empty database at ``url`` (dropped first if it exists)."""
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_URL, help="PostgreSQL database to (re)create and fill")
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1,000,000 closed cases, 100,000 open tasks")
    parser.add_argument("--templates", type=int, default=60, help="cases simulated through the services first")
    args = parser.parse_args()
    recreate(args.database_url)
    shape = fill(args.database_url, args.scale, args.templates)
    print("\n".join(shape.lines()))


if __name__ == "__main__":
    main()
