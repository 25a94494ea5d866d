"""统计考核 at a district's scale: the dashboard, a department's page, a year's ranking and a drill-down
over ~50,000 cases a month (Dongcheng received 598,429 cases in 2018), on PostgreSQL.

The database is a fresh one of its own (``whistle_scale_bench_<random>``, dropped at the end unless
``--keep``): migrations, the demo organisation, ``processes/`` deployed; then the rows the indicators
read are generated in bulk by ``INSERT … SELECT … generate_series`` (no engine, no services: shares
below, bench/README.md). The pages and the API are fetched through the Flask test client as the
district's secretary (template, queries and all); each is timed cold (its first request in the
process) and warm (median of ``--repeat`` more). With ``--warm`` the app is first warmed as ``serve``
warms gunicorn's master before it forks (``app.serve.warm``): cold is then a served worker's first request.

    .venv/bin/python -m bench.assessment_scale                       # 12 months × 50,000 cases
    .venv/bin/python -m bench.assessment_scale --months 1 --cases-per-month 5000 --keep
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app import create_app
from app.cli import run_migrations
from app.db import temporary_postgres_database
from app.definitions.versions import deploy_directory
from app.serve import warm
from app.services.org import load_organisation
from app.settings import ROOT, Settings

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
USER = "sec-dc"  # the district's secretary: assesses every unit
YEAR = 2026
DEPARTMENT = "dept-cgzf"


@dataclass(frozen=True)
class Probe:
    name: str
    path: str
    goal_ms: float | None


def probes(months: int) -> list[Probe]:
    month = f"{YEAR}-{months:02d}"  # the last month generated
    return [
        Probe("dashboard, a month", f"/assessment/?month={month}", 1000),
        Probe("department page, a month", f"/assessment/departments/{DEPARTMENT}?month={month}", 1000),
        Probe("ranking API, the year", f"/api/assessment/rankings?year={YEAR}", 5000),
        Probe("dashboard, the year", f"/assessment/?year={YEAR}", None),
        Probe("drill-down, a department's 按期办结率, a month",
              f"/assessment/cases?side=departments&code=handled_on_time_rate&unit={DEPARTMENT}&month={month}", None),
    ]


@dataclass
class Figures:
    months: int
    cases_per_month: int
    fill_s: float
    rows: dict[str, int]
    cold_ms: dict[str, float] = field(default_factory=dict)
    warm_ms: dict[str, float] = field(default_factory=dict)


def run(url: str, months: int, cases_per_month: int, repeat: int = 3, warmed: bool = False) -> Figures:
    run_migrations(url)
    app = _app(url)
    db = app.extensions["whistle.db"]
    with db.unit_of_work() as s:
        load_organisation(s, ROOT / "config" / "demo_org.yaml")
        deploy_directory(s, ROOT / "processes", "bench")
    start = time.perf_counter()
    with db.unit_of_work() as s:
        fill(s, months, cases_per_month)
    fill_s = time.perf_counter() - start
    db.dispose()
    return measure(url, months, cases_per_month, repeat, fill_s, warmed)


def _app(url: str) -> Flask:
    return create_app(Settings(database_url=url, testing=True, upload_dir=Path(tempfile.mkdtemp())))


def measure(url: str, months: int, cases_per_month: int, repeat: int, fill_s: float = 0.0,
            warmed: bool = False) -> Figures:
    """The pages timed on a filled database (a fresh app: its first request of each page is cold;
    ``warmed``: after what ``serve`` does before forking its workers)."""
    _vacuum(url)
    app = _app(url)
    if warmed:
        warm(app)
    db = app.extensions["whistle.db"]
    with db.unit_of_work() as s:
        rows = {t: int(s.scalar(text(f"SELECT count(*) FROM {t}")) or 0) for t in TABLES}
    figures = Figures(months, cases_per_month, fill_s, rows)
    client = app.test_client()
    _login(client)
    for probe in probes(months):
        timings = []
        for _ in range(1 + repeat):
            start = time.perf_counter()
            resp = client.get(probe.path)
            timings.append((time.perf_counter() - start) * 1000)
            assert resp.status_code == 200, (probe.path, resp.status_code, resp.get_data(as_text=True)[:500])
        figures.cold_ms[probe.name], figures.warm_ms[probe.name] = timings[0], statistics.median(timings[1:])
    db.dispose()
    return figures


def _vacuum(url: str) -> None:
    """VACUUM ANALYZE: what autovacuum does to a table after so many inserts (the visibility map that
    index-only scans need, the planner's statistics); a bulk load in one transaction leaves it to come."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def _login(client: object) -> None:
    page = client.get("/login").get_data(as_text=True)  # type: ignore[attr-defined]
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert token, "no CSRF token on the login page"
    client.post("/login", data={"username": USER, "password": "demo1234",  # type: ignore[attr-defined]
                                "csrf_token": token.group(1)})


TABLES = ("cases", "case_units", "report_ins", "tasks", "events", "evaluations", "supervision_entries")

# Every case n (1…total) gets its shape from n alone, so each table's rows derive from the case's
# and a run is reproducible. Shares (per 100 cases unless said): grade 1 self-handled 14 (Dongcheng
# 2018: 82,930 of 598,429), grade 2 dispatched 76, grade 3 whistles 10; whistle levels per 100
# whistles: community 86, street 13, district 1 (Guandu 2023: 670/100/4); 2 or 3 departments summoned
# per whistle. See bench/README.md for the rest.
SHAPE = """
CREATE TEMP TABLE bench_case AS
SELECT n, m, created,
       CASE WHEN n % 100 < 14 THEN 1 WHEN n % 100 < 90 THEN 2 ELSE 3 END AS grade,
       CASE WHEN n % 100 < 90 THEN NULL WHEN (n / 100) % 100 < 86 THEN 'community'
            WHEN (n / 100) % 100 < 99 THEN 'street' ELSE 'district' END AS level,
       (n * 31) % 100 < 92 AS closed,
       (n * 7) % 100 < 6 AS reworked,
       2 + n % 2 AS summoned,
       g.grid_id, g.community_id, g.street_id
FROM (SELECT n, (n - 1) / :per AS m,
             make_timestamp(:year, 1, 1, 0, 0, 0) + make_interval(months => ((n - 1) / :per)::int)
               - interval '8 hours' + ((n - 1) % :per) * (interval '1 second' * (27.5 * 86400 / :per)) AS created
      FROM generate_series(1, :total) AS n) AS c
JOIN bench_grid g ON g.i = c.n % (SELECT count(*) FROM bench_grid)
"""

FILL = [
    # cases: closed 92 %, of whistles 2 % escalated; rework 6 %; call-backs of closed cases:
    # satisfied 68, basically satisfied 8, dissatisfied 4, none 20
    """
    INSERT INTO cases (id, number, tracking_code, process_id, process_version_id, title, description, channel,
        address, reporter_name, reporter_phone, place_id, whistle_unit_id, matter, category, grade, level,
        urgent, status, outcome, current_step, due_at, rework_count, return_count, satisfaction, created_at,
        updated_at, closed_at, event_count, chain_head, serializer_version, state, version)
    SELECT n, 'B' || n, 'T' || n, 'whistle', :version, '基准案件 ' || n, '', 'web', '', '', '', grid_id,
        CASE level WHEN 'community' THEN community_id WHEN 'street' THEN street_id
                   WHEN 'district' THEN :district END,
        'garbage_overflow', 'city_mgmt', grade, level, false,
        CASE WHEN closed THEN 'closed' ELSE 'open' END,
        CASE WHEN NOT closed THEN NULL WHEN grade = 1 THEN 'self_handled'
             WHEN level IS NOT NULL AND n % 50 = 0 THEN 'escalated' ELSE 'closed' END,
        '', created + interval '5 days', CASE WHEN reworked THEN 1 ELSE 0 END, 0,
        CASE WHEN NOT closed THEN NULL WHEN (n * 17) % 100 < 68 THEN 'satisfied'
             WHEN (n * 17) % 100 < 76 THEN 'basically_satisfied' WHEN (n * 17) % 100 < 80 THEN 'dissatisfied' END,
        created, created, CASE WHEN closed THEN created + ((n * 13) % 160 + 2) * interval '1 hour' END,
        5, '', '3.0', '', 1
    FROM bench_case
    """,
    # the departments a case involves: grade 2 one (dispatched), a whistle 2 or 3 (summoned)
    """
    CREATE TEMP TABLE bench_involved AS
    SELECT c.n, s.i, d.unit_id AS dept, d.code
    FROM bench_case c
    CROSS JOIN LATERAL generate_series(0, CASE c.grade WHEN 1 THEN -1 WHEN 2 THEN 0 ELSE c.summoned - 1 END) AS s(i)
    JOIN bench_dept d ON d.i = (c.n + s.i * 5) % (SELECT count(*) FROM bench_dept)
    """,
    # the case's path (grid, community, street, district) and the departments involved
    """
    INSERT INTO case_units (case_id, unit_id, depth)
    SELECT n, grid_id, 0 FROM bench_case UNION ALL SELECT n, community_id, 1 FROM bench_case
    UNION ALL SELECT n, street_id, 2 FROM bench_case UNION ALL SELECT n, :district, 3 FROM bench_case
    UNION ALL SELECT n, dept, NULL FROM bench_involved
    """,
    # report-ins: summoned an hour after the report, 24 h to report in; 97 % report in, after 0–29 h
    """
    INSERT INTO report_ins (case_id, department_id, duty, summoned_at, due_at, reported_at, on_time)
    SELECT r.n, r.dept, CASE WHEN r.i = 0 THEN 'lead' ELSE 'cooperating' END, r.summoned,
           r.summoned + interval '24 hours', r.reported,
           r.reported IS NOT NULL AND r.reported <= r.summoned + interval '24 hours'
    FROM (SELECT v.n, v.i, v.dept, c.created + interval '1 hour' AS summoned,
                 CASE WHEN (v.n * 3 + v.i) % 100 < 97
                      THEN c.created + interval '1 hour' + ((v.n * 7 + v.i * 11) % 30) * interval '1 hour'
                         + ((v.n * 11) % 60) * interval '1 minute' END AS reported
          FROM bench_involved v JOIN bench_case c USING (n) WHERE c.grade = 3) AS r
    """,
    # tasks: a triage task per case, a handling task per department involved (limit 72 h; done after
    # 1–89 h, so ~20 % late; open while the case is), a verification task per closed case
    """
    INSERT INTO tasks (case_id, engine_task_id, task_type, title, stage, role, unit_id, form, context, status,
                       due_at, created_at, completed_at)
    SELECT n, md5('t' || n), 'triage', '分拨', 'triage', 'platform_operator', :district, 'triage', '{}'::json,
           'completed', created + interval '2 hours', created, created + interval '20 minutes'
    FROM bench_case
    UNION ALL
    SELECT v.n, md5('h' || v.n || '-' || v.i), 'handle', '办理', 'handling', 'dept_staff', v.dept, 'handle', '{}'::json,
           CASE WHEN c.closed THEN 'completed' ELSE 'open' END, c.created + interval '72 hours', c.created,
           CASE WHEN c.closed THEN c.created + ((v.n * 19 + v.i) % 89 + 1) * interval '1 hour' END
    FROM bench_involved v JOIN bench_case c USING (n)
    UNION ALL
    SELECT n, md5('v' || n), 'verify', '核查', 'verification', 'platform_operator', street_id, 'verify', '{}'::json,
           'completed', created + interval '5 days', created, created + interval '100 hours'
    FROM bench_case WHERE closed AND grade > 1
    """,
    # events: filed, triaged, dispatched (grade 2) or whistle started (grade 3), each department's
    # handling completed (5 % of grade-2 dispatches sent back), closed; no hash chain (empty digests,
    # typed in the first branch so that the union's are bytea too)
    """
    INSERT INTO events (case_id, seq, type, actor, unit_id, data, created_at, prev_hash, hash)
    SELECT n, 1, 'case_filed', 'bench', grid_id, '{}'::json, created, ''::bytea, ''::bytea FROM bench_case
    UNION ALL
    SELECT n, 2, 'task_completed', 'bench', :district, '{"task": "triage", "form": {"grade": 2}}'::json,
           created + interval '20 minutes', '', '' FROM bench_case
    UNION ALL
    SELECT v.n, 10 + v.i, CASE WHEN c.grade = 2 THEN 'dispatched' ELSE 'report_in_summoned' END, 'bench', v.dept,
           json_build_object('department', v.code), c.created + interval '1 hour', '', ''
    FROM bench_involved v JOIN bench_case c USING (n)
    UNION ALL
    SELECT n, 4, 'whistle_started', 'bench', community_id, '{}'::json, created + interval '30 minutes', '', ''
    FROM bench_case WHERE grade = 3
    UNION ALL
    SELECT v.n, 20 + v.i, 'task_completed', 'bench', v.dept,
           json_build_object('task', 'handle', 'form', json_build_object('action',
               CASE WHEN c.grade = 2 AND (v.n * 23) % 100 < 5 THEN 'returned' ELSE 'done' END)),
           c.created + ((v.n * 19 + v.i) % 89 + 1) * interval '1 hour', '', ''
    FROM bench_involved v JOIN bench_case c USING (n) WHERE c.closed
    UNION ALL
    SELECT n, 30, 'case_closed', 'bench', street_id, '{"outcome": "closed"}'::json,
           created + ((n * 13) % 160 + 2) * interval '1 hour', '', ''
    FROM bench_case WHERE closed
    """,
    # 一哨一考: each department of a closed whistle rated 3–5 on the four items
    """
    INSERT INTO evaluations (case_id, department_id, efficiency, cooperation, professionalism, responsibility,
                             score, comment, created_at)
    SELECT v.n, v.dept, 3 + v.n % 3, 3 + (v.n + v.i) % 3, 3 + (v.n * 7) % 3, 5 - v.i % 2,
           round(((3 + v.n % 3) + (3 + (v.n + v.i) % 3) + (3 + (v.n * 7) % 3) + (5 - v.i % 2)) / 4.0, 2), '',
           c.created + ((v.n * 13) % 160 + 3) * interval '1 hour'
    FROM bench_involved v JOIN bench_case c USING (n) WHERE c.grade = 3 AND c.closed
    """,
    # 督办: an entry for each handling task past its limit (struck off once done late)
    """
    INSERT INTO supervision_entries (case_id, task_id, unit_id, task_type, stage, due_at, opened_at, status,
                                     closed_at, late_minutes)
    SELECT t.case_id, t.id, t.unit_id, t.task_type, t.stage, t.due_at, t.due_at,
           CASE WHEN t.completed_at IS NULL THEN 'open' ELSE 'cleared' END, t.completed_at,
           (EXTRACT(EPOCH FROM t.completed_at - t.due_at) / 60)::int
    FROM tasks t WHERE t.stage = 'handling' AND (t.completed_at > t.due_at OR t.completed_at IS NULL)
    """,
    "SELECT setval(pg_get_serial_sequence('cases', 'id'), (SELECT max(id) FROM cases))",
]


def fill(session: Session, months: int, per_month: int) -> None:
    """The generated rows (see SHAPE and FILL): ``months`` months of ``per_month`` cases from January.
    The rows are consistent by construction, so the foreign-key triggers are off for the load (one
    per row would make it minutes slower): ``session_replication_role = replica``, this transaction only."""
    session.execute(text("SET LOCAL session_replication_role = replica"))
    session.execute(text("""
        CREATE TEMP TABLE bench_grid AS
        SELECT (row_number() OVER (ORDER BY g.code)) - 1 AS i, g.id AS grid_id, c.id AS community_id,
               s.id AS street_id
        FROM units g JOIN units c ON c.id = g.parent_id JOIN units s ON s.id = c.parent_id WHERE g.kind = 'grid'
    """))
    session.execute(text("""
        CREATE TEMP TABLE bench_dept AS
        SELECT (row_number() OVER (ORDER BY code)) - 1 AS i, id AS unit_id, code FROM units
        WHERE kind = 'department'
    """))
    ids = dict(session.execute(text("SELECT 'district', id FROM units WHERE kind = 'district' UNION ALL "
                                    "SELECT 'version', max(id) FROM process_versions")).all())
    session.execute(text(SHAPE), {"per": per_month, "year": YEAR, "total": months * per_month})
    session.execute(text("CREATE UNIQUE INDEX ON bench_case (n)"))
    for statement in FILL:
        session.execute(text(statement), ids)


def table(f: Figures) -> str:
    lines = [f"{f.months} months × {f.cases_per_month:,} cases: filled in {f.fill_s:.1f} s; rows: "
             + ", ".join(f"{t} {n:,}" for t, n in f.rows.items()), "",
             "| what | cold | warm (median) | goal |", "|---|---:|---:|---:|"]
    for probe in probes(f.months):
        goal = f"≤ {probe.goal_ms / 1000:g} s" if probe.goal_ms else "—"
        lines.append(f"| {probe.name} | {f.cold_ms[probe.name]:,.0f} ms | {f.warm_ms[probe.name]:,.0f} ms | {goal} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--months", type=int, default=12, help="months generated from January (1–12)")
    parser.add_argument("--cases-per-month", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3, help="warm requests per page (median)")
    parser.add_argument("--database-url", default=PG_URL, help="a PostgreSQL server to create the database on")
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    parser.add_argument("--warm", action="store_true", help="warm the app first as `serve` warms its master")
    parser.add_argument("--measure", metavar="URL", help="only time the pages on a database a --keep run filled "
                        "(give the same --months and --cases-per-month)")
    args = parser.parse_args()
    if not 1 <= args.months <= 12 or args.cases_per_month < 1:
        parser.error("--months 1 to 12, --cases-per-month at least 1")
    if args.measure:
        run_migrations(args.measure)  # indexes added since it was filled
        print(table(measure(args.measure, args.months, args.cases_per_month, args.repeat, warmed=args.warm)))
        return
    if args.keep:
        url = make_url(args.database_url).set(database=f"whistle_scale_bench_{int(time.time())}")
        _create(args.database_url, url.database or "")
        print(f"database kept: {url.render_as_string(hide_password=False)}")
        print(table(run(url.render_as_string(hide_password=False), args.months, args.cases_per_month, args.repeat,
                        args.warm)))
        return
    with temporary_postgres_database(args.database_url, "whistle_scale_bench") as url:
        print(table(run(url, args.months, args.cases_per_month, args.repeat, args.warm)))


def _create(base: str, name: str) -> None:
    admin = create_engine(make_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


if __name__ == "__main__":
    main()
